//! Install and swap: uv installs the lock flat into `.python_modules.staging-<pid>`
//! beside `python_modules/`; only a complete tree is renamed into place, so a
//! failed or interrupted sync leaves the previous `python_modules/` as it was.

use std::path::{Path, PathBuf};

use super::resolve::{ResolvedLock, STAGED_LOCK};
use super::target::Target;
use super::{PYTHON_MODULES, SyncError, pylock};
use crate::uv::Uv;

const STAGING_PREFIX: &str = ".python_modules.staging-";
const OLD_PREFIX: &str = ".python_modules.old-";
/// The lock copy handed to `uv pip install` (see `pylock::without_requires_python`).
const INSTALL_LOCK: &str = "pylock.pywranglerinstall.toml";

/// A complete tree waiting to be swapped in; removed if dropped.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    done: bool,
}

impl Staged {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Put the staged tree at `dest`: move the old one aside, move the new one
    /// in, then delete the old one. Each step is a rename on one file system.
    pub fn swap_into(mut self, dest: &Path) -> Result<(), SyncError> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        let old = parent.join(format!("{OLD_PREFIX}{}", std::process::id()));
        let had_old = dest.exists();
        if had_old {
            std::fs::rename(dest, &old).map_err(|e| SyncError::io(dest, e))?;
        }
        if let Err(e) = std::fs::rename(&self.path, dest) {
            if had_old {
                // Put the previous tree back before reporting.
                let _ = std::fs::rename(&old, dest);
            }
            return Err(SyncError::io(dest, e));
        }
        self.done = true;
        if had_old && let Err(e) = std::fs::remove_dir_all(&old) {
            crate::printer::warn(format!("could not remove {}: {e}", old.display()));
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Install every package of `lock` for the target into a fresh staging dir.
pub fn install(
    uv: &Uv,
    root: &Path,
    target: &Target,
    lock: &ResolvedLock,
) -> Result<Staged, SyncError> {
    let path = root.join(format!("{STAGING_PREFIX}{}", std::process::id()));
    if path.exists() {
        std::fs::remove_dir_all(&path).map_err(|e| SyncError::io(&path, e))?;
    }
    std::fs::create_dir(&path).map_err(|e| SyncError::io(&path, e))?;
    let staged = Staged { path, done: false };

    let install_lock = root.join(INSTALL_LOCK);
    std::fs::write(
        &install_lock,
        pylock::without_requires_python(&lock.contents),
    )
    .map_err(|e| SyncError::io(&install_lock, e))?;
    let _cleanup = RemoveOnDrop(install_lock.clone());

    let locals: Vec<String> = pylock::locked(&lock.contents, &lock.path)?
        .into_iter()
        .filter(|p| p.local_source)
        .map(|p| p.name)
        .collect();

    let mut cmd = uv.command(root);
    cmd.args(["pip", "install", "--target"])
        .arg(staged.path())
        .args(target.interpreter_args())
        .args(target.index_args())
        .args(target.build_args())
        .args([
            "--preview-features",
            "pylock",
            "--no-compile",
            "--quiet",
            "-r",
        ])
        .arg(&install_lock);
    for name in &locals {
        // Local projects are built from their source every time.
        cmd.args(["--no-binary", name, "--refresh-package", name]);
    }
    let out = uv.run(cmd, None)?;
    if !out.success() {
        return Err(SyncError::from_uv(
            "installing packages",
            out.code,
            &out.stderr,
            &target.python.to_string(),
            &target.platform,
            &target.index.describe(),
        ));
    }

    // uv's own lock file and console scripts have no place in the bundle.
    let _ = std::fs::remove_file(staged.path().join(".lock"));
    // (`Scripts` is where a Windows host may put them.)
    let script_dirs: &[&str] = if cfg!(windows) {
        &["bin", "Scripts"]
    } else {
        &["bin"]
    };
    for dir in script_dirs {
        let dir = staged.path().join(dir);
        if dir.is_dir() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    // Tools that look for a venv marker treat python_modules as one (as the original).
    let cfg = staged.path().join("pyvenv.cfg");
    std::fs::write(&cfg, "").map_err(|e| SyncError::io(&cfg, e))?;
    Ok(staged)
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Clean up after a sync that was killed: put a moved-away `python_modules`
/// back if the new one never arrived, and delete staging dirs and temp locks.
pub fn recover_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let modules = root.join(PYTHON_MODULES);
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(OLD_PREFIX) {
            if !modules.exists() && std::fs::rename(&path, &modules).is_ok() {
                crate::printer::verbose(format!(
                    "restored {} from an interrupted sync",
                    PYTHON_MODULES
                ));
                continue;
            }
            let _ = std::fs::remove_dir_all(&path);
        } else if name.starts_with(STAGING_PREFIX) {
            let _ = std::fs::remove_dir_all(&path);
        } else if name == INSTALL_LOCK || name == STAGED_LOCK {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Total size of the regular files under `dir`.
pub fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
