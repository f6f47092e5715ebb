//! Worker loaders (`worker_loaders[]`): `env.LOADER.get(id, get_code)` and
//! `env.LOADER.load(code)` build a dynamic Python Worker from code strings.
//! Each one gets its modules written to a private temp dir, a snapshot taken
//! after its top level (cached on disk by content, like the main Worker's) and
//! its own warm instances on the same guest; the guest side is
//! `_pywrangler/worker_loader.py`, the ops are `loader.*`. Bindings the parent
//! passes in `code.env` (and a `globalOutbound` service) are the parent's own:
//! the dynamic worker's binding ops are served by the parent's local bindings.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use pywrangler_runtime::{
    HostHandler, HostReply, Instance, InstanceOptions, InvokeError, LogLine, Reentry, Runtime,
    Snapshot, SnapshotError, SnapshotSpec,
};
use serde_json::{Value, json};

use super::bindings::{self, LocalBindings, OpError, OpResult, Reply, outbound::Outbound};
use crate::config::PythonVersion;

/// Prefix of the host ops this module serves.
pub const OP_PREFIX: &str = "loader.";

/// The binding's `type` in the guest's `env`.
pub const BINDING_TYPE: &str = "worker_loader";

/// Dynamic workers kept loaded at once (least recently used dropped first);
/// each holds a snapshot and at least one instance slot of the pool.
pub const MAX_LOADED: usize = 16;

/// Idle instances kept per dynamic worker.
const MAX_IDLE: usize = 2;

/// Unread response bodies kept per dynamic worker whose `globalOutbound` is
/// a binding (the oldest is dropped first).
const MAX_UNREAD_BODIES: usize = 64;

/// What workerd's `fetch()` throws in a worker whose `globalOutbound` is null.
const NO_OUTBOUND: &str = "This worker is not permitted to access the internet via global functions like fetch(). It must use capabilities (such as bindings in 'env') to talk to the outside world.";

/// The loaded dynamic workers of one `dev` generation.
pub struct WorkerLoaders {
    runtime: Runtime,
    cache_dir: PathBuf,
    cpu_limit: Duration,
    wall_limit: Duration,
    /// The parent Worker's `env` entries, by binding name.
    parent_env: Value,
    parent_python: PythonVersion,
    /// The parent's local bindings, which serve the bindings it passes on.
    bindings: Arc<LocalBindings>,
    /// Most recently used last.
    loaded: Mutex<VecDeque<Arc<DynamicWorker>>>,
    /// Builds are serialised: two requests loading the same id build it once.
    building: Mutex<()>,
    next_anonymous: AtomicU64,
}

/// One dynamic worker: its modules on disk, snapshot and idle instances.
struct DynamicWorker {
    id: String,
    snapshot: Snapshot,
    env: Value,
    handler: Arc<DynamicHandler>,
    idle: Mutex<Vec<Instance>>,
    /// Mounted as the worker's `/app/src`; removed when the worker is dropped.
    _modules: tempfile::TempDir,
}

/// What a dynamic worker inherits from the Worker that loads it.
pub struct Parent {
    /// Its `env` entries (the configure event's), by binding name.
    pub env: Value,
    /// Its local bindings.
    pub bindings: Arc<LocalBindings>,
    /// Its time limits, which the dynamic workers' instances get too.
    pub cpu_limit: Duration,
    pub wall_limit: Duration,
    /// The Python version its config selects (a 3.12 project runs on the
    /// 3.13 guest, and so do its dynamic workers).
    pub python: PythonVersion,
}

impl WorkerLoaders {
    /// Loaders whose snapshots go under `cache_dir`, whose dynamic workers
    /// get `parent`'s time limits and may be passed its bindings.
    pub fn new(runtime: Runtime, cache_dir: PathBuf, parent: Parent) -> WorkerLoaders {
        WorkerLoaders {
            runtime,
            cache_dir,
            cpu_limit: parent.cpu_limit,
            wall_limit: parent.wall_limit,
            parent_env: parent.env,
            parent_python: parent.python,
            bindings: parent.bindings,
            loaded: Mutex::new(VecDeque::new()),
            building: Mutex::new(()),
            next_anonymous: AtomicU64::new(1),
        }
    }

    /// Serve one `loader.*` host op.
    pub fn host_op(&self, header: &Value, body: Vec<u8>) -> HostReply {
        let op = header.get("op").and_then(Value::as_str).unwrap_or("");
        let null = Value::Null;
        let args = header.get("args").unwrap_or(&null);
        let binding = header.get("binding").and_then(Value::as_str).unwrap_or("");
        let result = match op.strip_prefix(OP_PREFIX).unwrap_or("") {
            "has" => str_arg(args, "id").map(|id| {
                Reply::value(json!({"cached": self.lookup(&key(binding, id)).is_some()}))
            }),
            "load" => self.load(binding, args),
            "call" => self.call(binding, args, body),
            _ => Err(OpError::UnknownOp(op.to_string())),
        };
        match result {
            Ok(Reply { value, body }) => HostReply::ok_with_body(value, body),
            Err(e) => HostReply::error(e.py_type(), e.to_string()),
        }
    }

    /// The loaded worker `key`, marked most recently used.
    fn lookup(&self, key: &str) -> Option<Arc<DynamicWorker>> {
        let mut loaded = lock(&self.loaded);
        let at = loaded.iter().position(|w| w.id == key)?;
        let worker = loaded.remove(at)?;
        loaded.push_back(worker.clone());
        Some(worker)
    }

    /// `loader.load {id?, code}`: build the worker unless `id` is loaded;
    /// `load(code)` (no id) always builds a new one. Replies `{"id"}`.
    fn load(&self, binding: &str, args: &Value) -> OpResult<Reply> {
        let key = match args.get("id").and_then(Value::as_str) {
            Some(id) => key(binding, id),
            None => format!(
                "{binding}\0#load-{}",
                self.next_anonymous.fetch_add(1, Ordering::SeqCst)
            ),
        };
        let _one_build = lock(&self.building);
        if self.lookup(&key).is_none() {
            let code = args
                .get("code")
                .ok_or_else(|| OpError::invalid("loader.load needs `code`"))?;
            let worker = self.build(&key, code)?;
            let mut loaded = lock(&self.loaded);
            while loaded.len() >= MAX_LOADED {
                loaded.pop_front();
            }
            loaded.push_back(Arc::new(worker));
        }
        Ok(Reply::value(json!({ "id": key })))
    }

    fn build(&self, key: &str, code: &Value) -> OpResult<DynamicWorker> {
        let label = display_id(key);
        let code = Code::parse(code)?;
        self.check_python(&label, &code)?;
        let passed = self.passed_bindings(&code)?;
        let egress = self.egress(&code)?;
        let modules = tempfile::Builder::new()
            // The runtime's own prefix: a run killed with `kill -9` has these
            // swept by the next one, like its instances' `/tmp`.
            .prefix(&format!("pywrangler-tmp-{}-", std::process::id()))
            .tempdir()?;
        code.write(modules.path())?;
        let mut spec = SnapshotSpec::new(
            modules.path(),
            code.main_import.clone(),
            self.cache_dir.clone(),
        );
        // Layered is ready soonest; a background full compile per dynamic
        // worker would cost seconds of CPU for little gain.
        spec.full_in_background = false;
        let snapshot = self
            .runtime
            .build_snapshot(&spec)
            .map_err(|e| start_error(&label, &code.main_module, e))?;
        let mut env = code.env;
        if let Value::Object(vars) = &mut env {
            for (key, (_, entry)) in &passed {
                vars.insert(key.clone(), entry.clone());
            }
        }
        Ok(DynamicWorker {
            id: key.to_string(),
            snapshot,
            env,
            handler: Arc::new(DynamicHandler {
                egress,
                outbound: OnceLock::new(),
                bindings: self.bindings.clone(),
                passed,
                answered: Mutex::new((1, BTreeMap::new())),
            }),
            idle: Mutex::new(Vec::new()),
            _modules: modules,
        })
    }

    /// The dynamic worker must run on the Python version of this session's
    /// guest: one whose compatibility date or flags pick another version
    /// would behave differently here than on Cloudflare, so it is refused.
    fn check_python(&self, label: &str, code: &Code) -> OpResult<()> {
        let mut flags = code.flags.clone();
        // Its main module is Python, which the loader runs as a Python Worker.
        flags.push("python_workers".to_string());
        let wanted = PythonVersion::detect(Some(&code.date), &flags).map_err(|e| {
            OpError::invalid(format!(
                "dynamic worker `{label}`: code.compatibilityDate: {e}"
            ))
        })?;
        if wanted == self.parent_python {
            return Ok(());
        }
        let here = self.parent_python;
        Err(OpError::failed(format!(
            "dynamic worker `{label}`: its compatibilityDate {} and compatibilityFlags {:?} select Python {wanted} on Cloudflare, but this `pywrangler-rs dev` session runs Python {here} (the parent Worker's version) and a dynamic worker runs on the parent's interpreter. Give the dynamic worker a compatibilityDate and flags that select Python {here} (3.14: python_workers_314 or a date from 2026-09-08; 3.13: a date from 2025-09-29 before that), or run the parent on Python {wanted}",
            code.date, code.flags
        )))
    }

    /// The parent's bindings passed in `code.env`: key in the dynamic
    /// worker's env -> (binding name in the parent, its `env` entry).
    fn passed_bindings(&self, code: &Code) -> OpResult<BTreeMap<String, (String, Value)>> {
        let mut out = BTreeMap::new();
        for (key, name) in &code.bindings {
            let entry = self.parent_binding(name, &format!("code.env[{key:?}]"))?;
            if entry["type"] == BINDING_TYPE {
                return Err(OpError::invalid(format!(
                    "code.env[{key:?}]: the worker loader `{name}` cannot be passed to a dynamic worker under `pywrangler-rs dev`; pass the bindings its workers need instead"
                )));
            }
            out.insert(key.clone(), (name.clone(), entry));
        }
        Ok(out)
    }

    /// Where the dynamic worker's `fetch()` goes.
    fn egress(&self, code: &Code) -> OpResult<Egress> {
        Ok(match &code.outbound {
            CodeOutbound::Network => Egress::Network,
            CodeOutbound::Blocked => Egress::Blocked,
            CodeOutbound::Binding(name) => {
                let entry = self.parent_binding(name, "code.globalOutbound")?;
                match entry["type"].as_str() {
                    Some("service" | "assets") => Egress::Binding(name.clone(), entry),
                    other => {
                        return Err(OpError::invalid(format!(
                            "code.globalOutbound: `{name}` is a {} binding; globalOutbound takes a service binding (a Fetcher) or None",
                            other.unwrap_or("plain")
                        )));
                    }
                }
            }
        })
    }

    fn parent_binding(&self, name: &str, what: &str) -> OpResult<Value> {
        self.parent_env
            .get(name)
            .cloned()
            .ok_or_else(|| OpError::invalid(format!("{what}: this Worker has no binding `{name}`")))
    }

    /// `loader.call {id, entrypoint?, method, args?, request?, props?}` + body: run
    /// one RPC (or `fetch`) on the worker, on this thread.
    fn call(&self, binding: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        let id = str_arg(args, "id")?;
        // Ids from `loader.load` are already keys; `get` stubs send the user's.
        let worker = self
            .lookup(id)
            .or_else(|| self.lookup(&key(binding, id)))
            .ok_or_else(|| {
                OpError::failed(format!(
                    "the dynamic worker `{}` is no longer loaded (at most {MAX_LOADED} are kept); call {binding}.get() again",
                    display_id(id)
                ))
            })?;
        let entrypoint = str_arg(args, "entrypoint").unwrap_or("Default");
        let mut call = bindings::rpc_call(entrypoint, None, args, body);
        // `getEntrypoint(name, {props})`: the entrypoint's `ctx.props`.
        call.props = args.get("props").cloned().filter(|p| !p.is_null());
        let _depth = bindings::CallDepth::enter()?;
        let header = super::pool::rpc_envelope(&call);
        let (reply, body) = worker
            .run(self, &call.class, |inst| inst.invoke(&header, &call.body))
            .map_err(|e| run_error(&display_id(&worker.id), e))?;
        Ok(super::pool::rpc_reply(call.method == "fetch", &reply, body))
    }
}

impl DynamicWorker {
    /// Run `f` on an idle instance, or a new one restored from the snapshot.
    fn run<T>(
        &self,
        loaders: &WorkerLoaders,
        entrypoint: &str,
        f: impl FnOnce(&mut Instance) -> Result<T, InvokeError>,
    ) -> Result<T, InvokeError> {
        let popped = lock(&self.idle).pop();
        let mut inst = match popped {
            Some(i) => i,
            None => {
                let mut options = InstanceOptions::new(self.handler.clone());
                options.env = self.env.clone();
                options.cpu_limit = loaders.cpu_limit;
                options.wall_limit = loaders.wall_limit;
                options.log = log_sink(format!("[dynamic {}:{entrypoint}] ", display_id(&self.id)));
                self.snapshot.instantiate(options)?
            }
        };
        let r = f(&mut inst);
        let mut idle = lock(&self.idle);
        if inst.is_usable() && idle.len() < MAX_IDLE {
            idle.push(inst);
        }
        r
    }
}

/// Where a dynamic worker's `fetch()` goes (`code.globalOutbound`).
enum Egress {
    /// Left out: the network.
    Network,
    /// `None`: nowhere (workerd's error).
    Blocked,
    /// A service binding of the parent: (its name, its `env` entry).
    Binding(String, Value),
}

/// Host calls made by a dynamic worker: output, outbound `fetch` (to the
/// network, nowhere, or the parent's service its `globalOutbound` names),
/// HTMLRewriter, and the ops of the parent's bindings it was passed.
struct DynamicHandler {
    egress: Egress,
    outbound: OnceLock<OpResult<Outbound>>,
    bindings: Arc<LocalBindings>,
    /// Key in its env -> (the parent's binding name, its `env` entry).
    passed: BTreeMap<String, (String, Value)>,
    /// Bodies of `fetch()`es the `globalOutbound` binding answered, for a
    /// caller that asked for a stream (`fetch.read`): next id, id -> body.
    answered: Mutex<(u64, BTreeMap<u64, Vec<u8>>)>,
}

impl HostHandler for DynamicHandler {
    fn call_reentrant(
        &self,
        header: Value,
        body: Vec<u8>,
        guest: &mut Reentry<'_, '_>,
    ) -> HostReply {
        if header["op"]
            .as_str()
            .is_some_and(|op| op.starts_with(super::htmlrewriter::OP_PREFIX))
        {
            return super::htmlrewriter::host_op(&header, body, guest);
        }
        self.serve(&header, body, Some(guest.deadline()))
    }

    fn call(&self, header: Value, body: Vec<u8>) -> HostReply {
        self.serve(&header, body, None)
    }
}

impl DynamicHandler {
    fn serve(
        &self,
        header: &Value,
        body: Vec<u8>,
        deadline: Option<std::time::Instant>,
    ) -> HostReply {
        let op = header.get("op").and_then(Value::as_str).unwrap_or("");
        let null = Value::Null;
        let args = header.get("args").unwrap_or(&null);
        let result = match op.split_once('.').unwrap_or((op, "")) {
            ("log", _) => {
                let level = args.get("level").and_then(Value::as_str).unwrap_or("log");
                let message = args.get("message").and_then(Value::as_str).unwrap_or("");
                for line in message.lines() {
                    bindings::print_worker_line("[dynamic] ", level, line);
                }
                Ok(Reply::null())
            }
            ("fetch", "") if matches!(self.egress, Egress::Blocked) => {
                Err(OpError::failed(NO_OUTBOUND))
            }
            ("fetch", rest) if matches!(self.egress, Egress::Binding(..)) => {
                self.fetch_through_binding(rest, args, body, deadline)
            }
            ("fetch", rest) => match self.outbound.get_or_init(Outbound::new) {
                Ok(c) => c.handle(rest, args, body, deadline),
                Err(e) => Err(OpError::failed(e.to_string())),
            },
            _ => self.parent_op(header, op, body, deadline),
        };
        match result {
            Ok(Reply { value, body }) => HostReply::ok_with_body(value, body),
            Err(e) => HostReply::error(e.py_type(), e.to_string()),
        }
    }

    /// An op of a binding the parent passed in `code.env`, served by the
    /// parent's bindings under the parent's name for it.
    fn parent_op(
        &self,
        header: &Value,
        op: &str,
        body: Vec<u8>,
        deadline: Option<std::time::Instant>,
    ) -> OpResult<Reply> {
        let binding = header.get("binding").and_then(Value::as_str).unwrap_or("");
        let parent_name = match self.passed.get(binding) {
            Some((name, _)) => Some(name.clone()),
            // Durable Object stubs name their class, not the namespace.
            None if binding.is_empty() && op.starts_with("do.") => {
                let class = header["args"]["class"].as_str().unwrap_or("");
                let passed = self.passed.values().any(|(_, entry)| {
                    entry["type"] == "durable_object" && entry["class_name"].as_str() == Some(class)
                });
                passed.then(String::new)
            }
            None => None,
        };
        let Some(parent_name) = parent_name else {
            return Err(OpError::failed(format!(
                "`{op}` is not available in this dynamic worker under `pywrangler-rs dev`: its env has only what the parent passed in `code.env`"
            )));
        };
        let mut header = header.clone();
        if !parent_name.is_empty() {
            header["binding"] = json!(parent_name);
        }
        self.bindings.call(&header, body, deadline)
    }

    /// `fetch()` with `globalOutbound` set to a service binding: the request
    /// goes to that service's `fetch` instead of the network. A caller that
    /// asks for a stream (sync HTTP clients, `workers.fetch`) reads the
    /// answer's body back with `fetch.read`, in one piece.
    fn fetch_through_binding(
        &self,
        rest: &str,
        args: &Value,
        body: Vec<u8>,
        deadline: Option<std::time::Instant>,
    ) -> OpResult<Reply> {
        let Egress::Binding(name, entry) = &self.egress else {
            return Err(OpError::failed("no globalOutbound binding"));
        };
        let id = args.get("id").and_then(Value::as_u64).unwrap_or(0);
        match rest {
            "" => {}
            "read" => {
                let body = lock(&self.answered).1.remove(&id).ok_or_else(|| {
                    OpError::failed("the response body was already read or closed")
                })?;
                return Ok(Reply::with_body(json!({"done": true}), body));
            }
            "close" => {
                lock(&self.answered).1.remove(&id);
                return Ok(Reply::null());
            }
            other => return Err(OpError::UnknownOp(format!("fetch.{other}"))),
        }
        let request = json!({
            "method": args.get("method").cloned().unwrap_or(json!("GET")),
            "url": args.get("url").cloned().unwrap_or(Value::Null),
            "headers": args.get("headers").cloned().unwrap_or(json!([])),
        });
        let header = if entry["type"] == "assets" {
            json!({"op": "assets", "binding": name, "args": {"request": request}})
        } else {
            json!({"op": "service.call", "binding": name, "args": {
                "service": entry["service"], "entrypoint": entry["entrypoint"],
                "method": "fetch", "args": [], "request": request,
            }})
        };
        let Reply { mut value, body } = self.bindings.call(&header, body, deadline)?;
        if args.get("stream").and_then(Value::as_bool) != Some(true) || body.is_empty() {
            return Ok(Reply::with_body(value, body));
        }
        let mut answered = lock(&self.answered);
        let id = answered.0;
        answered.0 += 1;
        // Bounded like the network's open streams: unread bodies go first.
        while answered.1.len() >= MAX_UNREAD_BODIES {
            answered.1.pop_first();
        }
        answered.1.insert(id, body);
        value["stream"] = json!(id);
        Ok(Reply::value(value))
    }
}

/// `code.globalOutbound` as the guest sent it.
#[derive(Debug, PartialEq)]
enum CodeOutbound {
    Network,
    Blocked,
    /// One of the parent's bindings, by name.
    Binding(String),
}

/// The worker code object, as the guest normalised it: `{compatibilityDate,
/// compatibilityFlags, mainModule, modules: [{name, type, text | base64}],
/// env, bindings, globalOutbound}`.
struct Code {
    date: String,
    flags: Vec<String>,
    main_module: String,
    /// `mainModule` as a Python import name (`pkg/app.py` → `pkg.app`).
    main_import: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    /// Plain values of `code.env`, as `var` entries.
    env: Value,
    /// Bindings of the parent passed in `code.env`: key -> parent's name.
    bindings: BTreeMap<String, String>,
    outbound: CodeOutbound,
}

impl Code {
    fn parse(code: &Value) -> OpResult<Code> {
        let date = code
            .get("compatibilityDate")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                OpError::invalid("the worker code needs a `compatibilityDate` (\"YYYY-MM-DD\")")
            })?
            .to_string();
        let flags = match code.get("compatibilityFlags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(flags)) => flags
                .iter()
                .map(|f| f.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| OpError::invalid("`compatibilityFlags` must be strings"))?,
            Some(_) => return Err(OpError::invalid("`compatibilityFlags` must be a list")),
        };
        let main_module = code
            .get("mainModule")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::invalid("the worker code needs a `mainModule` (a string)"))?
            .to_string();
        let modules = code
            .get("modules")
            .and_then(Value::as_array)
            .ok_or_else(|| OpError::invalid("the worker code needs `modules`"))?;
        let mut files = Vec::new();
        let mut main_type = None;
        for m in modules {
            let name = str_arg(m, "name")?;
            let kind = str_arg(m, "type")?;
            if name == main_module {
                main_type = Some(kind.to_string());
            }
            let bytes = match (m.get("text").and_then(Value::as_str), m.get("base64")) {
                (Some(text), _) => text.as_bytes().to_vec(),
                (None, Some(Value::String(b64))) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| OpError::invalid(format!("module `{name}`: {e}")))?,
                _ => return Err(OpError::invalid(format!("module `{name}` has no content"))),
            };
            files.push((module_path(name)?, bytes));
        }
        match main_type.as_deref() {
            None => {
                return Err(OpError::invalid(format!(
                    "the worker code's mainModule `{main_module}` is not one of its `modules`"
                )));
            }
            Some("py") => {}
            Some(t @ ("js" | "cjs")) => {
                return Err(OpError::failed(format!(
                    "the dynamic worker's main module `{main_module}` is JavaScript ({t}); `pywrangler-rs dev` runs Python Workers only, so a JavaScript dynamic worker cannot run locally (it runs once deployed). Use a `.py` main module with `class Default(WorkerEntrypoint)`"
                )));
            }
            Some(t) => {
                return Err(OpError::invalid(format!(
                    "the worker code's mainModule `{main_module}` is a {t} module; it must be Python (`.py`)"
                )));
            }
        }
        let main_import = main_module
            .strip_suffix(".py")
            .unwrap_or(&main_module)
            .replace('/', ".");
        let env = match code.get("env") {
            Some(Value::Object(vars)) => Value::Object(
                vars.iter()
                    .map(|(k, v)| (k.clone(), json!({"type": "var", "value": v})))
                    .collect(),
            ),
            _ => json!({}),
        };
        let bindings = match code.get("bindings") {
            Some(Value::Object(passed)) => passed
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect::<Option<BTreeMap<_, _>>>()
                .ok_or_else(|| OpError::invalid("`bindings` must map keys to binding names"))?,
            _ => BTreeMap::new(),
        };
        let outbound = match code.get("globalOutbound") {
            None => CodeOutbound::Network,
            Some(Value::Null) => CodeOutbound::Blocked,
            Some(target) => CodeOutbound::Binding(str_arg(target, "binding")?.to_string()),
        };
        Ok(Code {
            date,
            flags,
            main_module,
            main_import,
            files,
            env,
            bindings,
            outbound,
        })
    }

    fn write(&self, root: &Path) -> OpResult<()> {
        for (rel, bytes) in &self.files {
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
        }
        Ok(())
    }
}

/// A module name as a relative path that stays inside the module dir.
fn module_path(name: &str) -> OpResult<PathBuf> {
    let path = PathBuf::from(name.trim_start_matches("./"));
    let inside = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(path)
    } else {
        Err(OpError::invalid(format!(
            "module name `{name}` must be a relative path like `worker.py` or `lib/util.py`"
        )))
    }
}

/// Cache key of `get(id)` on `binding` (loaders do not share workers).
fn key(binding: &str, id: &str) -> String {
    format!("{binding}\0{id}")
}

/// The user's id in a cache key.
fn display_id(key: &str) -> String {
    key.split_once('\0')
        .map_or(key, |(_, id)| id)
        .trim_start_matches('#')
        .to_string()
}

fn str_arg<'a>(args: &'a Value, name: &str) -> OpResult<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid(format!("`{name}` must be a string")))
}

/// A start-up failure (syntax error, failing import) with its traceback.
fn start_error(id: &str, main: &str, e: SnapshotError) -> OpError {
    match e {
        SnapshotError::Python(p) => OpError::failed(format!(
            "dynamic worker `{id}` failed to start: importing `{main}` raised {p}\n{}",
            p.traceback.trim_end()
        )),
        other => OpError::failed(format!("dynamic worker `{id}` failed to start: {other}")),
    }
}

/// An error raised while the dynamic worker handled a call.
fn run_error(id: &str, e: InvokeError) -> OpError {
    match e {
        InvokeError::Python(p) if !p.traceback.is_empty() => OpError::failed(format!(
            "dynamic worker `{id}` raised {p}\n{}",
            p.traceback.trim_end()
        )),
        other => OpError::failed(format!("dynamic worker `{id}`: {other}")),
    }
}

fn log_sink(prefix: String) -> pywrangler_runtime::LogSink {
    Arc::new(move |line: LogLine| bindings::print_log_line(&prefix, &line))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(main: &str, modules: Value) -> Value {
        json!({"compatibilityDate": "2026-08-01", "mainModule": main, "modules": modules})
    }

    #[test]
    fn a_javascript_main_module_is_refused_with_the_reason() {
        let c = code(
            "worker.js",
            json!([{"name": "worker.js", "type": "js", "text": "export default {}"}]),
        );
        let err = Code::parse(&c).err().expect("refused").to_string();
        assert!(err.contains("runs Python Workers only"), "{err}");
        assert!(err.contains("worker.js"), "{err}");
    }

    #[test]
    fn module_names_may_not_leave_the_module_dir() {
        for bad in ["../x.py", "/etc/x.py", "a/../../x.py", ""] {
            assert!(module_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            module_path("lib/util.py").expect("ok"),
            PathBuf::from("lib/util.py")
        );
    }

    #[test]
    fn main_module_becomes_an_import_name_and_env_values_become_vars() {
        let mut c = code(
            "pkg/app.py",
            json!([{"name": "pkg/app.py", "type": "py", "text": "x = 1"},
                   {"name": "data.bin", "type": "data", "base64": "AAE="}]),
        );
        c["env"] = json!({"NAME": "x", "N": 2});
        c["globalOutbound"] = Value::Null;
        let parsed = Code::parse(&c).expect("parses");
        assert_eq!(parsed.main_import, "pkg.app");
        assert_eq!(parsed.env["N"], json!({"type": "var", "value": 2}));
        assert_eq!(parsed.outbound, CodeOutbound::Blocked);
        assert_eq!(parsed.files[1].1, vec![0u8, 1]);
    }

    #[test]
    fn passed_bindings_flags_and_an_outbound_binding_are_parsed() {
        let mut c = code("w.py", json!([{"name": "w.py", "type": "py", "text": ""}]));
        c["compatibilityFlags"] = json!(["python_workers_314"]);
        c["env"] = json!({"N": 1});
        c["bindings"] = json!({"STORE": "KV"});
        c["globalOutbound"] = json!({"binding": "PROXY"});
        let parsed = Code::parse(&c).expect("parses");
        assert_eq!(parsed.flags, vec!["python_workers_314".to_string()]);
        assert_eq!(parsed.bindings["STORE"], "KV");
        assert!(parsed.env.get("STORE").is_none(), "bindings are not vars");
        assert_eq!(parsed.outbound, CodeOutbound::Binding("PROXY".into()));
        c.as_object_mut().expect("object").remove("globalOutbound");
        assert_eq!(
            Code::parse(&c).expect("parses").outbound,
            CodeOutbound::Network
        );
    }

    #[test]
    fn the_compatibility_date_is_required() {
        let mut c = code("w.py", json!([{"name": "w.py", "type": "py", "text": ""}]));
        c.as_object_mut()
            .expect("object")
            .remove("compatibilityDate");
        let err = Code::parse(&c).err().expect("refused").to_string();
        assert!(err.contains("compatibilityDate"), "{err}");
    }

    #[test]
    fn a_main_module_missing_from_modules_is_named() {
        let c = code(
            "main.py",
            json!([{"name": "other.py", "type": "py", "text": ""}]),
        );
        let err = Code::parse(&c).err().expect("refused").to_string();
        assert!(
            err.contains("`main.py` is not one of its `modules`"),
            "{err}"
        );
    }
}
