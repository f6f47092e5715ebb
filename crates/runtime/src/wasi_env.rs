//! The guest's WASI world: exactly the preopens and environment of the ABI
//! table, built identically for the snapshot step and for every restore
//! (libc's preopen table is part of the snapshot, so the order matters).

use std::path::{Path, PathBuf};

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::RuntimeError;
use crate::logs::LineWriter;

/// Host directories mounted into the guest.
#[derive(Debug, Clone)]
pub(crate) struct Mounts {
    /// Host stdlib dir and its guest path (`/lib/python3.13`).
    pub(crate) stdlib: (PathBuf, String),
    /// The extracted shim packages (`/runtime`).
    pub(crate) runtime: PathBuf,
    /// The module root (`/app/src`).
    pub(crate) src: PathBuf,
    /// `python_modules` (`/app/python_modules`), or an empty dir.
    pub(crate) python_modules: PathBuf,
    /// Writable bytecode cache for `/app/python_modules` (`/pycache`, in the
    /// snapshot cache dir, never in the upload): `_pywrangler.bytecode`.
    pub(crate) pycache: PathBuf,
    /// Whether the guest uses `pycache` (`PW_BYTECODE_CACHE`); it is mounted
    /// either way so the fd table never changes shape.
    pub(crate) bytecode_cache: bool,
}

/// Builds a WASI context: read-only mounts, private read-write `/tmp`, only
/// `PYTHONHOME=/` and `PW_MAIN_MODULE` in the environment, output to the writers.
pub(crate) fn build(
    mounts: &Mounts,
    main_module: &str,
    tmp: &Path,
    clock: crate::wait::GuestClock,
    stdout: LineWriter,
    stderr: LineWriter,
) -> Result<WasiP1Ctx, RuntimeError> {
    let mut b = WasiCtxBuilder::new();
    b.env("PYTHONHOME", "/");
    b.env("PW_MAIN_MODULE", main_module);
    b.env(
        "PW_BYTECODE_CACHE",
        if mounts.bytecode_cache { "1" } else { "0" },
    );
    b.stdout(stdout);
    b.stderr(stderr);
    b.monotonic_clock(clock);
    b.allow_tcp(false);
    b.allow_udp(false);
    b.allow_ip_name_lookup(false);
    let ro = [
        (&mounts.stdlib.0, mounts.stdlib.1.as_str()),
        (&mounts.runtime, "/runtime"),
        (&mounts.src, "/app/src"),
        (&mounts.python_modules, "/app/python_modules"),
    ];
    for (host, guest) in ro {
        b.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(|e| mount_error(host, e))?;
    }
    b.preopened_dir(tmp, "/tmp", FsPerms::ReadWrite)
        .map_err(|e| mount_error(tmp, e))?;
    b.preopened_dir(&mounts.pycache, "/pycache", FsPerms::ReadWrite)
        .map_err(|e| mount_error(&mounts.pycache, e))?;
    Ok(b.build_p1())
}

fn mount_error(path: &Path, e: wasmtime::Error) -> RuntimeError {
    RuntimeError::Io {
        action: "mounting",
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("{e:#}")),
    }
}
