//! The host side of the worker's bindings for `dev`: every `host_call` op of
//! the runtime ABI (docs/runtime-abi.md) lands in [`LocalBindings::call`],
//! which hands it to the binding kind that answers its op family
//! ([`crate::bindings`]), backed by SQLite and files under the state
//! directory (`.wrangler/state`). The helpers the kinds' stores share live here.

pub mod error;
pub mod miniflare;
pub mod outbound;
pub mod sql_guard;
pub mod sqlite;

#[cfg(test)]
mod runtime_api_tests;
#[cfg(test)]
mod sql_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::bindings as kinds;

pub use error::{OpError, OpResult};

/// Milliseconds since the epoch; swappable so tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(sqlite::now_ms)
}

/// A successful op's reply: a JSON value plus raw body bytes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// The reply header's `value`.
    pub value: Value,
    /// Raw bytes after the header.
    pub body: Vec<u8>,
}

impl Reply {
    /// `null`, no body.
    pub fn null() -> Reply {
        Reply::default()
    }

    /// A value, no body.
    pub fn value(value: Value) -> Reply {
        Reply {
            value,
            body: Vec::new(),
        }
    }

    /// A value and body bytes.
    pub fn with_body(value: Value, body: Vec<u8>) -> Reply {
        Reply { value, body }
    }
}

/// What the worker declares, reduced to what the local bindings need.
#[derive(Debug, Clone, Default)]
pub struct BindingsConfig {
    /// Root of the persisted state (`.wrangler/state` or `--persist-to`).
    pub state_dir: PathBuf,
    /// The worker's own name (service bindings to it are served locally).
    pub worker_name: String,
    /// KV: binding → namespace id.
    pub kv: Vec<(String, String)>,
    /// D1: binding → database id (or name).
    pub d1: Vec<(String, String)>,
    /// D1 migrations applied at start-up: binding → (directory, table).
    pub d1_migrations: Vec<(String, PathBuf, String)>,
    /// R2: binding → bucket name.
    pub r2: Vec<(String, String)>,
    /// Durable Objects: binding → class name.
    pub durable_objects: Vec<(String, String)>,
    /// Durable Object classes the migrations declare key-value backed
    /// (`new_classes`): they have no synchronous `ctx.storage.kv`.
    pub kv_backed_classes: Vec<String>,
    /// Queue producers: binding → (queue, delivery delay in seconds).
    pub queue_producers: Vec<(String, String, i64)>,
    /// Service bindings.
    pub services: Vec<kinds::service::ServiceTarget>,
    /// Rate limiting bindings.
    pub ratelimits: Vec<kinds::ratelimit::RateLimitConfig>,
    /// Secrets Store bindings: binding → (store id, secret name).
    pub secrets_store: Vec<(String, String, String)>,
    /// Longest one D1 query or Durable Object `sql.exec` may run (None:
    /// D1's 30 s, [`sql_guard::DEFAULT_TIME_LIMIT`]).
    pub sql_time_limit: Option<std::time::Duration>,
    /// Workflows run by this worker.
    pub workflows: Vec<kinds::workflows::WorkflowConfig>,
    /// Static assets (served before the Worker, and by `assets.binding`).
    pub assets: Option<Arc<crate::assets::AssetsOptions>>,
    /// `send_email` bindings, and where sent messages are written
    /// (`.wrangler/tmp/email`; None: beside the state directory).
    pub send_email: Vec<kinds::send_email::SendEmailConfig>,
    pub email_dir: Option<PathBuf>,
}

/// One `host_call` as a binding kind's handler sees it.
pub struct HostCall<'a> {
    /// The binding named by the header (empty when none).
    pub binding: &'a str,
    /// The op within its family: `get` for `kv.get`.
    pub op: &'a str,
    /// The header's `args`.
    pub args: &'a Value,
    /// Raw bytes after the header.
    pub body: Vec<u8>,
}

impl HostCall<'_> {
    /// The error for a binding of `kind` that the worker does not declare.
    pub fn no_binding(&self, kind: &'static str) -> OpError {
        no_binding(kind, self.binding)
    }
}

/// Calls back into the worker (Durable Object RPC, service bindings), supplied
/// by the server once its instance pool exists.
pub trait WorkerDispatch: Send + Sync {
    /// Run `method` on `class` (a Durable Object class with `id`, or an
    /// entrypoint with `id: None`). `request` is set for `method == "fetch"`.
    fn rpc(&self, call: RpcCall) -> OpResult<Reply>;
}

/// One RPC into the worker.
#[derive(Debug, Clone)]
pub struct RpcCall {
    /// Durable Object class or entrypoint name.
    pub class: String,
    /// Durable Object id (None for entrypoints).
    pub id: Option<String>,
    /// Method name (`fetch` for HTTP).
    pub method: String,
    /// JSON arguments.
    pub args: Vec<Value>,
    /// For `fetch`: `{method, url, headers}`.
    pub request: Option<Value>,
    /// For `fetch`: the request body.
    pub body: Vec<u8>,
    /// The target entrypoint's `ctx.props` (a service binding's `props`,
    /// or `getEntrypoint(name, {props})`).
    pub props: Option<Value>,
}

static LOG_FILTER: OnceLock<LogFilter> = OnceLock::new();

/// Choose which worker log levels reach the terminal (once, at start-up).
pub fn set_log_filter(filter: LogFilter) {
    let _ = LOG_FILTER.set(filter);
}

/// Write one line an instance printed (its console, `print` or stderr) to
/// the terminal, prefixed for its request.
pub fn print_log_line(prefix: &str, line: &pywrangler_runtime::LogLine) {
    use pywrangler_runtime::LogStream;
    let level = match &line.stream {
        LogStream::Console(level) => level.as_str(),
        LogStream::Stderr => "stderr",
        LogStream::Stdout => "log",
    };
    print_worker_line(prefix, level, &line.text);
}

/// Write one line of worker output to the terminal, prefixed for its request.
/// `level` is a console level, `log` for `print`, or `stderr`.
pub fn print_worker_line(prefix: &str, level: &str, line: &str) {
    let filter = LOG_FILTER.get().copied().unwrap_or(LogFilter::Log);
    if !filter.allows(level) {
        return;
    }
    match level {
        "error" | "warn" | "debug" => eprintln!("{prefix}[{level}] {line}"),
        _ => eprintln!("{prefix}{line}"),
    }
}

/// Every local binding of one worker.
pub struct LocalBindings {
    pub(crate) config: BindingsConfig,
    pub(crate) kv: HashMap<String, kinds::kv::KvStore>,
    pub(crate) d1: HashMap<String, kinds::d1::store::D1Database>,
    pub(crate) r2: HashMap<String, kinds::r2::bucket::R2Bucket>,
    pub(crate) ratelimits: HashMap<String, kinds::ratelimit::RateLimiter>,
    pub(crate) secrets: HashMap<String, kinds::secrets_store::store::SecretsStoreSecret>,
    pub(crate) durable: kinds::durable::DurableStorage,
    pub(crate) queues: Arc<kinds::queue::QueueStore>,
    pub(crate) workflows: HashMap<String, Arc<kinds::workflows::WorkflowStore>>,
    pub(crate) email: kinds::send_email::EmailOutbox,
    outbound: OnceLock<OpResult<outbound::Outbound>>,
    dispatch: OnceLock<Arc<dyn WorkerDispatch>>,
}

/// Which worker log levels reach the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogFilter {
    Debug,
    Info,
    Log,
    Warn,
    Error,
    None,
}

impl LogFilter {
    fn allows(self, level: &str) -> bool {
        let l = match level {
            "stderr" => LogFilter::Error,
            "debug" => LogFilter::Debug,
            "info" => LogFilter::Info,
            "warn" => LogFilter::Warn,
            "error" => LogFilter::Error,
            _ => LogFilter::Log,
        };
        self != LogFilter::None && l >= self
    }
}

/// Make a binding or resource name safe as a file name.
pub(crate) fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl LocalBindings {
    /// Open every configured store under `config.state_dir`.
    pub fn open(config: BindingsConfig, clock: Clock) -> OpResult<LocalBindings> {
        let root = config.state_dir.join("v3");
        let sql_limit = config
            .sql_time_limit
            .unwrap_or(sql_guard::DEFAULT_TIME_LIMIT);
        let kv = kinds::kv::open_local(&config, &root, &clock)?;
        let d1 = kinds::d1::open_local(&config, &root, sql_limit)?;
        let r2 = kinds::r2::open_local(&config, &root, &clock)?;
        let workflows = kinds::workflows::open_local(&config, &root, &clock)?;
        let secrets = kinds::secrets_store::open_local(&config, &root, &clock)?;
        let ratelimits = kinds::ratelimit::open_local(&config, &root, &clock)?;
        let durable = kinds::durable::open_local(&config, &root, sql_limit);
        let queues = Arc::new(kinds::queue::open_local(&root, clock)?);
        let email = kinds::send_email::open_local(&config);
        Ok(LocalBindings {
            email,
            config,
            kv,
            d1,
            r2,
            ratelimits,
            secrets,
            durable,
            queues,
            workflows,
            outbound: OnceLock::new(),
            dispatch: OnceLock::new(),
        })
    }

    /// Connect RPC ops to the worker (set once the instance pool exists).
    pub fn set_dispatch(&self, dispatch: Arc<dyn WorkerDispatch>) {
        let _ = self.dispatch.set(dispatch);
    }

    /// The queue store (the server's consumer loop reads from it).
    pub fn queues(&self) -> Arc<kinds::queue::QueueStore> {
        self.queues.clone()
    }

    /// Each configured workflow with its store (the workflow engine runs them).
    pub fn workflows(
        &self,
    ) -> Vec<(
        kinds::workflows::WorkflowConfig,
        Arc<kinds::workflows::WorkflowStore>,
    )> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for w in &self.config.workflows {
            if seen.contains(&w.name) {
                continue;
            }
            seen.push(w.name.clone());
            if let Some(store) = self.workflows.get(&w.name) {
                out.push((w.clone(), store.clone()));
            }
        }
        out
    }

    /// Durable Object storage (the alarm loop reads from it).
    pub fn durable(&self) -> &kinds::durable::DurableStorage {
        &self.durable
    }

    /// The state directory.
    #[cfg(test)]
    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    /// Handle one `host_call`: header `{"v":1,"op","binding"?,"args"}` + body,
    /// for an event that ends at `deadline` (its wall-clock limit): an
    /// outbound fetch gives up by then.
    pub fn call(
        &self,
        header: &Value,
        body: Vec<u8>,
        deadline: Option<std::time::Instant>,
    ) -> OpResult<Reply> {
        let op = header
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::invalid("host call without an `op`"))?;
        let binding = header.get("binding").and_then(Value::as_str).unwrap_or("");
        let null = Value::Null;
        let args = header.get("args").unwrap_or(&null);
        let (family, rest) = op.split_once('.').unwrap_or((op, ""));
        match family {
            "log" => {
                let level = args.get("level").and_then(Value::as_str).unwrap_or("log");
                let message = args.get("message").and_then(Value::as_str).unwrap_or("");
                for line in message.lines() {
                    print_worker_line("", level, line);
                }
                Ok(Reply::null())
            }
            "fetch" => {
                let client = self.outbound.get_or_init(outbound::Outbound::new);
                match client {
                    Ok(c) => c.handle(rest, args, body, deadline),
                    Err(e) => Err(OpError::failed(e.to_string())),
                }
            }
            _ => match kinds::host_ops(family) {
                Some(ops) => (ops.call)(
                    self,
                    HostCall {
                        binding,
                        op: rest,
                        args,
                        body,
                    },
                ),
                None => Err(OpError::UnknownOp(op.to_string())),
            },
        }
    }

    /// Run `call` in the worker, one nesting level deeper.
    pub(crate) fn rpc(&self, call: RpcCall) -> OpResult<Reply> {
        let Some(dispatch) = self.dispatch.get() else {
            return Err(OpError::failed("the worker is not ready for RPC calls yet"));
        };
        // Nested calls run on the caller's thread, so the depth is per thread.
        let _depth = CallDepth::enter()?;
        dispatch.rpc(call)
    }
}

/// The Durable Object call a `do.call` host call asks for.
pub fn durable_call(header: &Value, body: Vec<u8>) -> Option<RpcCall> {
    if header.get("op").and_then(Value::as_str) != Some("do.call") {
        return None;
    }
    let args = header.get("args")?;
    let class = args.get("class")?.as_str()?.to_string();
    let id = args.get("id")?.as_str()?.to_ascii_lowercase();
    Some(rpc_call(&class, Some(id), args, body))
}

/// The RPC a `do.call` or `service.*` host call asks for.
pub(crate) fn rpc_call(class: &str, id: Option<String>, args: &Value, body: Vec<u8>) -> RpcCall {
    RpcCall {
        class: class.to_string(),
        id,
        method: args
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("fetch")
            .to_string(),
        args: args
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        request: args.get("request").cloned().filter(|r| !r.is_null()),
        body,
        props: None,
    }
}

/// Most Worker-to-Worker / Durable Object calls nested in one request, as in
/// workerd (and miniflare).
pub const MAX_CALL_DEPTH: usize = 16;

std::thread_local! {
    static CALL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of nested RPC on this thread; dropped when the call returns.
pub(crate) struct CallDepth;

impl CallDepth {
    /// Count one more nested call, or fail with workerd's depth error.
    pub(crate) fn enter() -> OpResult<CallDepth> {
        CALL_DEPTH.with(|d| {
            if d.get() >= MAX_CALL_DEPTH {
                return Err(OpError::failed(
                    "Subrequest depth limit exceeded. This request recursed through Workers too many times. This can happen e.g. if you have a Worker or Durable Object that calls other Workers or objects recursively.",
                ));
            }
            d.set(d.get() + 1);
            Ok(CallDepth)
        })
    }
}

impl Drop for CallDepth {
    fn drop(&mut self) {
        CALL_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

pub(crate) fn no_binding(kind: &'static str, name: &str) -> OpError {
    OpError::NoBinding {
        kind,
        name: name.to_string(),
    }
}
