//! Finds the guest (`pyworker.wasm` + stdlib) and materialises the embedded
//! Python shim packages in a content-addressed cache directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache::io;
use crate::error::RuntimeError;

include!(concat!(env!("OUT_DIR"), "/shim_files.rs"));

/// Env var naming guest directories at run time, a path list like `PATH`
/// (`/g/313:/g/314`); searched before the directories baked in at build time.
pub const GUEST_DIR_ENV: &str = "PYWRANGLER_GUEST_DIR";

/// The guest's files on disk.
#[derive(Debug, Clone)]
pub(crate) struct GuestFiles {
    pub(crate) wasm: PathBuf,
    /// Host stdlib dir and its guest path, e.g. `/lib/python3.13`.
    pub(crate) stdlib: (PathBuf, String),
    /// The native CPython the guest was built with (BUILD_INFO `build_python`),
    /// able to write `.pyc` files the guest accepts.
    pub(crate) build_python: Option<PathBuf>,
    /// The embedded shim, precompiled for this guest when it was packed
    /// (`shim/` of an unpacked embedded guest).
    pub(crate) prebuilt_shim: Option<PathBuf>,
    /// The guest directory when it is linked from a `LINK` plan (the 3.14 guest): a project's
    /// native extension modules can be linked into a guest of its own.
    pub(crate) link_dir: Option<PathBuf>,
}

impl GuestFiles {
    /// The guest's Python minor version, e.g. `3.13`.
    pub(crate) fn version(&self) -> &str {
        self.stdlib.1.trim_start_matches("/lib/python")
    }
}

/// Where a candidate guest comes from.
enum Source {
    Dir(PathBuf),
    Embedded(&'static crate::embedded::EmbeddedGuest),
}

/// Locates the guest: `explicit`, else the first candidate whose Python is
/// `python` (e.g. `3.14`), else the first usable one. Candidates, in order: the
/// directories of `$PYWRANGLER_GUEST_DIR`, the guests packed into this binary
/// (feature `embed-guests`; unpacked into `<cache_root>/guests/` on first use),
/// the directories baked in at build time. A directory holding a `LINK` plan
/// instead of `pyworker.wasm` (the 3.14 guest) is linked into
/// `<cache_root>/guest-link/` on first use.
pub(crate) fn locate(
    explicit: Option<&Path>,
    python: Option<&str>,
    cache_root: &Path,
    progress: &crate::ProgressSink,
) -> Result<GuestFiles, RuntimeError> {
    let from_dir = |dir: PathBuf| {
        let version = stdlib_dir(&dir)
            .ok()
            .map(|(_, name)| name.trim_start_matches("python").to_string());
        (Source::Dir(dir), version)
    };
    let candidates: Vec<(Source, Option<String>)> = match explicit {
        Some(dir) => vec![from_dir(dir.to_path_buf())],
        None => {
            let env = std::env::var_os(GUEST_DIR_ENV).unwrap_or_default();
            let env_dirs: Vec<PathBuf> = std::env::split_paths(&env).collect();
            let baked: Vec<PathBuf> =
                std::env::split_paths(env!("PYWRANGLER_BAKED_GUEST_DIRS")).collect();
            let embedded = crate::embedded::EMBEDDED_GUESTS
                .iter()
                .map(|g| (Source::Embedded(g), Some(g.version.to_string())));
            let dirs = |list: Vec<PathBuf>| {
                list.into_iter()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(from_dir)
                    .collect::<Vec<_>>()
            };
            dirs(env_dirs)
                .into_iter()
                .chain(embedded)
                .chain(dirs(baked))
                .collect()
        }
    };
    let chosen = candidates
        .iter()
        .find(|(_, v)| python.is_some() && v.as_deref() == python)
        .or_else(|| candidates.iter().find(|(_, v)| v.is_some()))
        .or_else(|| candidates.first())
        .ok_or(RuntimeError::GuestMissing(None))?;
    let dir = match &chosen.0 {
        Source::Dir(dir) => dir.clone(),
        Source::Embedded(guest) => crate::embedded::unpack(guest, cache_root, progress)?,
    };
    open(&dir, cache_root, progress)
}

/// `lib/python3.x` of a guest directory, and its name.
fn stdlib_dir(dir: &Path) -> Result<(PathBuf, String), RuntimeError> {
    let lib = dir.join("lib");
    let stdlib = std::fs::read_dir(&lib)
        .map_err(|_| RuntimeError::GuestMissing(Some(lib.clone())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        })
        .min()
        .ok_or_else(|| RuntimeError::GuestMissing(Some(lib.join("python3.*"))))?;
    let name = stdlib
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((stdlib, name))
}

fn open(
    dir: &Path,
    cache_root: &Path,
    progress: &crate::ProgressSink,
) -> Result<GuestFiles, RuntimeError> {
    let (stdlib, name) = stdlib_dir(dir)?;
    let wasm = dir.join("pyworker.wasm");
    let (wasm, link_dir) = if wasm.is_file() {
        (wasm, None)
    } else if dir.join(crate::link::PLAN_FILE).is_file() {
        let python = name.trim_start_matches("python");
        let linked = crate::link::ensure_linked(dir, cache_root, python, progress, &[])?;
        (linked.wasm, Some(dir.to_path_buf()))
    } else {
        return Err(RuntimeError::GuestMissing(Some(wasm)));
    };
    let build_python = std::fs::read_to_string(dir.join("BUILD_INFO"))
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("build_python=")
                    .map(|p| PathBuf::from(p.trim()))
            })
        })
        .filter(|p| p.is_file());
    let prebuilt_shim = Some(dir.join("shim")).filter(|d| d.is_dir());
    Ok(GuestFiles {
        build_python,
        prebuilt_shim,
        link_dir,
        wasm,
        stdlib: (stdlib, format!("/lib/{name}")),
    })
}

/// Hash of the embedded shim files (part of every cache key).
pub(crate) fn embedded_shim_hash() -> String {
    let mut h = Sha256::new();
    for (path, data) in SHIM_FILES {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    hex(&h.finalize()[..16])
}

/// Writes the embedded shim into `<cache>/shim-<hash>` once and returns it.
///
/// With the guest's `build_python`, the files are also precompiled to
/// unchecked-hash `.pyc` with guest paths (`/runtime/...`), so the guest
/// never compiles the shim from source (0.2–0.6 s at start-up, and ~40 ms per
/// lazily imported module at run time).
pub(crate) fn extract_shim(
    cache_root: &Path,
    build_python: Option<&Path>,
    python_version: &str,
) -> Result<(PathBuf, String), RuntimeError> {
    let hash = embedded_shim_hash();
    // `.pyc` files are per Python version: each guest gets its own copy.
    let suffix = match build_python {
        Some(_) => format!("-pyc{}", python_version.replace('.', "")),
        None => String::new(),
    };
    let dir = cache_root.join(format!("shim-{hash}{suffix}"));
    if dir.is_dir() {
        return Ok((dir, hash));
    }
    std::fs::create_dir_all(cache_root).map_err(io("creating", cache_root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".shim-")
        .tempdir_in(cache_root)
        .map_err(io("creating a temp dir in", cache_root))?;
    for (rel, data) in SHIM_FILES {
        let path = tmp.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        std::fs::write(&path, data).map_err(io("writing", &path))?;
    }
    if let Some(python) = build_python {
        let _ = std::process::Command::new(python)
            .args([
                "-m",
                "compileall",
                "-q",
                "-j",
                "1", // a worker process would re-exec a wrapped build_python without its wrapper
                "--invalidation-mode",
                "unchecked-hash",
                "-d",
                "/runtime",
            ])
            .arg(tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    let staged = tmp.keep();
    if std::fs::rename(&staged, &dir).is_err() {
        // Another process won the race; its copy is identical.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok((dir, hash))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
