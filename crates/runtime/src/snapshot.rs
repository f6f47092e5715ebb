//! Building snapshots of a Worker and restoring instances from them.
//!
//! Two shapes (docs/runtime.md explains the choice with measurements):
//! - **Full**: wizer's pre-initialised module, precompiled to `.cwasm`;
//!   restore is a copy-on-write instantiation.
//! - **Layered**: a cached *base* (CPython + python_modules imported, also a
//!   wizer `.cwasm`) plus a host-side memory diff of importing the main
//!   module. Built in well under a second after an edit; the full `.cwasm`
//!   is then compiled in the background and replaces it transparently.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmtime::InstancePre;

use crate::builder as build;
use crate::error::{InvokeError, RuntimeError, SnapshotError};
use crate::host::{HostState, Phase};
use crate::instance::{Instance, InstanceOptions};
use crate::layers::Layer;
use crate::logs::{LogLine, LogSink};
use crate::native::NativePackage;
use crate::runtime::Runtime;
use crate::session::{Session, StoreSpec, new_store};
use crate::wasi_env::Mounts;

/// What to snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotSpec {
    /// The module root (`base_dir`, or the directory of `main`); `/app/src`.
    pub module_root: PathBuf,
    /// The project's `python_modules/`, if any; `/app/python_modules`.
    pub python_modules: Option<PathBuf>,
    /// Dotted module name of the entry point, e.g. `entry`.
    pub main_module: String,
    /// Cache directory, e.g. `<project>/.wrangler/cache/python`.
    pub cache_dir: PathBuf,
    /// Return a layered snapshot as soon as it is ready (`dev`); when false,
    /// build and return only the full one in one wizer run (`deploy`).
    /// Default true.
    pub layered: bool,
    /// With `layered`: compile the full `.cwasm` in a background thread and
    /// switch new instances to it when ready. Default true.
    pub full_in_background: bool,
    /// Cache the bytecode of `python_modules` in `cache_dir/pycache`, so
    /// later builds import their dependencies without compiling.
    /// `deploy` turns it off to time the top level as Cloudflare runs it,
    /// compiling from source (the upload carries no `.pyc`). Default true.
    pub bytecode_cache: bool,
}

impl SnapshotSpec {
    /// A spec without `python_modules`, layered.
    pub fn new(
        module_root: impl Into<PathBuf>,
        main_module: impl Into<String>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        SnapshotSpec {
            module_root: module_root.into(),
            python_modules: None,
            main_module: main_module.into(),
            cache_dir: cache_dir.into(),
            layered: true,
            full_in_background: true,
            bytecode_cache: true,
        }
    }

    /// Sets `python_modules`.
    pub fn with_python_modules(mut self, dir: impl Into<PathBuf>) -> Self {
        self.python_modules = Some(dir.into());
        self
    }
}

/// How instances are restored from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// A wizer-initialised `.cwasm` (copy-on-write restore).
    Full,
    /// A base `.cwasm` plus a memory diff written at restore.
    Layered,
}

/// How a snapshot was obtained.
#[derive(Debug, Clone)]
pub struct SnapshotStats {
    /// True when everything came from the cache (no Python ran).
    pub cache_hit: bool,
    /// True when the base layer had to be built (dependencies changed).
    pub base_built: bool,
    /// Wall time of `build_snapshot`.
    pub build_time: Duration,
    /// Wall time the top level (the shim and the main import) took inside
    /// the guest, as Python measured it.
    pub startup_ms: f64,
    /// CPU time of the same span, measured by the host on the thread that ran
    /// it (waits such as `time.sleep` and host calls are not CPU). `None` on
    /// platforms without a per-thread CPU clock, or for a snapshot cached by
    /// an older version.
    pub startup_cpu_ms: Option<f64>,
    /// Bytes of memory the layer writes at restore (0 for full snapshots).
    pub delta_bytes: usize,
}

#[derive(Clone)]
pub(crate) enum Restore {
    Full(InstancePre<HostState>),
    Layered {
        pre: InstancePre<HostState>,
        layer: Arc<Layer>,
    },
}

pub(crate) struct RestoreState {
    pub(crate) restore: Restore,
    pub(crate) pending: bool,
    pub(crate) error: Option<String>,
}

/// A Worker's snapshot: cheap to clone, instantiate as often as needed.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) inner: Arc<SnapInner>,
}

pub(crate) struct SnapInner {
    pub(crate) rt: Runtime,
    pub(crate) mounts: Mounts,
    pub(crate) main_module: String,
    pub(crate) entrypoints: Value,
    pub(crate) stats: SnapshotStats,
    pub(crate) build_log: Vec<LogLine>,
    pub(crate) state: Mutex<RestoreState>,
    pub(crate) changed: Condvar,
}

impl Snapshot {
    /// Entrypoints the guest found (`pw_init_status.entrypoints`).
    pub fn entrypoints(&self) -> &Value {
        &self.inner.entrypoints
    }

    /// How the snapshot was obtained.
    pub fn stats(&self) -> &SnapshotStats {
        &self.inner.stats
    }

    /// What the Worker's top-level code printed while it was imported (empty
    /// on a cache hit).
    pub fn build_log(&self) -> &[LogLine] {
        &self.inner.build_log
    }

    /// The main module name.
    pub fn main_module(&self) -> &str {
        &self.inner.main_module
    }

    /// How new instances are restored right now.
    pub fn kind(&self) -> SnapshotKind {
        match self.lock().restore {
            Restore::Full(_) => SnapshotKind::Full,
            Restore::Layered { .. } => SnapshotKind::Layered,
        }
    }

    /// Waits until the background full build finishes (or `timeout` passes);
    /// returns the kind then in use, or the background build's error.
    pub fn wait_for_full(&self, timeout: Duration) -> Result<SnapshotKind, String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while st.pending {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .inner
                .changed
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if let Some(e) = &st.error {
            return Err(e.clone());
        }
        Ok(match st.restore {
            Restore::Full(_) => SnapshotKind::Full,
            Restore::Layered { .. } => SnapshotKind::Layered,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RestoreState> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Restores a new instance (copy-on-write), then sends `configure` with
    /// the bindings and a fresh entropy seed.
    pub fn instantiate(&self, options: InstanceOptions) -> Result<Instance, InvokeError> {
        let restore = self.lock().restore.clone();
        let rt = &self.inner.rt.inner;
        let t_store = crate::trace::Timer::new("restore: new store");
        let store = new_store(
            rt,
            StoreSpec {
                mounts: &self.inner.mounts,
                main_module: &self.inner.main_module,
                phase: Phase::Serving,
                handler: Some(options.handler.clone()),
                sink: options.log.clone(),
                memory_limit: options.memory_limit.min(rt.config.max_memory),
                cpu_limit: options.cpu_limit,
                wall_limit: options.wall_limit,
            },
        )
        .map_err(|e| InvokeError::Instantiate(e.to_string()))?;
        let mut store = store;
        drop(t_store);
        let pre = match &restore {
            Restore::Full(pre) | Restore::Layered { pre, .. } => pre,
        };
        let instance = crate::trace::timed("restore: instantiate", || pre.instantiate(&mut store))
            .map_err(|e| InvokeError::Instantiate(format!("{e:#}")))?;
        let mut session = Session::new(store, instance).map_err(InvokeError::Trap)?;
        if let Restore::Layered { layer, .. } = &restore {
            crate::trace::timed("restore: apply layer", || layer.apply(&mut session))
                .map_err(|e| session.classify(e))?;
        }
        crate::trace::timed("restore: configure", || {
            Instance::configure(session, &options)
        })
    }
}

/// Turns a failed `pw_init_status`/`load_main` status into an error.
/// `refused`: the native packages that cannot run here (an import error naming one of them
/// becomes [`SnapshotError::NativeCode`]).
pub(crate) fn status_error(status: &Value, refused: &[NativePackage]) -> Option<SnapshotError> {
    if status.get("ok").and_then(Value::as_bool) != Some(false) {
        return None;
    }
    let error: crate::PythonError = serde_json::from_value(
        status.get("error").cloned().unwrap_or(Value::Null),
    )
    .unwrap_or(crate::PythonError {
        r#type: "ImportError".into(),
        message: format!("the guest reported: {status}"),
        traceback: String::new(),
    });
    if error.r#type.contains("ImportError") || error.r#type.contains("ModuleNotFoundError") {
        let text = format!("{} {}", error.message, error.traceback);
        let packages: Vec<_> = refused
            .iter()
            .filter(|p| {
                text.contains(&format!("'{}", p.package))
                    || text.contains(&format!("{}.", p.package))
                    || text.contains(&format!("/{}/", p.package))
            })
            .cloned()
            .collect();
        if !packages.is_empty() {
            return Some(SnapshotError::NativeCode { packages, error });
        }
    }
    Some(SnapshotError::Python(error))
}

pub(crate) fn map_invoke(e: InvokeError) -> SnapshotError {
    match e {
        InvokeError::Python(p) => SnapshotError::Python(p),
        InvokeError::Timeout { limit, .. } => SnapshotError::Timeout(limit),
        InvokeError::MemoryLimit(mb) => SnapshotError::MemoryLimit(mb),
        InvokeError::Trap(m) | InvokeError::Instantiate(m) => SnapshotError::Guest(m),
    }
}

/// A sink that keeps lines for [`Snapshot::build_log`].
pub(crate) fn collecting_sink() -> (LogSink, Arc<Mutex<Vec<LogLine>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    (
        Arc::new(move |line| l.lock().unwrap_or_else(|e| e.into_inner()).push(line)),
        lines,
    )
}

impl Runtime {
    /// Builds (or loads from `spec.cache_dir`) the snapshot of a Worker.
    pub fn build_snapshot(&self, spec: &SnapshotSpec) -> Result<Snapshot, SnapshotError> {
        build::build(self, spec)
    }

    pub(crate) fn snapshot_store(
        &self,
        mounts: &Mounts,
        main: &str,
        sink: LogSink,
    ) -> Result<wasmtime::Store<HostState>, RuntimeError> {
        let rt = &self.inner;
        let limit = rt.config.snapshot_time_limit;
        new_store(
            rt,
            StoreSpec {
                mounts,
                main_module: main,
                phase: Phase::Snapshot,
                handler: None,
                sink,
                memory_limit: rt.config.max_memory,
                cpu_limit: limit,
                wall_limit: limit,
            },
        )
    }
}

/// The JSON stored next to a full `.cwasm`.
pub(crate) fn meta_json(status: &Value) -> Value {
    json!({"v": 1, "status": status})
}
