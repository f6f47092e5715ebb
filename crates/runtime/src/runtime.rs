//! The process-wide part: one wasmtime `Engine` (pooling allocator, CoW
//! memory images, epoch interruption driven by a ticker thread) and one
//! `Linker` with WASI preview 1 and the `pywrangler` imports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig,
};

use crate::error::RuntimeError;
use crate::guest::{self, GuestFiles};
use crate::host::{self, HostState};

/// Env var: a directory of shim packages to use instead of the embedded ones.
pub const SHIM_DIR_ENV: &str = "PYWRANGLER_SHIM_DIR";

/// Settings for [`Runtime::new`]; `Default` suits `dev`.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The guest directory (`pyworker.wasm` or a `LINK` plan, + `lib/python3.x`);
    /// default: the one for [`RuntimeConfig::python`] among
    /// `$PYWRANGLER_GUEST_DIR`, then those baked in at build time.
    pub guest_dir: Option<PathBuf>,
    /// The Python minor version the Worker runs on Cloudflare (`"3.14"`),
    /// which picks the guest; `None`: the first guest found.
    pub python: Option<String>,
    /// Told about one-time preparation (unpacking, linking, compiling the guest).
    pub progress: crate::ProgressSink,
    /// Use these Python shim packages instead of the embedded ones (also
    /// `$PYWRANGLER_SHIM_DIR`, for working on the shim without rebuilding).
    pub shim_dir: Option<PathBuf>,
    /// Where runtime-wide artefacts go (extracted shim, compiled guest);
    /// default `${PYWRANGLER_CACHE_DIR:-~/.cache/pywrangler-rs}/runtime`.
    pub cache_root: Option<PathBuf>,
    /// How many instances may be alive at once (pooling allocator slots).
    pub max_instances: u32,
    /// Largest memory any one instance may be given, in bytes.
    pub max_memory: u64,
    /// Epoch tick: the granularity of time limits.
    pub epoch_tick: Duration,
    /// Time limit for the Worker's top-level code at snapshot time.
    pub snapshot_time_limit: Duration,
    /// Native stack the guest may use, in bytes (default 1 MiB). With less
    /// than about 4 MiB, deep C-level recursion (`json.loads` of 5000 nested
    /// arrays, recursion through C calls) traps with `call stack exhausted`
    /// before CPython's C recursion limit raises `RecursionError`; `dev` uses
    /// 8 MiB. The guest runs on the calling thread's stack, so that thread
    /// needs this much to spare (per nested instance in a chain of calls).
    pub max_wasm_stack: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            guest_dir: None,
            python: None,
            progress: crate::ProgressSink::default(),
            shim_dir: None,
            cache_root: None,
            max_instances: 32,
            max_memory: 1 << 30,
            epoch_tick: Duration::from_millis(5),
            snapshot_time_limit: Duration::from_secs(60),
            max_wasm_stack: 1 << 20,
        }
    }
}

/// A wasmtime engine set up for Python Workers. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) config: RuntimeConfig,
    pub(crate) guest: GuestFiles,
    pub(crate) shim_dir: PathBuf,
    pub(crate) shim_hash: String,
    pub(crate) cache_root: PathBuf,
    guest_hash: OnceLock<String>,
    /// Deserialised modules by file path, so a snapshot is mapped only once.
    pub(crate) modules: Mutex<HashMap<PathBuf, Module>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn default_cache_root() -> PathBuf {
    crate::cache_dir::user_cache_dir().join("runtime")
}

impl Runtime {
    /// Creates the engine, the linker and the epoch ticker, and finds the guest.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let cache_root = config.cache_root.clone().unwrap_or_else(default_cache_root);
        let guest = guest::locate(
            config.guest_dir.as_deref(),
            config.python.as_deref(),
            &cache_root,
            &config.progress,
        )?;
        let shim_override = config.shim_dir.clone().or_else(|| {
            std::env::var_os(SHIM_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let (shim_dir, shim_hash) = match &shim_override {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(RuntimeError::Io {
                        action: "reading the shim dir",
                        path: dir.clone(),
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
                (dir.clone(), crate::cache::hash_tree(dir, true, &[])?)
            }
            // Packed with this binary's shim, precompiled for this guest.
            None if guest.prebuilt_shim.is_some() => (
                guest.prebuilt_shim.clone().unwrap_or_default(),
                guest::embedded_shim_hash(),
            ),
            None => {
                guest::extract_shim(&cache_root, guest.build_python.as_deref(), guest.version())?
            }
        };

        let mut pool = PoolingAllocationConfig::default();
        pool.total_memories(config.max_instances)
            .total_core_instances(config.max_instances)
            .total_tables(config.max_instances)
            .total_component_instances(0)
            .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
            .table_elements(200_000)
            .max_core_instance_size(4 << 20);
        let mut wasm_config = Config::new();
        let clif = crate::clif_cache::ClifCache::new(
            cache_root.join(format!("clif-{}", crate::RUNTIME_VERSION)),
        );
        wasm_config
            .enable_incremental_compilation(Arc::new(clif))
            .map_err(|e| RuntimeError::Wasm(e.into()))?;
        wasm_config
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            // Only a bound here (instances run on the caller's thread, not on
            // async stacks), but wasmtime requires it ≥ max_wasm_stack.
            .async_stack_size(config.max_wasm_stack.max(2 << 20))
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm_config).map_err(|e| RuntimeError::Wasm(e.into()))?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| RuntimeError::Wasm(e.into()))?;

        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), config.epoch_tick, stop.clone());

        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                guest,
                shim_dir,
                shim_hash,
                cache_root,
                guest_hash: OnceLock::new(),
                modules: Mutex::default(),
                stop,
            }),
        })
    }

    /// The Python minor version of the guest, e.g. `3.13`.
    pub fn python_version(&self) -> &str {
        self.inner.guest.version()
    }

    /// The guest directory in use.
    pub fn guest_wasm(&self) -> &Path {
        &self.inner.guest.wasm
    }
}

impl Inner {
    /// SHA-256 (truncated) of the guest wasm, computed once per process.
    pub(crate) fn guest_hash(&self) -> Result<String, RuntimeError> {
        if let Some(h) = self.guest_hash.get() {
            return Ok(h.clone());
        }
        let h = crate::cache::hash_file(&self.guest.wasm)?;
        Ok(self.guest_hash.get_or_init(|| h).clone())
    }

    /// Loads a precompiled module, reusing a base or guest module already
    /// mapped by this process.
    pub(crate) fn load_module(&self, path: &Path) -> Result<Module, RuntimeError> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(path) {
            return Ok(m.clone());
        }
        // SAFETY: the file was written by `Engine::precompile_module` of this
        // crate version (the version is part of the cache key and the file is
        // renamed into place only when complete); wasmtime checks the engine
        // configuration and version header before using it.
        #[allow(unsafe_code)]
        let module = unsafe { Module::deserialize_file(&self.engine, path) }.map_err(|e| {
            RuntimeError::Wasm(
                anyhow::Error::from(e).context(format!("loading {}", path.display())),
            )
        })?;
        // Bases and the guest are reused by every rebuild; full snapshots are
        // loaded once per build, so keeping them would only pin old files.
        let shared = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .is_some_and(|n| n.starts_with("base-") || n.starts_with("guest-"));
        if shared {
            modules.insert(path.to_path_buf(), module.clone());
        }
        Ok(module)
    }
}

fn spawn_ticker(engine: Engine, tick: Duration, stop: Arc<AtomicBool>) {
    let tick = tick.max(Duration::from_millis(1));
    std::thread::Builder::new()
        .name("pywrangler-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        })
        .ok();
}
