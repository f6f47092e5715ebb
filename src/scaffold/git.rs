//! The two things `init` asks of git: a shallow clone of a template repository,
//! and `git init` in the new project. Both go through `crate::child`.

use std::ffi::OsStr;
use std::path::Path;

use crate::child::{ChildError, run_captured};

use super::ScaffoldError;

/// Clone `url` (depth 1) into `<temp>/template`; the temp dir is removed on drop.
pub fn clone_shallow(url: &str) -> Result<tempfile::TempDir, ScaffoldError> {
    let temp = tempfile::Builder::new()
        .prefix("pywrangler-template-")
        .tempdir()
        .map_err(|source| ScaffoldError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let args: [&OsStr; 6] = [
        OsStr::new("clone"),
        OsStr::new("--depth"),
        OsStr::new("1"),
        OsStr::new("--quiet"),
        OsStr::new(url),
        OsStr::new("template"),
    ];
    run_captured("git", &args, temp.path()).map_err(|err| match err {
        ChildError::NotFound { .. } => ScaffoldError::GitMissing {
            url: url.to_string(),
        },
        other => ScaffoldError::Clone {
            url: url.to_string(),
            source: other,
        },
    })?;
    Ok(temp)
}

/// What happened when `init` tried to make the project a git repository.
#[derive(Debug)]
pub enum GitInit {
    /// A new repository was created.
    Created,
    /// The directory is already inside a git work tree; nothing to do.
    AlreadyInRepo,
    /// git is not installed.
    GitMissing,
    /// `git init` failed with this error.
    Failed(ChildError),
}

/// Run `git init` in `dir` unless it is already inside a work tree.
pub fn init_repo(dir: &Path) -> GitInit {
    let probe = [OsStr::new("rev-parse"), OsStr::new("--is-inside-work-tree")];
    match run_captured("git", &probe, dir) {
        Ok(out) if out.trim() == "true" => return GitInit::AlreadyInRepo,
        Err(ChildError::NotFound { .. }) => return GitInit::GitMissing,
        // Not a repository (or a bare one): go ahead and create one.
        _ => {}
    }
    match run_captured("git", &[OsStr::new("init"), OsStr::new("--quiet")], dir) {
        Ok(_) => GitInit::Created,
        Err(ChildError::NotFound { .. }) => GitInit::GitMissing,
        Err(err) => GitInit::Failed(err),
    }
}
