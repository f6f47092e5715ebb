//! Project configuration: find the project root (`pyproject.toml`), read the
//! wrangler config (`wrangler.json` / `.jsonc` / `.toml`, wrangler's order),
//! apply `--env` with wrangler's inheritance rules and validate the result.
//!
//! Entry points: [`Project::load`] for commands that need a project, and
//! [`load_wrangler`] for those that only need the wrangler config (`types`).

mod assets;
mod bindings;
mod checks;
mod dev_vars;
mod error;
mod load;
mod model;
mod paths;
mod pyproject;
pub mod python_version;
mod source;
pub(crate) use source::push_pointer;

use std::path::{Path, PathBuf};

pub use assets::{StaticRouting, parse_static_routing};
pub use checks::FileRefs;
pub use dev_vars::{dev_vars_path, read_dev_vars};
pub use error::{ConfigError, Location};
pub use model::*;
pub use paths::ProjectPaths;
pub use pyproject::{Pyproject, find_pyproject};
pub use python_version::PythonVersion;

use source::SourceDoc;

/// Config file names in wrangler's lookup order.
pub const WRANGLER_CONFIG_NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

/// The wrangler config in `dir`, by wrangler's precedence
/// (`wrangler.json`, then `wrangler.jsonc`, then `wrangler.toml`).
pub fn find_wrangler_config(dir: &Path) -> Option<PathBuf> {
    WRANGLER_CONFIG_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// A loaded wrangler config file with `--env` applied.
#[derive(Debug, Clone)]
pub struct WranglerFile {
    /// The config file.
    pub path: PathBuf,
    /// The selected environment, if any.
    pub env: Option<String>,
    /// The env-resolved, validated config.
    pub config: WranglerConfig,
    /// The Python version the Worker runs on.
    pub python: PythonVersion,
    /// Non-fatal problems (unknown keys, keys an env does not inherit), each
    /// naming file:line:col; commands print them with `printer::warn`.
    pub warnings: Vec<String>,
    /// Where `main` and other file settings are written, for later checks.
    pub files: FileRefs,
    /// What `deploy` would leave out of the upload; it refuses while any remain.
    pub deploy_blockers: Vec<String>,
    /// Where `assets.directory` is written, when assets are configured.
    pub assets_directory_at: Option<Location>,
}

/// Read, type, env-resolve and validate the wrangler config at `path`
/// (no `pyproject.toml` needed).
pub fn load_wrangler(path: &Path, env: Option<&str>) -> Result<WranglerFile, ConfigError> {
    let doc = SourceDoc::read(path)?;
    let resolved = load::resolve(&doc, env)?;
    Ok(WranglerFile {
        path: path.to_path_buf(),
        env: env.map(str::to_string),
        config: resolved.config,
        python: resolved.python,
        warnings: resolved.warnings,
        files: resolved.files,
        deploy_blockers: resolved.deploy_blockers,
        assets_directory_at: resolved.assets_directory_at,
    })
}

impl WranglerFile {
    /// Directory of the config file; `main` and `base_dir` are relative to it.
    pub fn dir(&self) -> PathBuf {
        config_dir(&self.path)
    }

    /// Root of the uploaded Python modules: `base_dir`, else the directory of `main`.
    #[cfg(test)]
    pub fn module_root(&self) -> PathBuf {
        module_root(&self.dir(), &self.config)
    }

    /// The main module's import name relative to the module root, e.g. `entry`
    /// for `src/entry.py` or `pkg.app` for `src/pkg/app.py` with `base_dir = "src"`.
    #[cfg(test)]
    pub fn main_module_name(&self) -> String {
        main_module_name(&self.dir(), &self.config)
    }

    /// The Worker name (already `<name>-<env>` under `--env`), if set.
    #[cfg(test)]
    pub fn worker_name(&self) -> Option<&str> {
        self.config.name.as_deref()
    }
}

/// A Python Worker project: `pyproject.toml` plus its wrangler config.
#[derive(Debug, Clone)]
pub struct Project {
    /// Directory holding `pyproject.toml`.
    pub root: PathBuf,
    /// `<root>/pyproject.toml`.
    pub pyproject_path: PathBuf,
    pub pyproject: Pyproject,
    /// The wrangler config file in use.
    pub wrangler_path: PathBuf,
    /// The selected environment, if any.
    pub env: Option<String>,
    /// The env-resolved, validated wrangler config.
    pub config: WranglerConfig,
    /// The Python version the Worker runs on (from the compat flags/date).
    pub python: PythonVersion,
    /// Non-fatal problems naming file:line:col; print with `printer::warn`.
    pub warnings: Vec<String>,
    /// Where `main` and other file settings are written, for later checks.
    pub files: FileRefs,
    /// What `deploy` would leave out of the upload; it refuses while any remain.
    pub deploy_blockers: Vec<String>,
    /// Where `assets.directory` is written, when assets are configured.
    pub assets_directory_at: Option<Location>,
    /// Where `python_modules/`, local state and the snapshot cache live;
    /// every command takes them from here.
    pub paths: ProjectPaths,
}

impl Project {
    /// Find the project from `cwd` (walking up for `pyproject.toml`), read the
    /// wrangler config (`config`, relative to `cwd`, or the one in the root)
    /// and apply `env`.
    pub fn load(
        cwd: &Path,
        config: Option<&Path>,
        env: Option<&str>,
    ) -> Result<Project, ConfigError> {
        let pyproject_path = find_pyproject(cwd).ok_or_else(|| ConfigError::PyprojectNotFound {
            cwd: cwd.to_path_buf(),
        })?;
        let root = config_dir(&pyproject_path);
        let pyproject = Pyproject::read(&pyproject_path)?;
        let wrangler_path = match config {
            Some(c) => cwd.join(c),
            None => find_wrangler_config(&root)
                .ok_or_else(|| ConfigError::WranglerNotFound { dir: root.clone() })?,
        };
        let w = load_wrangler(&wrangler_path, env)?;
        Ok(Project {
            paths: ProjectPaths::new(&root),
            root,
            pyproject_path,
            pyproject,
            wrangler_path: w.path,
            env: w.env,
            config: w.config,
            python: w.python,
            warnings: w.warnings,
            files: w.files,
            deploy_blockers: w.deploy_blockers,
            assets_directory_at: w.assets_directory_at,
        })
    }

    /// Directory of the wrangler config; `main` and `base_dir` are relative to it.
    pub fn config_dir(&self) -> PathBuf {
        config_dir(&self.wrangler_path)
    }

    /// The entry module, checked to exist (inside `base_dir` when that is
    /// set). Commands that run or upload the Worker call this before any work,
    /// so a missing `main` is an error at its file:line:col.
    pub fn existing_main(&self) -> Result<PathBuf, ConfigError> {
        checks::existing_main(&self.config_dir(), &self.config, &self.files)
    }

    /// Check that every D1 `migrations_dir` that is set exists (`dev` applies
    /// them at start-up).
    pub fn check_migrations_dirs(&self) -> Result<(), ConfigError> {
        checks::existing_migrations_dirs(&self.config_dir(), &self.config, &self.files)
    }

    /// Root of the uploaded Python modules: `base_dir`, else the directory of `main`.
    pub fn module_root(&self) -> PathBuf {
        module_root(&self.config_dir(), &self.config)
    }

    /// The main module's import name relative to the module root (e.g. `entry`).
    pub fn main_module_name(&self) -> String {
        main_module_name(&self.config_dir(), &self.config)
    }

    /// The Worker name (already `<name>-<env>` under `--env`), if set.
    pub fn worker_name(&self) -> Option<&str> {
        self.config.name.as_deref()
    }

    /// The static assets directory, checked to exist (`dev` and `deploy`
    /// call this; wrangler's messages, at the config's file:line:col).
    pub fn assets_dir(&self) -> Result<Option<PathBuf>, ConfigError> {
        let (Some(assets), Some(at)) = (&self.config.assets, &self.assets_directory_at) else {
            return Ok(None);
        };
        let directory = assets.directory.as_deref().unwrap_or_default();
        assets::check_directory(&self.config_dir(), directory, at).map(Some)
    }
}

fn config_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn main_path(dir: &Path, cfg: &WranglerConfig) -> PathBuf {
    // `load_wrangler` guarantees `main` is set.
    dir.join(cfg.main.as_deref().unwrap_or("src/entry.py"))
}

fn module_root(dir: &Path, cfg: &WranglerConfig) -> PathBuf {
    match cfg.base_dir.as_deref() {
        Some(base) => dir.join(base),
        None => config_dir(&main_path(dir, cfg)),
    }
}

fn main_module_name(dir: &Path, cfg: &WranglerConfig) -> String {
    let main = main_path(dir, cfg);
    let root = module_root(dir, cfg);
    let rel = main.strip_prefix(&root).unwrap_or(&main);
    let rel = rel.with_extension("");
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    parts.join(".")
}

#[cfg(test)]
mod tests;
