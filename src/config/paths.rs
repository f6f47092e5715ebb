//! Where a project's files live, derived once from the loaded project so
//! that `sync`, `dev` and `deploy` agree: the `python_modules/` that `sync`
//! writes is the one `dev` mounts and `deploy` validates and uploads, even
//! when `-c` names a wrangler config in another directory.

use std::path::{Path, PathBuf};

/// The project's paths. Everything hangs off the project root (the directory
/// of `pyproject.toml`), not the wrangler config's directory: `main` and
/// `base_dir` are the only paths relative to the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    /// The directory holding `pyproject.toml`.
    pub root: PathBuf,
    /// `<root>/python_modules`, where `sync` vendors packages.
    pub python_modules: PathBuf,
    /// Local binding state: `<root>/.wrangler/state`, or `dev --persist-to`.
    pub state_dir: PathBuf,
    /// The snapshot cache of `dev` and deploy validation:
    /// `<root>/.wrangler/cache/python`.
    pub snapshot_cache: PathBuf,
}

impl ProjectPaths {
    /// The default layout under `root`.
    pub fn new(root: &Path) -> ProjectPaths {
        let wrangler = root.join(".wrangler");
        ProjectPaths {
            root: root.to_path_buf(),
            python_modules: root.join("python_modules"),
            state_dir: wrangler.join("state"),
            snapshot_cache: wrangler.join("cache").join("python"),
        }
    }

    /// The same, with local state kept in `dir` (`dev --persist-to`).
    pub fn with_state_dir(mut self, dir: Option<PathBuf>) -> ProjectPaths {
        if let Some(dir) = dir {
            self.state_dir = dir;
        }
        self
    }
}
