//! `sync`: turn `[project].dependencies` into the flat `python_modules/` tree the
//! Worker imports on Cloudflare. uv resolves for the Pyodide platform without an
//! Emscripten runtime (by platform name, or for 3.14 through a target
//! interpreter that describes Pyodide 314), installs into a temp dir, and we
//! swap it in.
//!
//! Phases: guard (requirements.txt, leftovers) → staleness check (content hash)
//! → resolve (`pylock.toml`) → install (temp dir) → swap → host venv.

mod error;
pub(crate) mod fingerprint;
mod host_venv;
mod install;
mod interpreter;
pub(crate) mod progress;
mod pylock;
mod resolve;
mod target;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use error::SyncError;
pub use target::{IndexSource, Target};

use crate::uv::UvConfig;

use crate::config::{Project, PythonVersion};
use crate::uv::Uv;

/// Name of the vendored directory wrangler uploads.
pub const PYTHON_MODULES: &str = "python_modules";
/// Name of the lock file uv writes (PEP 751).
pub const PYLOCK: &str = "pylock.toml";
/// The runtime SDK every Worker gets (the runtime stops bundling it from 2026-04-21).
pub const RUNTIME_SDK: &str = "workers-runtime-sdk";

/// The plain inputs of a sync: where the project is and what it targets.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Project root (the directory holding `pyproject.toml`).
    pub root: PathBuf,
    /// The project's `pyproject.toml`.
    pub pyproject: PathBuf,
    /// Where the packages go (`ProjectPaths::python_modules`).
    pub python_modules: PathBuf,
    /// The Python version the wrangler config selects.
    pub python: PythonVersion,
}

/// How to sync, resolved by the settings layer (`crate::settings::SyncSettings`).
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Re-sync even when nothing changed.
    pub force: bool,
    /// Let uv move pinned versions forward.
    pub upgrade: bool,
    /// Whether sdists may be built (flag, else `[tool.pywrangler] allow-build`).
    pub allow_build: bool,
    /// Also install the host `.venv-workers/` for editors.
    pub host_venv: bool,
    /// The Pyodide index override (a URL, or a directory relative to the root).
    pub index: Option<String>,
    /// Which uv to run and how.
    pub uv: UvConfig,
}

/// One installed distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// What happened to the host venv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostVenv {
    /// `--no-host-venv`, or not requested by the caller.
    Disabled,
    /// Not touched because nothing changed.
    Unchanged,
    /// Installed with the same pins.
    Installed,
    /// Could not be made; the reason was printed as a warning.
    Skipped { reason: String },
}

/// The result of a sync, for the final line, `--json` and `dev`/`deploy`.
#[derive(Debug, Clone, Serialize)]
pub struct SyncOutcome {
    /// True when nothing had changed and no work was done.
    pub skipped: bool,
    pub python: String,
    /// The Pyodide release whose ABI the packages target.
    pub pyodide: String,
    pub platform: String,
    pub python_modules: PathBuf,
    pub packages: Vec<Package>,
    /// Total size of the files under `python_modules/`.
    pub size_bytes: u64,
    pub host_venv: HostVenv,
    #[serde(skip)]
    pub elapsed: Duration,
}

impl SyncRequest {
    /// The sync inputs of a loaded project.
    pub fn from_project(project: &Project) -> SyncRequest {
        SyncRequest {
            root: project.root.clone(),
            pyproject: project.pyproject_path.clone(),
            python_modules: project.paths.python_modules.clone(),
            python: project.python,
        }
    }
}

/// Entry point for `sync`, `dev` and `deploy`: make `python_modules/` match the
/// project. When nothing changed this only hashes the inputs (a few ms) and
/// returns `skipped: true`. `dev`/`deploy` usually pass `host_venv: false`.
pub fn ensure_synced(project: &Project, opts: &SyncOptions) -> Result<SyncOutcome, SyncError> {
    sync(&SyncRequest::from_project(project), opts)
}

/// Make `python_modules/` match the request, doing nothing when it already does.
pub fn sync(req: &SyncRequest, opts: &SyncOptions) -> Result<SyncOutcome, SyncError> {
    let started = Instant::now();
    error::check_requirements_txt(&req.root, &req.pyproject)?;
    install::recover_leftovers(&req.root);

    let allow_build = opts.allow_build;
    let index = IndexSource::choose(&req.root, req.python, opts.index.as_deref())?;
    let modules = req.python_modules.clone();

    // The cheap path: read inputs, hash them, compare with the stamp.
    let fp_platform = Target::fingerprint_platform(req.python);
    let fp_inputs = fingerprint::Inputs {
        root: &req.root,
        pyproject: &req.pyproject,
        python: req.python,
        platform: &fp_platform,
        index: &index,
        allow_build,
    };
    if !opts.force && !opts.upgrade {
        let hash = fingerprint::compute(&fp_inputs, None)?;
        if let Some(stamp) = fingerprint::Stamp::read(&modules)
            && stamp.hash == hash
        {
            return Ok(SyncOutcome {
                skipped: true,
                python: req.python.to_string(),
                pyodide: req.python.pyodide_version().to_string(),
                platform: stamp.platform,
                python_modules: modules.clone(),
                packages: stamp.packages,
                size_bytes: stamp.size_bytes,
                host_venv: HostVenv::Unchanged,
                elapsed: started.elapsed(),
            });
        }
    }

    let uv = Uv::find(&opts.uv)?;
    crate::printer::verbose(format!("using uv {} ({})", uv.version, uv.display()));
    let target = Target::new(&uv, &req.root, req.python, index.clone(), allow_build)?;

    let phase = progress::Phase::start(format!(
        "Resolving dependencies for Python {} ({})",
        req.python, target.platform
    ));
    let lock = resolve::resolve(&uv, req, &target, opts.upgrade)?;
    phase.finish();

    let phase = progress::Phase::start("Installing packages".to_string());
    let staged = install::install(&uv, &req.root, &target, &lock)?;
    phase.finish();

    let packages = pylock::packages(&lock.contents, &lock.path)?;
    let hash = fingerprint::compute(&fp_inputs, Some(&lock.contents))?;
    let size_bytes = install::tree_size(staged.path());
    let stamp = fingerprint::Stamp {
        hash,
        python: req.python.to_string(),
        platform: target.platform.clone(),
        packages: packages.clone(),
        size_bytes,
    };

    let phase = progress::Phase::start("Replacing python_modules".to_string());
    lock.commit(&req.root.join(PYLOCK))?;
    stamp.write(staged.path())?;
    staged.swap_into(&modules)?;
    phase.finish();

    let host_venv = if opts.host_venv {
        let phase = progress::Phase::start("Updating .venv-workers for editors".to_string());
        let result = host_venv::update(&uv, req, &target, &packages);
        phase.finish();
        match result {
            Ok(()) => HostVenv::Installed,
            Err(reason) => {
                crate::printer::warn(format!(
                    "skipped the host venv .venv-workers (used only by editors): {reason}"
                ));
                HostVenv::Skipped { reason }
            }
        }
    } else {
        HostVenv::Disabled
    };

    Ok(SyncOutcome {
        skipped: false,
        python: req.python.to_string(),
        pyodide: req.python.pyodide_version().to_string(),
        platform: target.platform,
        python_modules: modules,
        packages,
        size_bytes,
        host_venv,
        elapsed: started.elapsed(),
    })
}

/// Human-readable size: `812 B`, `14.2 KiB`, `3.4 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(14 * 1024 + 200), "14.2 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 400 * 1024), "3.4 MiB");
    }
}
