//! Warm instances of one build ("generation") of the Worker. Requests take a
//! free restored instance or restore a new one (bounded); each event runs on
//! a blocking OS thread, since guest code blocks. Durable Objects get one
//! instance per (class, id), so their in-memory state survives between calls,
//! and calls to the same object are serialised.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::ThreadId;
use std::time::Duration;

use pywrangler_runtime::{
    HostHandler, HostReply, Instance, InstanceOptions, InvokeError, LogLine, Snapshot,
};
use serde_json::{Value, json};

use super::bindings::{self, LocalBindings, OpError, OpResult, Reply, RpcCall, WorkerDispatch};
use super::settings::WorkerSettings;
use super::websocket::{Caller, Sockets};
use super::worker_loader::WorkerLoaders;

/// Most request instances alive at once per generation.
pub const MAX_REQUEST_INSTANCES: usize = 8;
/// Most Durable Object instances kept warm at once.
const MAX_LIVE_OBJECTS: usize = 16;

/// An instance plus the label its output lines are prefixed with.
struct Pooled {
    inst: Instance,
    /// Id of this instance in its generation (owner of plain WebSockets).
    iid: u64,
    label: Arc<Mutex<String>>,
    serving: Serving,
}

/// The Durable Object (class, id) an instance is running, if any.
type Serving = Arc<Mutex<Option<(String, String)>>>;

/// Why an event produced no result.
#[derive(Debug)]
pub enum EventError {
    /// The runtime reported a failure (Python exception, limit, trap).
    Invoke(InvokeError),
    /// The blocking thread running the event panicked or was cancelled.
    Lost(String),
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::Invoke(e) => write!(f, "{e}"),
            EventError::Lost(why) => write!(f, "the worker thread was lost: {why}"),
        }
    }
}

/// Bridges the runtime's `HostHandler` to the local bindings (and, for
/// `ws.*` ops, to the generation's WebSockets, naming the calling instance).
struct Handler(
    Arc<LocalBindings>,
    Serving,
    Arc<Sockets>,
    u64,
    Option<Arc<WorkerLoaders>>,
);

impl HostHandler for Handler {
    /// A Durable Object calling itself through its own stub runs as a nested
    /// event in the same instance (as on Cloudflare, where the call is
    /// delivered to the object while the caller awaits it); every other op
    /// goes to [`Handler::call`].
    fn call_reentrant(
        &self,
        header: Value,
        body: Vec<u8>,
        guest: &mut pywrangler_runtime::Reentry<'_, '_>,
    ) -> HostReply {
        // SQL run for this call stops when the event's time is up.
        let _deadline = bindings::sql_guard::RequestDeadline::enter(guest.wall_deadline());
        if header["op"]
            .as_str()
            .is_some_and(|op| op.starts_with(super::htmlrewriter::OP_PREFIX))
        {
            return super::htmlrewriter::host_op(&header, body, guest);
        }
        let own = lock(&self.1).clone().is_some_and(|(class, id)| {
            let args = &header["args"];
            header["op"] == "do.call"
                && args["class"].as_str() == Some(class.as_str())
                && args["id"]
                    .as_str()
                    .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        });
        if !own {
            return self.call_until(header, body, Some(guest.deadline()));
        }
        let Some(call) = bindings::durable_call(&header, body) else {
            return HostReply::error("Error", "malformed do.call");
        };
        let _depth = match bindings::CallDepth::enter() {
            Ok(d) => d,
            Err(e) => return HostReply::error(e.py_type(), e.to_string()),
        };
        let is_fetch = call.method == "fetch";
        match guest.invoke(&rpc_envelope(&call), &call.body) {
            Ok((reply, body)) => {
                let Reply { value, body } = rpc_reply(is_fetch, &reply, body);
                HostReply::ok_with_body(value, body)
            }
            Err(e) => {
                let e = invoke_to_op(e);
                HostReply::error(e.py_type(), e.to_string())
            }
        }
    }

    fn call(&self, header: Value, body: Vec<u8>) -> HostReply {
        self.call_until(header, body, None)
    }
}

impl Handler {
    fn call_until(
        &self,
        header: Value,
        body: Vec<u8>,
        deadline: Option<std::time::Instant>,
    ) -> HostReply {
        if header.get("op").and_then(Value::as_str) == Some("request.read") {
            let args = header.get("args").cloned().unwrap_or(Value::Null);
            return match super::request_body::host_read(&args) {
                Ok((done, chunk)) => HostReply::ok_with_body(json!({"done": done}), chunk),
                Err(e) => HostReply::error("Error", e),
            };
        }
        if let Some(op) = header.get("op").and_then(Value::as_str)
            && op.starts_with("ws.")
        {
            let caller = Caller {
                instance: self.3,
                object: lock(&self.1).clone(),
            };
            let args = header.get("args").cloned().unwrap_or(Value::Null);
            return match self.2.host_op(&caller, op, &args, body, deadline) {
                Ok(Reply { value, body }) => HostReply::ok_with_body(value, body),
                Err(e) => HostReply::error(e.py_type(), e.to_string()),
            };
        }
        if let Some(loaders) = &self.4
            && header
                .get("op")
                .and_then(Value::as_str)
                .is_some_and(|op| op.starts_with(super::worker_loader::OP_PREFIX))
        {
            return loaders.host_op(&header, body);
        }
        if let Some(op @ ("response.start" | "response.write")) =
            header.get("op").and_then(Value::as_str)
        {
            let args = header.get("args").cloned().unwrap_or(Value::Null);
            return match super::stream::host_op(op, &args, body) {
                Ok(()) => HostReply::ok_with_body(Value::Null, Vec::new()),
                Err(e) => HostReply::error("Error", e),
            };
        }
        match self.0.call(&header, body, deadline) {
            Ok(Reply { value, body }) => HostReply::ok_with_body(value, body),
            Err(e) => HostReply::error(e.py_type(), e.to_string()),
        }
    }
}

/// One build of the Worker: its snapshot, bindings and warm instances.
pub struct Generation {
    /// The settings it was built from.
    pub settings: Arc<WorkerSettings>,
    /// Its bindings.
    pub bindings: Arc<LocalBindings>,
    snapshot: Snapshot,
    idle: Mutex<Vec<Pooled>>,
    permits: Arc<tokio::sync::Semaphore>,
    objects: Mutex<HashMap<(String, String), Arc<ObjectSlot>>>,
    retired: AtomicBool,
    clock: AtomicU64,
    /// The WebSockets this generation's instances own.
    pub sockets: Arc<Sockets>,
    /// Plain instances kept out of the pool while they own open WebSockets.
    pinned: Mutex<HashMap<u64, Arc<Mutex<Option<Pooled>>>>>,
    pinned_changed: Condvar,
    next_instance: AtomicU64,
    /// Dynamic workers (`worker_loaders[]`), when the Worker declares a loader.
    loaders: OnceLock<Arc<WorkerLoaders>>,
}

/// The single instance of one Durable Object.
struct ObjectSlot {
    inst: Mutex<Option<Pooled>>,
    owner: Mutex<Option<ThreadId>>,
    last_used: AtomicU64,
}

impl Generation {
    /// Wrap a built snapshot; connects the bindings' RPC back to it.
    pub fn new(
        settings: Arc<WorkerSettings>,
        bindings: Arc<LocalBindings>,
        snapshot: Snapshot,
    ) -> Arc<Generation> {
        let generation = Arc::new(Generation {
            settings,
            bindings: bindings.clone(),
            snapshot,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_REQUEST_INSTANCES)),
            objects: Mutex::new(HashMap::new()),
            retired: AtomicBool::new(false),
            clock: AtomicU64::new(0),
            sockets: Arc::new(Sockets::new()),
            pinned: Mutex::new(HashMap::new()),
            pinned_changed: Condvar::new(),
            next_instance: AtomicU64::new(1),
            loaders: OnceLock::new(),
        });
        bindings.set_dispatch(Arc::new(Dispatch(Arc::downgrade(&generation))));
        generation
            .sockets
            .set_generation(Arc::downgrade(&generation));
        generation
    }

    /// Serve `loader.*` ops with `loaders` (set before the first request).
    pub fn set_worker_loaders(&self, loaders: WorkerLoaders) {
        let _ = self.loaders.set(Arc::new(loaders));
    }

    /// Stop reusing instances (a newer generation took over); in-flight
    /// events finish, then their instances are dropped.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        lock(&self.idle).clear();
        lock(&self.objects).clear();
        self.sockets.close_all();
        lock(&self.pinned).clear();
        self.pinned_changed.notify_all();
    }

    fn restore(&self) -> Result<Pooled, InvokeError> {
        let label = Arc::new(Mutex::new(String::new()));
        let serving: Serving = Arc::new(Mutex::new(None));
        let iid = self.next_instance.fetch_add(1, Ordering::SeqCst);
        let mut options = InstanceOptions::new(Arc::new(Handler(
            self.bindings.clone(),
            serving.clone(),
            self.sockets.clone(),
            iid,
            self.loaders.get().cloned(),
        )));
        options.env = self.settings.env.clone();
        options.cpu_limit = self.settings.cpu_limit;
        options.wall_limit = self.settings.wall_limit;
        options.log = log_sink(label.clone());
        let inst = self.snapshot.instantiate(options)?;
        Ok(Pooled {
            inst,
            iid,
            label,
            serving,
        })
    }

    fn give_back(&self, pooled: Pooled) {
        if pooled.inst.is_usable() && !self.retired.load(Ordering::SeqCst) {
            lock(&self.idle).push(pooled);
        }
    }

    /// Run `f` on a warm instance on a blocking thread, waiting for a free
    /// slot when [`MAX_REQUEST_INSTANCES`] are busy.
    pub async fn run<T, F>(self: &Arc<Self>, label: String, f: F) -> Result<T, EventError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Instance) -> Result<T, InvokeError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| EventError::Lost(e.to_string()))?;
        let generation = self.clone();
        let busy = super::listen::Busy::enter();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _busy = busy;
            generation.run_here(&label, f)
        })
        .await;
        match joined {
            Ok(r) => r.map_err(EventError::Invoke),
            Err(e) => Err(EventError::Lost(e.to_string())),
        }
    }

    /// Run `f` on a warm instance on the current (blocking) thread.
    pub fn run_here<T>(
        &self,
        label: &str,
        f: impl FnOnce(&mut Instance) -> Result<T, InvokeError>,
    ) -> Result<T, InvokeError> {
        let popped = lock(&self.idle).pop();
        let mut pooled = match popped {
            Some(p) => p,
            None => self.restore()?,
        };
        set_label(&pooled.label, label);
        let r = f(&mut pooled.inst);
        set_label(&pooled.label, "");
        self.give_back_or_pin(pooled);
        r
    }

    /// Return an instance to the pool, or keep it pinned while it owns open
    /// WebSockets (their events must reach the listeners in its memory).
    fn give_back_or_pin(&self, pooled: Pooled) {
        let iid = pooled.iid;
        if !self.sockets.instance_has_sockets(iid) {
            lock(&self.pinned).remove(&iid);
            self.give_back(pooled);
        } else if !pooled.inst.is_usable() || self.retired.load(Ordering::SeqCst) {
            lock(&self.pinned).remove(&iid);
            self.sockets.instance_lost(iid);
        } else {
            let mut pinned = lock(&self.pinned);
            let slot = pinned.entry(iid).or_default().clone();
            drop(pinned);
            *lock(&slot) = Some(pooled);
        }
        self.pinned_changed.notify_all();
    }

    /// Run `f` on pinned instance `iid` (the owner of a plain WebSocket),
    /// waiting while the event that accepted the socket is still running.
    pub fn run_pinned(
        &self,
        iid: u64,
        label: &str,
        f: impl FnOnce(&mut Instance) -> Result<(), InvokeError>,
    ) -> OpResult<()> {
        let deadline =
            std::time::Instant::now() + self.settings.wall_limit + Duration::from_secs(1);
        let slot = {
            let mut pinned = lock(&self.pinned);
            loop {
                if let Some(slot) = pinned.get(&iid) {
                    break slot.clone();
                }
                let now = std::time::Instant::now();
                if !self.sockets.instance_has_sockets(iid) || now >= deadline {
                    return Ok(());
                }
                pinned = self
                    .pinned_changed
                    .wait_timeout(pinned, (deadline - now).min(Duration::from_millis(100)))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        };
        let mut guard = lock(&slot);
        let Some(mut pooled) = guard.take() else {
            return Ok(());
        };
        drop(guard);
        set_label(&pooled.label, label);
        let r = f(&mut pooled.inst);
        set_label(&pooled.label, "");
        self.give_back_or_pin(pooled);
        r.map_err(invoke_to_op)
    }

    /// Evict Durable Object (class, id) once it has been idle for the
    /// hibernation delay, if by then it still has only hibernatable sockets.
    pub fn schedule_hibernation(self: &Arc<Self>, class: &str, id: &str) {
        let Some(runtime) = tokio::runtime::Handle::try_current().ok() else {
            return;
        };
        let stamp = self.clock.load(Ordering::SeqCst);
        let generation = Arc::downgrade(self);
        let key = (class.to_string(), id.to_string());
        let after = self.sockets.hibernate_after;
        runtime.spawn(async move {
            tokio::time::sleep(after).await;
            let Some(g) = generation.upgrade() else {
                return;
            };
            if g.sockets.object_has_plain_sockets(&key.0, &key.1) {
                return;
            }
            let slot = lock(&g.objects).get(&key).cloned();
            if let Some(slot) = slot
                && slot.last_used.load(Ordering::SeqCst) < stamp
                && let Ok(mut inst) = slot.inst.try_lock()
            {
                inst.take();
            }
        });
    }

    /// Run `f` on the instance of Durable Object (class, id), on this thread.
    pub fn run_object<T>(
        &self,
        class: &str,
        id: &str,
        label: &str,
        f: impl FnOnce(&mut Instance) -> Result<T, InvokeError>,
    ) -> OpResult<T> {
        self.run_object_then(class, id, label, false, f)
    }

    /// [`Generation::run_object`], then evict the object's instance when
    /// `evict` (hibernation: the next event rebuilds it from its constructor).
    pub fn run_object_then<T>(
        &self,
        class: &str,
        id: &str,
        label: &str,
        evict: bool,
        f: impl FnOnce(&mut Instance) -> Result<T, InvokeError>,
    ) -> OpResult<T> {
        let slot = {
            let mut objects = lock(&self.objects);
            objects
                .entry((class.to_string(), id.to_string()))
                .or_insert_with(|| {
                    Arc::new(ObjectSlot {
                        inst: Mutex::new(None),
                        owner: Mutex::new(None),
                        last_used: AtomicU64::new(0),
                    })
                })
                .clone()
        };
        let me = std::thread::current().id();
        if *lock(&slot.owner) == Some(me) {
            return Err(OpError::failed(format!(
                "Durable Object {class} ({id}) called itself while handling a call; re-entrant calls to the same object are not supported locally"
            )));
        }
        let mut guard = lock(&slot.inst);
        *lock(&slot.owner) = Some(me);
        slot.last_used
            .store(self.clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        let result = (|| {
            let mut pooled = match guard.take() {
                Some(p) => p,
                None => {
                    self.evict_idle_objects(&slot);
                    self.restore().map_err(invoke_to_op)?
                }
            };
            let previous = lock(&pooled.label).clone();
            set_label(&pooled.label, label);
            *lock(&pooled.serving) = Some((class.to_string(), id.to_string()));
            let r = f(&mut pooled.inst);
            *lock(&pooled.serving) = None;
            set_label(&pooled.label, &previous);
            if pooled.inst.is_usable() && !self.retired.load(Ordering::SeqCst) && !evict {
                *guard = Some(pooled);
            }
            r.map_err(invoke_to_op)
        })();
        *lock(&slot.owner) = None;
        result
    }

    /// Drop the least recently used idle objects' instances past the cap.
    fn evict_idle_objects(&self, current: &Arc<ObjectSlot>) {
        let slots: Vec<Arc<ObjectSlot>> = lock(&self.objects).values().cloned().collect();
        let mut live: Vec<(u64, Arc<ObjectSlot>)> = slots
            .into_iter()
            .filter(|s| !Arc::ptr_eq(s, current))
            .filter(|s| s.inst.try_lock().map(|g| g.is_some()).unwrap_or(true))
            .map(|s| (s.last_used.load(Ordering::SeqCst), s))
            .collect();
        if live.len() < MAX_LIVE_OBJECTS {
            return;
        }
        live.sort_by_key(|(t, _)| *t);
        let excess = live.len() + 1 - MAX_LIVE_OBJECTS;
        for (_, slot) in live.into_iter().take(excess) {
            if let Ok(mut g) = slot.inst.try_lock() {
                g.take();
            }
        }
    }
}

/// RPC from the bindings back into this generation.
struct Dispatch(Weak<Generation>);

impl WorkerDispatch for Dispatch {
    fn rpc(&self, call: RpcCall) -> OpResult<Reply> {
        let generation = self
            .0
            .upgrade()
            .ok_or_else(|| OpError::failed("the worker was reloaded during this call"))?;
        let header = rpc_envelope(&call);
        let is_fetch = call.method == "fetch";
        let body = call.body;
        let invoke = move |inst: &mut Instance| inst.invoke(&header, &body);
        let (reply, body) = match &call.id {
            Some(id) => {
                let label = format!("[{}:{}] ", call.class, &id[..8.min(id.len())]);
                generation.run_object(&call.class, id, &label, invoke)?
            }
            None => {
                let label = format!("[{}] ", call.class);
                generation.run_here(&label, invoke).map_err(invoke_to_op)?
            }
        };
        Ok(rpc_reply(is_fetch, &reply, body))
    }
}

/// The `rpc` event envelope for `call`.
pub(super) fn rpc_envelope(call: &RpcCall) -> Value {
    let mut header = json!({
        "v": 1, "kind": "rpc", "class": call.class, "id": call.id,
        "method": call.method, "args": call.args,
    });
    if let Some(req) = &call.request {
        header["request"] = req.clone();
    }
    if let Some(props) = &call.props {
        header["props"] = props.clone();
    }
    header
}

/// The binding reply for an `rpc` event's reply: fetch-shaped or `{result}`.
pub(super) fn rpc_reply(is_fetch: bool, reply: &Value, body: Vec<u8>) -> Reply {
    if is_fetch {
        let mut value = json!({"status": reply.get("status").cloned().unwrap_or(json!(200)),
                   "headers": reply.get("headers").cloned().unwrap_or(json!([]))});
        if let Some(ws) = reply.get("webSocket").filter(|w| !w.is_null()) {
            value["webSocket"] = ws.clone();
        }
        Reply::with_body(value, body)
    } else {
        Reply::value(json!({"result": reply.get("result").cloned().unwrap_or(Value::Null)}))
    }
}

fn invoke_to_op(e: InvokeError) -> OpError {
    match e {
        // An error that already came through a binding keeps its message
        // instead of gaining one `JsException: ` prefix per nested call.
        InvokeError::Python(p) if p.r#type == "JsException" && !p.message.is_empty() => {
            OpError::failed(p.message)
        }
        InvokeError::Python(p) => OpError::failed(p.to_string()),
        other => OpError::failed(other.to_string()),
    }
}

fn set_label(label: &Mutex<String>, text: &str) {
    let mut l = lock(label);
    l.clear();
    l.push_str(text);
}

/// Print the instance's lines to the terminal with the current request's label.
fn log_sink(label: Arc<Mutex<String>>) -> pywrangler_runtime::LogSink {
    Arc::new(move |line: LogLine| {
        let prefix = lock(&label).clone();
        bindings::print_log_line(&prefix, &line);
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
