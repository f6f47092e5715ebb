//! Worker loaders (`worker_loaders[]`): `env.LOADER.get(id, get_code)` and
//! `env.LOADER.load(code)` build a dynamic Python Worker from code strings.
//! Each one gets its modules written to a private temp dir, a snapshot taken
//! after its top level (cached on disk by content, like the main Worker's) and
//! its own warm instances on the same guest; the guest side is
//! `_pywrangler/worker_loader.py`, the ops are `loader.*`.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use pywrangler_runtime::{
    HostHandler, HostReply, Instance, InstanceOptions, InvokeError, LogLine, LogStream, Reentry,
    Runtime, Snapshot, SnapshotError, SnapshotSpec,
};
use serde_json::{Value, json};

use super::bindings::{self, OpError, OpResult, Reply, RpcCall, outbound::Outbound};

/// Prefix of the host ops this module serves.
pub const OP_PREFIX: &str = "loader.";

/// The binding's `type` in the guest's `env`.
pub const BINDING_TYPE: &str = "worker_loader";

/// Dynamic workers kept loaded at once (least recently used dropped first);
/// each holds a snapshot and at least one instance slot of the pool.
pub const MAX_LOADED: usize = 16;

/// Idle instances kept per dynamic worker.
const MAX_IDLE: usize = 2;

/// What workerd's `fetch()` throws in a worker whose `globalOutbound` is null.
const NO_OUTBOUND: &str = "This worker is not permitted to access the internet via global functions like fetch(). It must use capabilities (such as bindings in 'env') to talk to the outside world.";

/// The loaded dynamic workers of one `dev` generation.
pub struct WorkerLoaders {
    runtime: Runtime,
    cache_dir: PathBuf,
    cpu_limit: Duration,
    wall_limit: Duration,
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

impl WorkerLoaders {
    /// Loaders whose snapshots go under `cache_dir`, whose instances get the
    /// parent Worker's time limits.
    pub fn new(
        runtime: Runtime,
        cache_dir: PathBuf,
        cpu_limit: Duration,
        wall_limit: Duration,
    ) -> WorkerLoaders {
        WorkerLoaders {
            runtime,
            cache_dir,
            cpu_limit,
            wall_limit,
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
        Ok(DynamicWorker {
            id: key.to_string(),
            snapshot,
            env: code.env,
            handler: Arc::new(DynamicHandler {
                outbound_allowed: code.outbound_allowed,
                outbound: OnceLock::new(),
            }),
            idle: Mutex::new(Vec::new()),
            _modules: modules,
        })
    }

    /// `loader.call {id, entrypoint?, method, args?, request?}` + body: run
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
        let call = RpcCall {
            class: args
                .get("entrypoint")
                .and_then(Value::as_str)
                .unwrap_or("Default")
                .to_string(),
            id: None,
            method: str_arg(args, "method").unwrap_or("fetch").to_string(),
            args: args
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            request: args.get("request").cloned().filter(|r| !r.is_null()),
            body,
        };
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

/// Host calls made by a dynamic worker: output, outbound `fetch` (unless its
/// `globalOutbound` is null) and HTMLRewriter. Its `env` holds plain values
/// only, so no binding op reaches here.
struct DynamicHandler {
    outbound_allowed: bool,
    outbound: OnceLock<OpResult<Outbound>>,
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
            ("fetch", "") if !self.outbound_allowed => Err(OpError::failed(NO_OUTBOUND)),
            ("fetch", rest) => match self.outbound.get_or_init(Outbound::new) {
                Ok(c) => c.handle(rest, args, body, deadline),
                Err(e) => Err(OpError::failed(e.to_string())),
            },
            _ => Err(OpError::failed(format!(
                "`{op}` is not available in a dynamic worker under `pywrangler-rs dev`: its env holds only the plain values of `code.env`"
            ))),
        };
        match result {
            Ok(Reply { value, body }) => HostReply::ok_with_body(value, body),
            Err(e) => HostReply::error(e.py_type(), e.to_string()),
        }
    }
}

/// The worker code object, as the guest normalised it: `{mainModule,
/// modules: [{name, type, text | base64}], env, globalOutbound}`.
struct Code {
    main_module: String,
    /// `mainModule` as a Python import name (`pkg/app.py` → `pkg.app`).
    main_import: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    env: Value,
    outbound_allowed: bool,
}

impl Code {
    fn parse(code: &Value) -> OpResult<Code> {
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
        Ok(Code {
            main_module,
            main_import,
            files,
            env,
            outbound_allowed: code.get("globalOutbound") != Some(&Value::Null),
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
    Arc::new(move |line: LogLine| {
        let level = match &line.stream {
            LogStream::Console(level) => level.as_str(),
            LogStream::Stderr => "stderr",
            LogStream::Stdout => "log",
        };
        bindings::print_worker_line(&prefix, level, &line.text);
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(main: &str, modules: Value) -> Value {
        json!({"mainModule": main, "modules": modules})
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
        assert!(!parsed.outbound_allowed);
        assert_eq!(parsed.files[1].1, vec![0u8, 1]);
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
