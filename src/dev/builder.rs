//! Build one generation of the Worker: resolve settings, sync when stale,
//! build (or load the cached) snapshot and open the bindings. A failure here
//! is kept and served as the error page until the next successful build.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use pywrangler_runtime::{Runtime, SnapshotError, SnapshotSpec};

use super::bindings::{self, LocalBindings};
use super::error_page::ErrorInfo;
use super::pool::Generation;
use super::settings::SessionFlags;

/// What requests are served from right now.
#[derive(Clone)]
pub enum Current {
    /// A working build.
    Ready(Arc<Generation>),
    /// The last build failed; serve its error.
    Broken(Arc<ErrorInfo>),
}

/// A build failure, split into the ones that must stop `dev` at start-up.
pub enum BuildError {
    /// Cannot work at all (native code, bad config at start-up).
    Fatal(anyhow::Error),
    /// The Worker's code is broken; serve the error page until it is fixed.
    Broken(ErrorInfo),
}

/// State shared by the server, the reloader and the background loops.
pub struct Shared {
    /// Session flags.
    pub flags: SessionFlags,
    /// The wasmtime runtime (one per process).
    pub runtime: Runtime,
    current: RwLock<Current>,
    next_id: AtomicU64,
    /// Counts requests, for log prefixes.
    pub requests: AtomicU64,
}

impl Shared {
    /// Wrap the first build.
    pub fn new(flags: SessionFlags, runtime: Runtime, first: Current) -> Arc<Shared> {
        Arc::new(Shared {
            flags,
            runtime,
            current: RwLock::new(first),
            next_id: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        })
    }

    /// The generation (or error) requests go to now.
    pub fn current(&self) -> Current {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The ready generation, if any.
    pub fn ready(&self) -> Option<Arc<Generation>> {
        match self.current() {
            Current::Ready(g) => Some(g),
            Current::Broken(_) => None,
        }
    }

    /// Swap in a new build; the old generation finishes in-flight work.
    pub fn swap(&self, next: Current) {
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            next,
        );
        if let Current::Ready(g) = old {
            g.retire();
        }
    }

    /// Next generation number.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }
}

/// Build a generation from the project as it is on disk now (blocking).
/// `sync` re-runs `sync` first (at start-up and when `pyproject.toml` changed).
pub fn build(
    shared_flags: &SessionFlags,
    runtime: &Runtime,
    id: u64,
    sync: bool,
) -> Result<Arc<Generation>, BuildError> {
    let started = Instant::now();
    let resolved = if sync {
        shared_flags.resolve_and_sync()
    } else {
        shared_flags.resolve()
    };
    let settings = resolved.map_err(|e| {
        let hints = crate::diagnostics::hints_for(e.as_ref());
        BuildError::Broken(ErrorInfo {
            status: 500,
            title: "The wrangler configuration is invalid".into(),
            r#type: "ConfigError".into(),
            message: format!("{e:#}"),
            detail: crate::diagnostics::with_hint_lines(format!("{e:#}"), &hints),
        })
    })?;
    let mut spec = SnapshotSpec::new(
        settings.module_root.clone(),
        settings.main_module.clone(),
        settings.paths.snapshot_cache.clone(),
    );
    if settings.paths.python_modules.is_dir() {
        spec = spec.with_python_modules(settings.paths.python_modules.clone());
    }
    let snapshot = runtime.build_snapshot(&spec).map_err(|e| match e {
        SnapshotError::NativeCode { .. } => BuildError::Fatal(anyhow::Error::new(e)),
        SnapshotError::Python(p) => BuildError::Broken(ErrorInfo {
            status: 500,
            title: format!("Importing the Worker failed: {p}"),
            r#type: p.r#type.clone(),
            message: p.message.clone(),
            detail: if p.traceback.is_empty() {
                p.to_string()
            } else {
                p.traceback.clone()
            },
        }),
        other => BuildError::Broken(ErrorInfo {
            status: 500,
            title: "Building the Worker snapshot failed".into(),
            r#type: "Error".into(),
            message: other.to_string(),
            detail: crate::diagnostics::with_hint_lines(
                other.to_string(),
                &crate::diagnostics::hints_for(&other),
            ),
        }),
    })?;
    let bindings = LocalBindings::open(settings.bindings.clone(), bindings::system_clock())
        .map_err(|e| {
            BuildError::Fatal(anyhow::anyhow!(
                "cannot open local binding state under {}: {e}",
                settings.bindings.state_dir.display()
            ))
        })?;
    crate::printer::verbose(format!(
        "built generation {id} in {:.0?} (snapshot {:?}, cache hit: {})",
        started.elapsed(),
        snapshot.kind(),
        snapshot.stats().cache_hit
    ));
    let has_loader = settings.env.as_object().is_some_and(|env| {
        env.values()
            .any(|b| b["type"] == super::worker_loader::BINDING_TYPE)
    });
    let bindings = Arc::new(bindings);
    let loaders = has_loader.then(|| {
        super::worker_loader::WorkerLoaders::new(
            runtime.clone(),
            settings.paths.snapshot_cache.join("worker-loader"),
            super::worker_loader::Parent {
                env: settings.env.clone(),
                bindings: bindings.clone(),
                cpu_limit: settings.cpu_limit,
                wall_limit: settings.wall_limit,
                python: settings.python,
            },
        )
    });
    let generation = Generation::new(Arc::new(settings), bindings, snapshot);
    if let Some(loaders) = loaders {
        generation.set_worker_loaders(loaders);
    }
    Ok(generation)
}
