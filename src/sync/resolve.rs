//! Resolution: `uv pip compile pyproject.toml - <target> … -o pylock.<tmp>.toml`,
//! where the target is `--python-version 3.X --python-platform wasm32-pyodideYYYY`
//! or, for 3.14, `--python <target interpreter>`. No Emscripten runtime, no
//! Node. The existing `pylock.toml` is copied to the output first so uv keeps
//! its pins; the real lock is replaced only after install.

use std::path::{Path, PathBuf};

use super::target::Target;
use super::{PYLOCK, RUNTIME_SDK, SyncError, SyncRequest};
use crate::uv::Uv;

/// uv insists on `pylock.toml` or `pylock.<name>.toml` (no dots in `<name>`);
/// it lives in the root so relative paths in the lock stay right.
pub const STAGED_LOCK: &str = "pylock.pywranglerstaged.toml";

/// A freshly resolved lock, not yet in place.
#[derive(Debug)]
pub struct ResolvedLock {
    /// Where uv wrote it (beside `pylock.toml`).
    pub path: PathBuf,
    pub contents: String,
    committed: bool,
}

impl ResolvedLock {
    /// Move the lock into place (untouched when identical, so no-op syncs
    /// leave `pylock.toml` byte-identical and its mtime alone).
    pub fn commit(mut self, dest: &Path) -> Result<(), SyncError> {
        let same = std::fs::read_to_string(dest).is_ok_and(|old| old == self.contents);
        if same {
            let _ = std::fs::remove_file(&self.path);
        } else {
            std::fs::rename(&self.path, dest).map_err(|e| SyncError::io(dest, e))?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for ResolvedLock {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Run uv's resolver for the Worker's platform.
pub fn resolve(
    uv: &Uv,
    req: &SyncRequest,
    target: &Target,
    upgrade: bool,
) -> Result<ResolvedLock, SyncError> {
    let staged = req.root.join(STAGED_LOCK);
    let existing = req.root.join(PYLOCK);
    if existing.is_file() {
        std::fs::copy(&existing, &staged).map_err(|e| SyncError::io(&staged, e))?;
    } else {
        let _ = std::fs::remove_file(&staged);
    }
    let mut lock = ResolvedLock {
        path: staged.clone(),
        contents: String::new(),
        committed: false,
    };

    let mut cmd = uv.command(&req.root);
    cmd.args(["pip", "compile"])
        .arg(&req.pyproject)
        .arg("-")
        .args(target.interpreter_args())
        .args(target.index_args())
        .args(target.build_args())
        .args(["--no-header", "--quiet", "--format", "pylock.toml", "-o"])
        .arg(&staged);
    if upgrade {
        cmd.arg("--upgrade");
    }
    let out = uv.run(cmd, Some(&format!("{RUNTIME_SDK}\n")))?;
    if !out.success() {
        return Err(SyncError::from_uv(
            "resolving dependencies",
            out.code,
            &out.stderr,
            &target.python.to_string(),
            &target.platform,
            &target.index.describe(),
        ));
    }
    lock.contents = std::fs::read_to_string(&staged).map_err(|e| SyncError::io(&staged, e))?;
    Ok(lock)
}
