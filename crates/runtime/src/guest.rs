//! Finds the guest (`pyworker.wasm` + stdlib) and materialises the embedded
//! Python shim packages in a content-addressed cache directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::RuntimeError;

include!(concat!(env!("OUT_DIR"), "/shim_files.rs"));

/// Env var naming the guest directory at run time (overrides the baked one).
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
}

/// Locates the guest: `explicit`, else `$PYWRANGLER_GUEST_DIR`, else the
/// directory baked in at compile time by build.rs.
pub(crate) fn locate(explicit: Option<&Path>) -> Result<GuestFiles, RuntimeError> {
    let dir = explicit
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(GUEST_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| {
            Some(env!("PYWRANGLER_BAKED_GUEST_DIR"))
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .ok_or(RuntimeError::GuestMissing(None))?;
    let wasm = dir.join("pyworker.wasm");
    if !wasm.is_file() {
        return Err(RuntimeError::GuestMissing(Some(wasm)));
    }
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
    let build_python = std::fs::read_to_string(dir.join("BUILD_INFO"))
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("build_python=")
                    .map(|p| PathBuf::from(p.trim()))
            })
        })
        .filter(|p| p.is_file());
    Ok(GuestFiles {
        build_python,
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
) -> Result<(PathBuf, String), RuntimeError> {
    let hash = embedded_shim_hash();
    let suffix = if build_python.is_some() { "-pyc" } else { "" };
    let dir = cache_root.join(format!("shim-{hash}{suffix}"));
    if dir.is_dir() {
        return Ok((dir, hash));
    }
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| RuntimeError::Io {
            action,
            path,
            source,
        }
    };
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
                "0",
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
