//! The snapshot build pipeline: cache lookup, base layer, main layer, and
//! the full wizer `.cwasm` (synchronously or in the background).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmtime::Module;
use wasmtime_wizer::Wizer;

use crate::cache::{hash_files, hash_tree, key, list_tree, prune, write_atomic};
use crate::error::{InvokeError, RuntimeError, SnapshotError};
use crate::layers::Layer;
use crate::native::{ExtModule, NativePackage, split_native, top_level_names};
use crate::runtime::{Inner, Runtime};
use crate::session::Session;
use crate::snapshot::{
    Restore, RestoreState, SnapInner, Snapshot, SnapshotSpec, SnapshotStats, collecting_sink,
    map_invoke, meta_json, status_error,
};
use crate::trace::{Timer, timed};
use crate::wasi_env::Mounts;
use crate::wizer_state::{LiveInstance, block_on};

/// Snapshots (and layers) kept per cache dir: the current one plus a few to
/// switch back to (e.g. undoing an edit) without rebuilding.
const KEEP_SNAPSHOTS: usize = 4;
/// Bases kept per cache dir (one per `python_modules` state).
const KEEP_BASES: usize = 2;

/// Cache file names for one spec.
struct Paths {
    full: PathBuf,
    full_meta: PathBuf,
    layer: PathBuf,
    base_wasm: PathBuf,
    base_instr: PathBuf,
    base_meta: PathBuf,
}

pub(crate) fn wasm_err(e: wasmtime::Error) -> SnapshotError {
    SnapshotError::Runtime(RuntimeError::Wasm(e.into()))
}

fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// Validates the spec and returns the guest's mounts for it.
pub(crate) fn mounts_for(rt: &Runtime, spec: &SnapshotSpec) -> Result<Mounts, SnapshotError> {
    let inner = &rt.inner;
    if !valid_module_name(&spec.main_module) {
        return Err(SnapshotError::Invalid(format!(
            "`{}` is not a Python module name",
            spec.main_module
        )));
    }
    let src = spec.module_root.canonicalize().map_err(|_| {
        SnapshotError::Invalid(format!(
            "the module root {} does not exist",
            spec.module_root.display()
        ))
    })?;
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            SnapshotError::Runtime(RuntimeError::Io {
                action,
                path,
                source,
            })
        }
    };
    std::fs::create_dir_all(&spec.cache_dir).map_err(io("creating", &spec.cache_dir))?;
    let python_modules = match spec.python_modules.as_deref().filter(|p| p.is_dir()) {
        Some(p) => p.canonicalize().map_err(io("reading", p))?,
        None => {
            let empty = spec.cache_dir.join("empty");
            std::fs::create_dir_all(&empty).map_err(io("creating", &empty))?;
            empty
        }
    };
    let pycache = spec.cache_dir.join("pycache");
    std::fs::create_dir_all(&pycache).map_err(io("creating", &pycache))?;
    let mounts = Mounts {
        stdlib: inner.guest.stdlib.clone(),
        runtime: inner.shim_dir.clone(),
        src,
        python_modules,
        pycache,
        bytecode_cache: spec.bytecode_cache,
    };
    Ok(mounts)
}

pub(crate) fn build(rt: &Runtime, spec: &SnapshotSpec) -> Result<Snapshot, SnapshotError> {
    let started = Instant::now();
    let inner = &rt.inner;
    let mounts = mounts_for(rt, spec)?;
    let src = mounts.src.clone();

    let pm_files = list_tree(&mounts.python_modules, &[])?;
    let guest = choose_guest(inner, &mounts.python_modules, &pm_files)?;
    let guest_hash = guest.hash.clone();
    let pm_hash = hash_files(&mounts.python_modules, &pm_files, false)?;
    let src_hash = hash_tree(&src, true, &[])?;
    let native: Vec<&str> = guest.refused.iter().map(|p| p.package.as_str()).collect();
    // Preload only the dependencies the sources import (production's snapshot
    // holds what the main import pulls in, nothing more), never native ones
    // or names a module-root file shadows.
    let imported = crate::imports::top_level_imports(&src);
    let preload: Vec<String> = top_level_names(&mounts.python_modules)
        .into_iter()
        .filter(|n| {
            imported.contains(n)
                && !native.contains(&n.as_str())
                && !src.join(n).exists()
                && !src.join(format!("{n}.py")).exists()
        })
        .collect();
    let base_key = key(&[
        ("runtime", crate::RUNTIME_VERSION),
        ("guest", &guest_hash),
        ("shim", &inner.shim_hash),
        ("python_modules", &pm_hash),
        ("preload", &preload.join(",")),
        // The cached top-level figures differ with and without bytecode.
        ("bytecode", if spec.bytecode_cache { "1" } else { "0" }),
    ]);
    let full_key = key(&[
        ("base", &base_key),
        ("src", &src_hash),
        ("main", &spec.main_module),
    ]);
    let dir = &spec.cache_dir;
    let paths = Paths {
        full: dir.join(format!("full-{full_key}.cwasm")),
        full_meta: dir.join(format!("full-{full_key}.json")),
        layer: dir.join(format!("layer-{full_key}.bin")),
        base_wasm: dir.join(format!("base-{base_key}.wasm")),
        base_instr: dir.join(format!("base-{base_key}.instr.cwasm")),
        base_meta: dir.join(format!("base-{base_key}.json")),
    };
    let finish = |restore, status: &Value, stats: SnapshotStats, log, pending| {
        snapshot(rt, &mounts, spec, restore, status, stats, log, pending)
    };

    // 1. A full snapshot in the cache: nothing to build.
    if let (Ok(meta), true) = (std::fs::read(&paths.full_meta), paths.full.is_file())
        && let Ok(meta) = serde_json::from_slice::<Value>(&meta)
    {
        let module = inner.load_module(&paths.full)?;
        let pre = inner.linker.instantiate_pre(&module).map_err(wasm_err)?;
        let status = meta["status"].clone();
        let stats = stats(true, false, started, &status, 0);
        return Ok(finish(
            Restore::Full(pre),
            &status,
            stats,
            Vec::new(),
            false,
        ));
    }

    // 2. A layer in the cache on top of a cached base.
    if paths.base_instr.is_file()
        && let Some(layer) = Layer::load(&paths.layer)
    {
        let module = inner.load_module(&paths.base_instr)?;
        let pre = inner.linker.instantiate_pre(&module).map_err(wasm_err)?;
        let status: Value = serde_json::from_str(&layer.status).unwrap_or(Value::Null);
        let stats = stats(true, false, started, &status, layer.delta_bytes());
        return complete_layered(
            rt,
            spec,
            &mounts,
            &paths,
            pre,
            module,
            layer,
            status,
            stats,
            Vec::new(),
            finish,
        );
    }

    // 3. Build: base (if needed), then the main module's layer.
    let (sink, log) = collecting_sink();
    let (base_module, base_built) = if spec.layered {
        ensure_base(rt, &guest, &mounts, &preload, &paths, sink.clone())?
    } else {
        (None, false)
    };
    let Some(base_module) = base_module else {
        // Not layered (deploy), or the guest cannot layer: one wizer run
        // that imports the main module directly.
        let (wasm, status) = direct_full(rt, &guest, &mounts, &spec.main_module, sink)?;
        let module = precompile(inner, &wasm, &paths.full)?;
        write_atomic(&paths.full_meta, meta_json(&status).to_string().as_bytes())?;
        prune(&spec.cache_dir, "full-", KEEP_SNAPSHOTS);
        let pre = inner.linker.instantiate_pre(&module).map_err(wasm_err)?;
        let log = take(&log);
        return Ok(finish(
            Restore::Full(pre),
            &status,
            stats(false, base_built, started, &status, 0),
            log,
            false,
        ));
    };
    let pre = inner
        .linker
        .instantiate_pre(&base_module)
        .map_err(wasm_err)?;
    let store = rt.snapshot_store(&mounts, &spec.main_module, sink)?;
    let mut session = {
        let mut store = store;
        let instance = pre.instantiate(&mut store).map_err(wasm_err)?;
        Session::new(store, instance).map_err(SnapshotError::Guest)?
    };
    let before = session.memory.data(&session.store).to_vec();
    let load_timer = Timer::new("load_main");
    let (reply, cpu) = crate::cpu_timed(|| {
        session.invoke(
            &json!({"v": 1, "kind": "load_main", "module": spec.main_module}),
            &[],
        )
    });
    let (reply, _) = reply.map_err(map_invoke)?;
    drop(load_timer);
    let mut status = reply.get("result").cloned().unwrap_or(Value::Null);
    record_cpu(&mut status, cpu);
    if let Some(e) = status_error(&status, &guest.refused) {
        return Err(e);
    }
    let _t = Timer::new("layer capture");
    let layer = Layer::capture(&before, &mut session, status.to_string());
    drop(session);
    layer.save(&paths.layer)?;
    prune(&spec.cache_dir, "layer-", KEEP_SNAPSHOTS);
    let stats = stats(false, base_built, started, &status, layer.delta_bytes());
    complete_layered(
        rt,
        spec,
        &mounts,
        &paths,
        pre,
        base_module,
        layer,
        status,
        stats,
        take(&log),
        finish,
    )
}

fn take(log: &Arc<Mutex<Vec<crate::LogLine>>>) -> Vec<crate::LogLine> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Adds the host-measured CPU time of the top level (`startup_cpu_ms`) to
/// the guest's status, so it is cached with the snapshot beside `startup_ms`.
fn record_cpu(status: &mut Value, cpu: Option<Duration>) {
    if let (Some(obj), Some(cpu)) = (status.as_object_mut(), cpu) {
        let ms = (cpu.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        obj.insert("startup_cpu_ms".into(), json!(ms));
    }
}

fn stats(
    cache_hit: bool,
    base_built: bool,
    started: Instant,
    status: &Value,
    delta_bytes: usize,
) -> SnapshotStats {
    SnapshotStats {
        cache_hit,
        base_built,
        build_time: started.elapsed(),
        startup_ms: status
            .get("startup_ms")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        startup_cpu_ms: status.get("startup_cpu_ms").and_then(Value::as_f64),
        delta_bytes,
    }
}

#[allow(clippy::too_many_arguments)]
fn snapshot(
    rt: &Runtime,
    mounts: &Mounts,
    spec: &SnapshotSpec,
    restore: Restore,
    status: &Value,
    stats: SnapshotStats,
    build_log: Vec<crate::LogLine>,
    pending: bool,
) -> Snapshot {
    Snapshot {
        inner: Arc::new(SnapInner {
            rt: rt.clone(),
            mounts: mounts.clone(),
            main_module: spec.main_module.clone(),
            entrypoints: status.get("entrypoints").cloned().unwrap_or(Value::Null),
            stats,
            build_log,
            state: Mutex::new(RestoreState {
                restore,
                pending,
                error: None,
            }),
            changed: Condvar::new(),
        }),
    }
}

/// Returns the layered snapshot and starts the full build (or, when
/// `spec.layered` is false, does the full build first and returns that).
#[allow(clippy::too_many_arguments)]
fn complete_layered(
    rt: &Runtime,
    spec: &SnapshotSpec,
    mounts: &Mounts,
    paths: &Paths,
    pre: wasmtime::InstancePre<crate::host::HostState>,
    base_module: Module,
    layer: Layer,
    status: Value,
    stats: SnapshotStats,
    log: Vec<crate::LogLine>,
    finish: impl Fn(Restore, &Value, SnapshotStats, Vec<crate::LogLine>, bool) -> Snapshot,
) -> Result<Snapshot, SnapshotError> {
    let layer = Arc::new(layer);
    let job = FullJob {
        rt: rt.clone(),
        mounts: mounts.clone(),
        main: spec.main_module.clone(),
        base_wasm: paths.base_wasm.clone(),
        base_module,
        layer: layer.clone(),
        out: paths.full.clone(),
        out_meta: paths.full_meta.clone(),
        status: status.clone(),
    };
    if !spec.layered {
        let pre = job.run()?;
        return Ok(finish(Restore::Full(pre), &status, stats, log, false));
    }
    let snap = finish(
        Restore::Layered { pre, layer },
        &status,
        stats,
        log,
        spec.full_in_background,
    );
    if !spec.full_in_background {
        return Ok(snap);
    }
    let weak = Arc::downgrade(&snap.inner);
    std::thread::Builder::new()
        .name("pywrangler-snapshot".into())
        .spawn(move || {
            let result = job.run();
            if let Some(inner) = weak.upgrade() {
                let mut st = inner.state.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(pre) => st.restore = Restore::Full(pre),
                    Err(e) => st.error = Some(e.to_string()),
                }
                st.pending = false;
                inner.changed.notify_all();
            }
        })
        .map_err(|e| SnapshotError::Guest(format!("could not start the background build: {e}")))?;
    Ok(snap)
}

/// Turns base + layer into a full wizer snapshot `.cwasm`.
struct FullJob {
    rt: Runtime,
    mounts: Mounts,
    main: String,
    base_wasm: PathBuf,
    base_module: Module,
    layer: Arc<Layer>,
    out: PathBuf,
    out_meta: PathBuf,
    status: Value,
}

impl FullJob {
    fn run(&self) -> Result<wasmtime::InstancePre<crate::host::HostState>, SnapshotError> {
        let inner = &self.rt.inner;
        let wasm = std::fs::read(&self.base_wasm).map_err(|source| RuntimeError::Io {
            action: "reading",
            path: self.base_wasm.clone(),
            source,
        })?;
        let wizer = Wizer::new();
        let (cx, _) = wizer.instrument(&wasm).map_err(wasm_err)?;
        let (sink, _) = collecting_sink();
        let mut store = self.rt.snapshot_store(&self.mounts, &self.main, sink)?;
        let instance = inner
            .linker
            .instantiate(&mut store, &self.base_module)
            .map_err(wasm_err)?;
        let mut session = Session::new(store, instance).map_err(SnapshotError::Guest)?;
        self.layer.apply(&mut session).map_err(wasm_err)?;
        let instance = session.instance;
        let snapshot = block_on(wizer.snapshot(
            &cx,
            &mut LiveInstance {
                store: &mut session.store,
                instance,
            },
        ))
        .map_err(wasm_err)?;
        drop(session);
        let module = precompile(inner, &snapshot, &self.out)?;
        write_atomic(
            &self.out_meta,
            meta_json(&self.status).to_string().as_bytes(),
        )?;
        if let Some(dir) = self.out.parent() {
            prune(dir, "full-", KEEP_SNAPSHOTS);
        }
        inner.linker.instantiate_pre(&module).map_err(wasm_err)
    }
}

/// Compiles `wasm`, writes the `.cwasm` atomically and maps it back.
fn precompile(inner: &Inner, wasm: &[u8], path: &Path) -> Result<Module, SnapshotError> {
    let bytes = timed("compile", || inner.engine.precompile_module(wasm)).map_err(wasm_err)?;
    write_atomic(path, &bytes)?;
    Ok(inner.load_module(path)?)
}

/// The guest module a build uses: the runtime's own, or, when `python_modules` holds Pyodide
/// extension modules and the guest is linked from parts (3.14), one with them linked in.
pub(crate) struct GuestChoice {
    pub(crate) wasm: PathBuf,
    /// Stands in for a hash of the module's contents in cache keys.
    pub(crate) hash: String,
    /// Native packages that cannot run here, with the reason.
    pub(crate) refused: Vec<NativePackage>,
}

/// Chooses the guest for `python_modules`, whose files `files` lists (from
/// [`crate::cache::list_tree`], so a build that also hashes them walks the tree once).
pub(crate) fn choose_guest(
    inner: &Inner,
    python_modules: &Path,
    files: &[PathBuf],
) -> Result<GuestChoice, SnapshotError> {
    let python = inner.guest.version();
    let (natives, mut refused) = split_native(python_modules, files, python);
    if let (Some(dir), false) = (&inner.guest.link_dir, natives.is_empty()) {
        let linked = crate::link::ensure_linked(
            dir,
            &inner.cache_root,
            python,
            &inner.config.progress,
            &natives,
        )?;
        refused.extend(linked.refused);
        return Ok(GuestChoice {
            wasm: linked.wasm,
            hash: format!("link-{}", linked.key),
            refused,
        });
    }
    Ok(GuestChoice {
        wasm: inner.guest.wasm.clone(),
        hash: inner.guest_hash()?,
        refused: refuse_unlinked(natives, refused, python),
    })
}

/// What a guest that links no native modules makes of them: `natives` join `refused`, under
/// their package where it is refused already, else with the reason that this guest links none.
fn refuse_unlinked(
    natives: Vec<ExtModule>,
    mut refused: Vec<NativePackage>,
    python: &str,
) -> Vec<NativePackage> {
    for m in natives {
        match refused.iter_mut().find(|p| p.package == m.package) {
            Some(p) => p.files.push(PathBuf::from(&m.rel)),
            None => refused.push(NativePackage {
                package: m.package,
                files: vec![PathBuf::from(&m.rel)],
                reason: Some(format!(
                    "the local Python {python} runtime links no native modules (its Python 3.14 runtime does)"
                )),
            }),
        }
    }
    refused
}

/// Instruments the guest, loading its compiled form from the runtime cache.
pub(crate) fn instrumented_guest(
    inner: &Inner,
    guest: &GuestChoice,
) -> Result<(Vec<u8>, Module), SnapshotError> {
    let wasm = std::fs::read(&guest.wasm).map_err(|source| RuntimeError::Io {
        action: "reading",
        path: guest.wasm.clone(),
        source,
    })?;
    let path = inner.cache_root.join(format!(
        "guest-{}-{}.instr.cwasm",
        crate::RUNTIME_VERSION,
        guest.hash
    ));
    let (_, instrumented) = Wizer::new().instrument(&wasm).map_err(wasm_err)?;
    let module = if path.is_file() {
        inner.load_module(&path)?
    } else {
        let python = inner.guest.version().to_string();
        let started = std::time::Instant::now();
        inner.config.progress.emit(crate::Progress::Compiling {
            python: python.clone(),
        });
        let module = precompile(inner, &instrumented, &path)?;
        inner.config.progress.emit(crate::Progress::Compiled {
            python,
            elapsed: started.elapsed(),
        });
        // Two guests (3.13, 3.14) are in use at once, and projects with native modules
        // have their own; keep a few older builds.
        prune(
            &inner.cache_root,
            &format!("guest-{}-", crate::RUNTIME_VERSION),
            6,
        );
        module
    };
    Ok((wasm, module))
}

/// Runs `_initialize` + `wizer-initialize` on the instrumented guest.
pub(crate) fn init_guest(
    rt: &Runtime,
    module: &Module,
    mounts: &Mounts,
    main: &str,
    sink: crate::LogSink,
) -> Result<(Session, Value), SnapshotError> {
    let inner = &rt.inner;
    let mut store = rt.snapshot_store(mounts, main, sink)?;
    let instance = inner
        .linker
        .instantiate(&mut store, module)
        .map_err(wasm_err)?;
    let mut session = Session::new(store, instance).map_err(SnapshotError::Guest)?;
    if session
        .instance
        .get_func(&mut session.store, "_initialize")
        .is_some()
    {
        session.call_void("_initialize").map_err(map_invoke)?;
    }
    let (init, cpu) =
        crate::cpu_timed(|| timed("wizer-initialize", || session.call_void("wizer-initialize")));
    init.map_err(map_invoke)?;
    let mut status = session.init_status().map_err(map_invoke)?;
    record_cpu(&mut status, cpu);
    Ok((session, status))
}

fn wizer_snapshot(wasm: &[u8], session: &mut Session) -> Result<Vec<u8>, SnapshotError> {
    let wizer = Wizer::new();
    let (cx, _) = timed("instrument", || wizer.instrument(wasm)).map_err(wasm_err)?;
    let instance = session.instance;
    let _t = Timer::new("wizer snapshot");
    block_on(wizer.snapshot(
        &cx,
        &mut LiveInstance {
            store: &mut session.store,
            instance,
        },
    ))
    .map_err(wasm_err)
}

/// The base layer: CPython initialised without a main module, with the
/// dependencies preloaded. `None` when the guest does not support layering.
fn ensure_base(
    rt: &Runtime,
    guest: &GuestChoice,
    mounts: &Mounts,
    preload: &[String],
    paths: &Paths,
    sink: crate::LogSink,
) -> Result<(Option<Module>, bool), SnapshotError> {
    let inner = &rt.inner;
    if let Ok(meta) = std::fs::read(&paths.base_meta) {
        let layering = serde_json::from_slice::<Value>(&meta)
            .ok()
            .and_then(|m| m["layering"].as_bool())
            .unwrap_or(false);
        if !layering {
            return Ok((None, false));
        }
        if paths.base_instr.is_file() && paths.base_wasm.is_file() {
            return Ok((Some(inner.load_module(&paths.base_instr)?), false));
        }
    }
    let (wasm, module) = instrumented_guest(inner, guest)?;
    let (mut session, status) = init_guest(rt, &module, mounts, "", sink.clone())?;
    // Layering needs the guest's base mode (`"base": true`, docs/runtime.md).
    let layering = status.get("ok").and_then(Value::as_bool) == Some(true)
        && status.get("base").and_then(Value::as_bool) == Some(true);
    let mut preloaded = Value::Null;
    if layering && !preload.is_empty() {
        // A failed preload only costs speed: the main import retries it. One that traps (a
        // native module that panics at import) leaves the instance unusable: start over
        // without preloading, so the snapshot never holds a half-run import.
        match session.invoke(&json!({"v": 1, "kind": "preload", "modules": preload}), &[]) {
            Ok((reply, _)) => preloaded = reply.get("result").cloned().unwrap_or(Value::Null),
            Err(InvokeError::Python(_)) => {}
            Err(_) => session = init_guest(rt, &module, mounts, "", sink)?.0,
        }
    }
    let meta = json!({"v": 1, "layering": layering, "status": status, "preload": preloaded});
    if !layering {
        write_atomic(&paths.base_meta, meta.to_string().as_bytes())?;
        return Ok((None, true));
    }
    let base = wizer_snapshot(&wasm, &mut session)?;
    drop(session);
    write_atomic(&paths.base_wasm, &base)?;
    let (_, instrumented) = Wizer::new().instrument(&base).map_err(wasm_err)?;
    let module = precompile(inner, &instrumented, &paths.base_instr)?;
    write_atomic(&paths.base_meta, meta.to_string().as_bytes())?;
    if let Some(dir) = paths.base_meta.parent() {
        prune(dir, "base-", KEEP_BASES);
    }
    Ok((Some(module), true))
}

/// One wizer run that imports the main module directly (no layering).
fn direct_full(
    rt: &Runtime,
    guest: &GuestChoice,
    mounts: &Mounts,
    main: &str,
    sink: crate::LogSink,
) -> Result<(Vec<u8>, Value), SnapshotError> {
    let (wasm, module) = instrumented_guest(&rt.inner, guest)?;
    let (mut session, status) = init_guest(rt, &module, mounts, main, sink)?;
    if let Some(e) = status_error(&status, &guest.refused) {
        return Err(e);
    }
    let snapshot = wizer_snapshot(&wasm, &mut session)?;
    Ok((snapshot, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = "it ships shared libraries, which the local guest cannot load";

    /// A `python_modules` with an extension module for 3.14 and one for 3.13 in the same
    /// package, an abi3 one, a shared library and pure Python.
    fn python_modules() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in [
            ("fast/__init__.py", "from ._core import *\n"),
            ("fast/_core.cpython-314-wasm32-emscripten.so", "\0asm314"),
            ("fast/_old.cpython-313-wasm32-emscripten.so", "\0asm313"),
            ("msg/_c.abi3.so", "\0asm"),
            ("blas/libopenblas.so", "\0asm"),
            ("pure/__init__.py", ""),
            ("pure/__pycache__/__init__.cpython-314.pyc", ""),
        ] {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    fn linkable(natives: &[ExtModule]) -> Vec<(&str, &str, &str)> {
        natives
            .iter()
            .map(|m| (m.rel.as_str(), m.package.as_str(), m.init.as_str()))
            .collect()
    }

    fn refusals(refused: &[NativePackage]) -> Vec<(&str, Vec<String>, &str)> {
        refused
            .iter()
            .map(|p| {
                let files = p
                    .files
                    .iter()
                    .map(|f| crate::cache::slash_path(f))
                    .collect();
                (
                    p.package.as_str(),
                    files,
                    p.reason.as_deref().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The one listing of `python_modules` that the snapshot key hashes (bytecode and
    /// `__pycache__` left out) gives the extension modules to link and the refused packages.
    #[test]
    fn one_listing_of_python_modules_gives_the_hash_and_the_native_modules() {
        let dir = python_modules();
        let pm = dir.path();
        let files = list_tree(pm, &[]).expect("list");
        let listed: Vec<String> = files.iter().map(|f| crate::cache::slash_path(f)).collect();
        assert_eq!(
            listed,
            [
                "blas/libopenblas.so",
                "fast/__init__.py",
                "fast/_core.cpython-314-wasm32-emscripten.so",
                "fast/_old.cpython-313-wasm32-emscripten.so",
                "msg/_c.abi3.so",
                "pure/__init__.py",
            ]
        );
        let (natives, refused) = split_native(pm, &files, "3.14");
        let core = "fast/_core.cpython-314-wasm32-emscripten.so";
        assert_eq!(
            linkable(&natives),
            [
                (core, "fast", "PyInit__core"),
                ("msg/_c.abi3.so", "msg", "PyInit__c"),
            ]
        );
        assert_eq!(natives[0].path, pm.join(core));
        let other = "_old.cpython-313-wasm32-emscripten.so is built for another Python than the guest's 3.14";
        assert_eq!(
            refusals(&refused),
            [
                ("blas", vec!["blas/libopenblas.so".into()], SHARED),
                (
                    "fast",
                    vec!["fast/_old.cpython-313-wasm32-emscripten.so".into()],
                    other
                ),
            ]
        );
    }

    /// A guest that links nothing (3.13) refuses its extension modules too: under their
    /// package where it is refused already (keeping that reason), else with its own reason.
    #[test]
    fn a_guest_that_links_nothing_refuses_every_native_module() {
        let dir = python_modules();
        let pm = dir.path();
        let files = list_tree(pm, &[]).expect("list");
        let (natives, refused) = split_native(pm, &files, "3.13");
        let old = "fast/_old.cpython-313-wasm32-emscripten.so";
        assert_eq!(
            linkable(&natives),
            [
                (old, "fast", "PyInit__old"),
                ("msg/_c.abi3.so", "msg", "PyInit__c"),
            ]
        );
        let unlinked =
            "the local Python 3.13 runtime links no native modules (its Python 3.14 runtime does)";
        let other = "_core.cpython-314-wasm32-emscripten.so is built for another Python than the guest's 3.13";
        let all = refuse_unlinked(natives, refused, "3.13");
        assert_eq!(
            refusals(&all),
            [
                ("blas", vec!["blas/libopenblas.so".into()], SHARED),
                (
                    "fast",
                    vec![
                        "fast/_core.cpython-314-wasm32-emscripten.so".into(),
                        old.into()
                    ],
                    other
                ),
                ("msg", vec!["msg/_c.abi3.so".into()], unlinked),
            ]
        );
    }
}
