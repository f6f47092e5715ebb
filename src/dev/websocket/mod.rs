//! WebSockets in `dev`, as Workers have them: the guest's `WebSocketPair`,
//! `accept()`, `send`, `close` and the Durable Object hibernation API are
//! `ws.*` host ops on a registry of sockets kept here; the HTTP server
//! upgrades a connection when the Worker answers 101 with a socket, and a
//! pump task per connection moves frames both ways (tokio-tungstenite does the
//! framing). Incoming frames become `websocket` events: for a hibernatable
//! socket on the Durable Object (rebuilt from its constructor if it was
//! evicted), otherwise on the instance that accepted it, which stays pinned
//! while it owns open sockets.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::bindings::{OpError, OpResult, Reply};
use super::pool::Generation;

mod connect;
mod pump;

pub use pump::{pump, server_config};

/// Env var: how long a Durable Object whose sockets are all hibernatable
/// stays in memory after its last event, in milliseconds (default 10 s, as
/// on Cloudflare); `0` evicts it after every event, which tests use.
pub const HIBERNATE_AFTER_ENV: &str = "PYWRANGLER_DEV_HIBERNATE_AFTER_MS";

/// Largest incoming message (workerd's default, 32 MiB).
const MAX_MESSAGE: usize = 32 << 20;
/// Most tags on one hibernatable socket, and longest tag (workerd).
const MAX_TAGS: usize = 10;
const MAX_TAG_LEN: usize = 256;
/// Largest serialized attachment (workerd's `MAX_ATTACHMENT_SIZE`).
const MAX_ATTACHMENT: usize = 16 * 1024;
/// Longest close reason in UTF-8 bytes (RFC 6455's 125 minus the code).
const MAX_REASON: usize = 123;

/// Who receives a socket's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Not accepted yet.
    None,
    /// The plain (request) instance with this id.
    Instance(u64),
    /// A Durable Object; `hibernatable` when accepted with `ctx.acceptWebSocket`.
    Object {
        class: String,
        id: String,
        hibernatable: bool,
    },
}

/// The instance making a `ws.*` host call.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The instance's id in its generation.
    pub instance: u64,
    /// The Durable Object (class, id) it is serving, if any.
    pub object: Option<(String, String)>,
}

/// A frame for the peer.
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
}

struct Socket {
    owner: Owner,
    tags: Vec<String>,
    attachment: Option<Vec<u8>>,
    out: mpsc::UnboundedSender<Out>,
    /// Taken by the connection's pump when it starts.
    pending: Option<mpsc::UnboundedReceiver<Out>>,
    /// `close()` was called here.
    closed_here: bool,
    /// The connection is gone (close event delivered).
    finished: bool,
    /// From `new WebSocket()` (may not be accepted or returned).
    outbound: bool,
    auto_response_at: Option<f64>,
    /// Events not yet run by the owner: (arrival order, header, body).
    inbox: VecDeque<(u64, Value, Vec<u8>)>,
}

/// Per-object hibernation settings.
#[derive(Default)]
struct ObjectState {
    auto_response: Option<(String, String)>,
    event_timeout: Option<f64>,
}

#[derive(Default)]
struct State {
    sockets: HashMap<u64, Socket>,
    objects: HashMap<(String, String), ObjectState>,
}

/// The open sockets of one generation of the Worker.
pub struct Sockets {
    state: Mutex<State>,
    /// Signalled when an event arrives (for `ws.poll`).
    arrived: Condvar,
    next: AtomicU64,
    seq: AtomicU64,
    generation: OnceLock<Weak<Generation>>,
    runtime: Option<tokio::runtime::Handle>,
    /// See [`HIBERNATE_AFTER_ENV`].
    pub hibernate_after: Duration,
}

impl Sockets {
    /// An empty registry; reads [`HIBERNATE_AFTER_ENV`].
    pub fn new() -> Sockets {
        let hibernate_after = match std::env::var(HIBERNATE_AFTER_ENV) {
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => {
                    crate::printer::warn(format!(
                        "${HIBERNATE_AFTER_ENV} is `{v}`, not a number of milliseconds; using 10000"
                    ));
                    Duration::from_secs(10)
                }
            },
            Err(_) => Duration::from_secs(10),
        };
        Sockets {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            next: AtomicU64::new(1),
            seq: AtomicU64::new(0),
            generation: OnceLock::new(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            hibernate_after,
        }
    }

    /// Connect the registry to the generation whose instances own its sockets.
    pub fn set_generation(&self, generation: Weak<Generation>) {
        let _ = self.generation.set(generation);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, owner: Owner, outbound: bool) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().sockets.insert(
            id,
            Socket {
                owner,
                tags: Vec::new(),
                attachment: None,
                out: tx,
                pending: Some(rx),
                closed_here: false,
                finished: false,
                outbound,
                auto_response_at: None,
                inbox: VecDeque::new(),
            },
        );
        id
    }

    fn owner_of(&self, id: u64) -> Owner {
        self.lock()
            .sockets
            .get(&id)
            .map_or(Owner::None, |s| s.owner.clone())
    }

    fn has_pending(&self, owner: &Owner) -> bool {
        self.lock()
            .sockets
            .values()
            .any(|s| s.owner == *owner && !s.inbox.is_empty())
    }

    /// Whether plain instance `instance` owns open sockets (and must stay pinned).
    pub fn instance_has_sockets(&self, instance: u64) -> bool {
        self.lock()
            .sockets
            .values()
            .any(|s| !s.finished && s.owner == Owner::Instance(instance))
    }

    /// Whether Durable Object (class, id) has open sockets that are not
    /// hibernatable (then it must not be evicted).
    pub fn object_has_plain_sockets(&self, class: &str, id: &str) -> bool {
        self.lock().sockets.values().any(|s| {
            !s.finished
                && matches!(&s.owner, Owner::Object { class: c, id: i, hibernatable: false } if c == class && i == id)
        })
    }

    /// Close every socket owned by a plain instance that is gone.
    pub fn instance_lost(&self, instance: u64) {
        for s in self.lock().sockets.values_mut() {
            if s.owner == Owner::Instance(instance) && !s.finished {
                let _ = s
                    .out
                    .send(Out::Close(1011, "The Worker's instance failed".into()));
                s.closed_here = true;
            }
        }
    }

    /// Close every socket (the Worker was reloaded): 1012, service restart.
    pub fn close_all(&self) {
        for s in self.lock().sockets.values_mut() {
            if !s.finished {
                let _ = s
                    .out
                    .send(Out::Close(1012, "The Worker was reloaded".into()));
                s.closed_here = true;
            }
        }
    }

    /// The outgoing queue of socket `id`, for the connection that a 101
    /// response attaches to it; `None` when it is unknown or already in use.
    pub fn take_for_response(&self, id: u64) -> Result<Receiver, String> {
        let mut st = self.lock();
        let s = st
            .sockets
            .get_mut(&id)
            .ok_or_else(|| "the WebSocket in the 101 response is unknown".to_string())?;
        if s.outbound {
            return Err("Can't return WebSocket that was created with the WebSocket constructor in a Response.".into());
        }
        s.pending
            .take()
            .map(Receiver)
            .ok_or_else(|| "the WebSocket in the 101 response is already connected".to_string())
    }

    fn socket(st: &mut State, id: u64) -> OpResult<&mut Socket> {
        st.sockets
            .get_mut(&id)
            .ok_or_else(|| OpError::invalid(format!("unknown WebSocket {id}")))
    }

    /// Queue an event for socket `id`'s owner; returns the owner.
    fn push(&self, id: u64, header: Value, body: Vec<u8>) -> Option<Owner> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let s = st.sockets.get_mut(&id)?;
        if s.owner == Owner::None {
            // Nobody accepted the server end: nothing could ever run it.
            return Some(Owner::None);
        }
        s.inbox.push_back((seq, header, body));
        let owner = s.owner.clone();
        drop(st);
        self.arrived.notify_all();
        Some(owner)
    }

    /// The oldest queued event for `owner`. A close event marks its socket
    /// finished (no longer listed); [`Sockets::forget_finished`] drops it
    /// once the event has run.
    fn pop(&self, owner: &Owner) -> Option<(Value, Vec<u8>)> {
        let mut st = self.lock();
        Self::pop_locked(&mut st, owner)
    }

    fn pop_locked(st: &mut State, owner: &Owner) -> Option<(Value, Vec<u8>)> {
        let (_, s) = st
            .sockets
            .iter_mut()
            .filter(|(_, s)| s.owner == *owner && !s.inbox.is_empty())
            .min_by_key(|(_, s)| s.inbox.front().map(|e| e.0))?;
        let (_, header, body) = s.inbox.pop_front()?;
        if header["event"] == "close" {
            s.finished = true;
        }
        Some((header, body))
    }

    /// Drop finished sockets whose events have all run.
    fn forget_finished(&self) {
        self.lock()
            .sockets
            .retain(|_, s| !(s.finished && s.inbox.is_empty()));
    }

    /// `ws.poll`: a guest whose handler awaits a socket's event while it runs
    /// takes that event here (waiting up to `timeout` or the call's deadline).
    fn poll(&self, caller: &Caller, args: &Value, deadline: Option<Instant>) -> OpResult<Reply> {
        let owner = match &caller.object {
            Some((class, id)) => Owner::Object {
                class: class.clone(),
                id: id.clone(),
                hibernatable: false,
            },
            None => Owner::Instance(caller.instance),
        };
        let cap = Instant::now() + Duration::from_secs(60);
        let mut until = deadline.map_or(cap, |d| d.min(cap));
        if let Some(ms) = args.get("timeout_ms").and_then(Value::as_f64) {
            until = until.min(Instant::now() + Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        }
        let mut st = self.lock();
        loop {
            if let Some((header, body)) = Self::pop_locked(&mut st, &owner) {
                return Ok(Reply::with_body(header, body));
            }
            let open = st.sockets.values().any(|s| s.owner == owner && !s.finished);
            let now = Instant::now();
            if !open || now >= until {
                return Ok(Reply::null());
            }
            st = self
                .arrived
                .wait_timeout(st, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Serve one `ws.*` host op for `caller` (`deadline`: the calling
    /// event's wall-clock limit).
    pub fn host_op(
        &self,
        caller: &Caller,
        op: &str,
        args: &Value,
        body: Vec<u8>,
        deadline: Option<Instant>,
    ) -> OpResult<Reply> {
        let sock = || {
            args.get("socket")
                .and_then(Value::as_u64)
                .ok_or_else(|| OpError::invalid(format!("{op} needs `socket`")))
        };
        let object = || {
            caller.object.clone().ok_or_else(|| {
                OpError::failed(
                    "the WebSocket hibernation API is only available in Durable Objects",
                )
            })
        };
        match op {
            "ws.pair" => Ok(Reply::value(
                json!({"socket": self.add(Owner::None, false)}),
            )),
            "ws.accept" => {
                let id = sock()?;
                let hibernate = args
                    .get("hibernate")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let tags = tags_arg(args)?;
                let owner = match (&caller.object, hibernate) {
                    (Some((class, oid)), h) => Owner::Object {
                        class: class.clone(),
                        id: oid.clone(),
                        hibernatable: h,
                    },
                    (None, false) => Owner::Instance(caller.instance),
                    (None, true) => {
                        return Err(OpError::failed(
                            "acceptWebSocket() is only available on a Durable Object's ctx",
                        ));
                    }
                };
                let mut st = self.lock();
                let s = Self::socket(&mut st, id)?;
                if s.outbound {
                    return Err(OpError::failed(
                        "Websockets obtained from the 'new WebSocket()' constructor cannot call accept",
                    ));
                }
                match &s.owner {
                    Owner::None => {}
                    Owner::Object {
                        hibernatable: true, ..
                    } if !hibernate => {
                        return Err(OpError::failed(
                            "Can't accept() WebSocket after enabling hibernation.",
                        ));
                    }
                    _ if hibernate => {
                        return Err(OpError::failed(
                            "Can't call acceptWebSocket() on a WebSocket that was already accepted.",
                        ));
                    }
                    _ => return Ok(Reply::null()),
                }
                s.owner = owner;
                s.tags = tags;
                Ok(Reply::null())
            }
            "ws.send" => {
                let id = sock()?;
                let binary = args.get("binary").and_then(Value::as_bool).unwrap_or(false);
                let mut st = self.lock();
                let s = Self::socket(&mut st, id)?;
                if s.owner == Owner::None {
                    return Err(OpError::failed(
                        "You must call one of accept() or state.acceptWebSocket() on this WebSocket before sending messages.",
                    ));
                }
                if s.closed_here {
                    return Err(OpError::failed(
                        "Can't call WebSocket send() after close().",
                    ));
                }
                let frame = if binary {
                    Out::Binary(body)
                } else {
                    Out::Text(
                        String::from_utf8(body)
                            .map_err(|_| OpError::invalid("text message is not UTF-8"))?,
                    )
                };
                // A peer that is gone drops the frame, as a send racing a
                // disconnect does on Cloudflare.
                let _ = s.out.send(frame);
                Ok(Reply::null())
            }
            "ws.close" => {
                let id = sock()?;
                let code = args.get("code").and_then(Value::as_u64).unwrap_or(1000);
                let reason = args
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if !(code == 1000 || (3000..=4999).contains(&code)) {
                    return Err(OpError::invalid(format!(
                        "The code must be either 1000, or between 3000 and 4999. {code} is neither."
                    )));
                }
                if reason.len() > MAX_REASON {
                    return Err(OpError::invalid(format!(
                        "The close reason must be at most {MAX_REASON} bytes of UTF-8."
                    )));
                }
                let mut st = self.lock();
                let s = Self::socket(&mut st, id)?;
                if !s.closed_here && !s.finished {
                    s.closed_here = true;
                    let _ = s.out.send(Out::Close(code as u16, reason));
                }
                Ok(Reply::null())
            }
            "ws.list" => {
                let (class, oid) = object()?;
                let tag = args.get("tag").and_then(Value::as_str);
                let st = self.lock();
                let mut ids: Vec<u64> = st
                    .sockets
                    .iter()
                    .filter(|(_, s)| {
                        !s.finished
                            && matches!(&s.owner, Owner::Object { class: c, id: i, hibernatable: true } if *c == class && *i == oid)
                            && tag.is_none_or(|t| s.tags.iter().any(|x| x == t))
                    })
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                Ok(Reply::value(json!({"sockets": ids})))
            }
            "ws.tags" => {
                let id = sock()?;
                let mut st = self.lock();
                let s = Self::socket(&mut st, id)?;
                if !matches!(
                    s.owner,
                    Owner::Object {
                        hibernatable: true,
                        ..
                    }
                ) {
                    return Err(OpError::invalid(
                        "getTags() can only be called on WebSockets accepted with acceptWebSocket()",
                    ));
                }
                Ok(Reply::value(json!({"tags": s.tags})))
            }
            "ws.attach" => {
                let id = sock()?;
                if body.len() > MAX_ATTACHMENT {
                    return Err(OpError::failed(format!(
                        "A WebSocket 'serializeAttachment()' value cannot be larger than {MAX_ATTACHMENT} bytes"
                    )));
                }
                let mut st = self.lock();
                Self::socket(&mut st, id)?.attachment = Some(body);
                Ok(Reply::null())
            }
            "ws.attachment" => {
                let id = sock()?;
                let mut st = self.lock();
                let s = Self::socket(&mut st, id)?;
                Ok(match &s.attachment {
                    Some(b) => Reply::with_body(json!({"present": true}), b.clone()),
                    None => Reply::value(json!({"present": false})),
                })
            }
            "ws.auto.set" => {
                let key = object()?;
                let pair = match (args.get("request"), args.get("response")) {
                    (Some(Value::String(q)), Some(Value::String(a))) => {
                        Some((q.clone(), a.clone()))
                    }
                    _ => None,
                };
                self.lock().objects.entry(key).or_default().auto_response = pair;
                Ok(Reply::null())
            }
            "ws.auto.get" => {
                let key = object()?;
                let st = self.lock();
                Ok(Reply::value(
                    match st.objects.get(&key).and_then(|o| o.auto_response.as_ref()) {
                        Some((q, a)) => json!({"request": q, "response": a}),
                        None => Value::Null,
                    },
                ))
            }
            "ws.auto.time" => {
                let id = sock()?;
                let mut st = self.lock();
                Ok(Reply::value(
                    json!({"time": Self::socket(&mut st, id)?.auto_response_at}),
                ))
            }
            "ws.timeout.set" => {
                let key = object()?;
                let ms = args.get("ms").and_then(Value::as_f64);
                self.lock().objects.entry(key).or_default().event_timeout = ms;
                Ok(Reply::null())
            }
            "ws.timeout.get" => {
                let key = object()?;
                let st = self.lock();
                Ok(Reply::value(
                    json!({"ms": st.objects.get(&key).and_then(|o| o.event_timeout)}),
                ))
            }
            "ws.connect" => self.connect(caller, args),
            "ws.poll" => self.poll(caller, args, deadline),
            other => Err(OpError::UnknownOp(other.to_string())),
        }
    }

    /// What to do with an incoming text message: `Some(reply)` when the
    /// object's auto-response answers it without waking the object.
    fn auto_response(&self, id: u64, text: &str) -> Option<String> {
        let mut st = self.lock();
        let key = match &st.sockets.get(&id)?.owner {
            Owner::Object {
                class,
                id,
                hibernatable: true,
            } => (class.clone(), id.clone()),
            _ => return None,
        };
        let (q, a) = st.objects.get(&key)?.auto_response.clone()?;
        if q != text {
            return None;
        }
        let s = st.sockets.get_mut(&id)?;
        s.auto_response_at = Some(super::bindings::sqlite::now_ms() as f64);
        let _ = s.out.send(Out::Text(a.clone()));
        Some(a)
    }

    /// The connection of socket `id` ended: a socket nobody accepted is dropped.
    fn pump_ended(&self, id: u64) {
        let mut st = self.lock();
        if st.sockets.get(&id).is_some_and(|s| s.owner == Owner::None) {
            st.sockets.remove(&id);
        }
    }
}

impl Default for Sockets {
    fn default() -> Self {
        Sockets::new()
    }
}

/// A socket's outgoing frames, handed to its connection.
pub struct Receiver(mpsc::UnboundedReceiver<Out>);

fn tags_arg(args: &Value) -> OpResult<Vec<String>> {
    let tags: Vec<String> = match args.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| match t {
                Value::String(s) => Ok(s.clone()),
                _ => Err(OpError::invalid("acceptWebSocket(): tags must be strings")),
            })
            .collect::<OpResult<_>>()?,
        Some(_) => {
            return Err(OpError::invalid(
                "acceptWebSocket(): tags must be an array of strings",
            ));
        }
    };
    if tags.len() > MAX_TAGS {
        return Err(OpError::failed(format!(
            "a WebSocket cannot have more than {MAX_TAGS} tags, got {}",
            tags.len()
        )));
    }
    if let Some(t) = tags.iter().find(|t| t.len() > MAX_TAG_LEN) {
        return Err(OpError::failed(format!(
            "a WebSocket tag can be at most {MAX_TAG_LEN} characters, `{}…` is {}",
            t.chars().take(16).collect::<String>(),
            t.len()
        )));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests;
