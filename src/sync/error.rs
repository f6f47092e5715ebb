//! Sync failures users can act on: uv's stderr is classified into "package not
//! supported", "not found", network and certificate problems (with the
//! original pywrangler's hints); everything else keeps uv's own words.

use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, Exit};
use crate::uv::UvError;

use super::target::PYODIDE_INDEX_ENV;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{path} exists. Delete the file to continue.")]
    RequirementsTxt {
        path: PathBuf,
        pyproject: PathBuf,
        requirements: Vec<String>,
    },
    #[error(transparent)]
    Uv(#[from] UvError),
    #[error("{PYODIDE_INDEX_ENV}={value} is neither a URL nor an existing directory of wheels")]
    BadIndexOverride { value: String },
    #[error(
        "syncing for Python {python} ({tag}) needs a host Python to describe that platform to uv, and none was found"
    )]
    NoHostPython { python: String, tag: String },
    #[error(
        "`{package}` is not supported by Python Workers: it has no Pyodide ({platform}) or pure-Python wheel for Python {python}"
    )]
    Unsupported {
        package: String,
        python: String,
        platform: String,
        /// Only a source distribution was found, so `--allow-build` may help.
        has_sdist: bool,
        uv_message: String,
    },
    #[error("`{package}` was not found in the package index or the Pyodide index ({index})")]
    NotFound {
        package: String,
        index: String,
        uv_message: String,
    },
    #[error(
        "Installation failed because the packages you requested are not supported by Python Workers."
    )]
    Unresolvable { uv_message: String },
    #[error(
        "Installation failed because of an invalid peer certificate. Are your systems certificates correctly installed? Do you have an Enterprise VPN enabled?"
    )]
    Certificate { uv_message: String },
    #[error("Installation failed because of a failed fetch. Is your network connection working?")]
    Network { uv_message: String },
    #[error("uv was interrupted while {step}; python_modules/ and pylock.toml were left unchanged")]
    Interrupted { step: &'static str },
    #[error(
        "Installation of packages into the Python Worker failed while {step}. Possibly because these packages are not currently supported.\n{uv_message}"
    )]
    UvFailed {
        step: &'static str,
        uv_message: String,
    },
    #[error("{path}: {message}")]
    Lock { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SyncError {
    pub fn io(path: &Path, source: std::io::Error) -> SyncError {
        SyncError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Classify a failed uv run by its stderr. `step` names what uv was doing.
    pub fn from_uv(
        step: &'static str,
        code: Option<i32>,
        stderr: &str,
        python: &str,
        platform: &str,
        index: &str,
    ) -> SyncError {
        let uv_message = uv_error_text(stderr);
        if code.is_none() {
            return SyncError::Interrupted { step };
        }
        let lowered = stderr.to_lowercase();
        if lowered.contains("invalid peer certificate") {
            return SyncError::Certificate { uv_message };
        }
        if let Some(package) = find_package(stderr, " has no usable wheels") {
            return SyncError::Unsupported {
                package,
                python: python.into(),
                platform: platform.into(),
                has_sdist: lowered.contains("building from source is disabled"),
                uv_message,
            };
        }
        for marker in [
            " has no wheels with a matching platform tag",
            " has no wheels with a matching Python ABI tag",
            " has no wheels with a matching Python implementation tag",
            " has no wheels with a matching Python version tag",
        ] {
            if let Some(package) = find_package(stderr, marker) {
                return SyncError::Unsupported {
                    package,
                    python: python.into(),
                    platform: platform.into(),
                    has_sdist: false,
                    uv_message,
                };
            }
        }
        if let Some(package) = find_package(stderr, " was not found in the package registry") {
            return SyncError::NotFound {
                package,
                index: index.into(),
                uv_message,
            };
        }
        if lowered.contains("failed to fetch") || lowered.contains("error sending request") {
            return SyncError::Network { uv_message };
        }
        if lowered.contains("no solution found when resolving dependencies") {
            return SyncError::Unresolvable { uv_message };
        }
        SyncError::UvFailed { step, uv_message }
    }

    fn uv_message(&self) -> Option<&str> {
        match self {
            SyncError::Unsupported { uv_message, .. }
            | SyncError::NotFound { uv_message, .. }
            | SyncError::Unresolvable { uv_message }
            | SyncError::Certificate { uv_message }
            | SyncError::Network { uv_message } => Some(uv_message),
            _ => None,
        }
    }
}

impl Diagnostic for SyncError {
    /// `hint:` lines for the user.
    fn hints(&self) -> Vec<String> {
        let verbose = crate::printer::Printer::get().is_verbose();
        let mut hints = Vec::new();
        match self {
            SyncError::RequirementsTxt {
                pyproject,
                requirements,
                ..
            } => {
                hints.push(
                    "Specifying Python packages in requirements.txt is no longer supported, please use pyproject.toml instead.".into(),
                );
                hints.push(format!(
                    "put the following in the [project] table of {} to vendor the packages currently in your requirements.txt:\n{}",
                    pyproject.display(),
                    dependencies_block(requirements)
                ));
            }
            SyncError::Uv(UvError::NotFound) | SyncError::Uv(UvError::BadOverride(..)) => {
                hints.push(
                    "install uv: `curl -LsSf https://astral.sh/uv/install.sh | sh` or `python3 -m pip install uv`, or point PYWRANGLER_UV at a uv binary".into(),
                );
            }
            SyncError::Uv(UvError::TooOld { .. }) => {
                hints.push("upgrade uv: `uv self update` or `python3 -m pip install -U uv`".into());
            }
            SyncError::NoHostPython { .. } => {
                hints.push(
                    "put any python3 (3.8 or newer) on PATH, or let uv install one: `uv python install`".into(),
                );
            }
            SyncError::BadIndexOverride { .. } => {
                hints.push(format!(
                    "set {PYODIDE_INDEX_ENV} to an index URL (https://…/simple) or a directory of wheels, or unset it to use the Pyodide index"
                ));
            }
            SyncError::Unsupported {
                package, has_sdist, ..
            } => {
                if *has_sdist {
                    hints.push(format!(
                        "`{package}` only publishes a source distribution; if it is pure Python, `pywrangler-rs sync --allow-build` (or `[tool.pywrangler] allow-build = true` in pyproject.toml) builds it"
                    ));
                } else {
                    hints.push(format!(
                        "remove `{package}` from [project].dependencies in pyproject.toml, or pick a version that ships a pure-Python (py3-none-any) wheel"
                    ));
                }
            }
            SyncError::NotFound { .. } => {
                hints.push("check the spelling in [project].dependencies of pyproject.toml".into());
            }
            SyncError::Network { .. } => {
                hints.push(format!(
                    "check your connection or proxy; {PYODIDE_INDEX_ENV} can point at a reachable mirror or a local directory of wheels"
                ));
            }
            SyncError::Certificate { .. } => {
                hints.push("uv reads the system certificate store with `UV_NATIVE_TLS=1`, or a bundle with `SSL_CERT_FILE=<file>`".into());
            }
            SyncError::Interrupted { .. } => {
                hints.push("run `pywrangler-rs sync` again".into());
            }
            _ => {}
        }
        if let Some(msg) = self.uv_message() {
            if verbose || matches!(self, SyncError::Unresolvable { .. }) {
                hints.push(format!("uv said:\n{msg}"));
            } else {
                hints.push("run with -v to see uv's own message".into());
            }
        }
        hints
    }

    /// The exit status: 2 for project configuration problems, else 1.
    fn exit(&self) -> Exit {
        match self {
            SyncError::RequirementsTxt { .. } | SyncError::BadIndexOverride { .. } => Exit::Usage,
            _ => Exit::Failure,
        }
    }
}

/// `requirements.txt` is the old way: refuse it, with a ready-to-paste block.
pub fn check_requirements_txt(root: &Path, pyproject: &Path) -> Result<(), SyncError> {
    let path = root.join("requirements.txt");
    if !path.is_file() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| SyncError::io(&path, e))?;
    let requirements = text
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
        .map(str::to_string)
        .collect();
    Err(SyncError::RequirementsTxt {
        path,
        pyproject: pyproject.to_path_buf(),
        requirements,
    })
}

/// `dependencies = [\n  "a",\n  "b",\n]` (TOML-escaped).
fn dependencies_block(requirements: &[String]) -> String {
    let mut s = String::from("dependencies = [\n");
    for r in requirements {
        let escaped = r.replace('\\', "\\\\").replace('"', "\\\"");
        s.push_str(&format!("  \"{escaped}\",\n"));
    }
    s.push(']');
    s
}

/// The package name right before `marker`, e.g. "Because foo==1.0 has no …".
fn find_package(stderr: &str, marker: &str) -> Option<String> {
    let at = stderr.find(marker)?;
    let word = stderr[..at].split_whitespace().last()?;
    let name = word
        .split(['=', '<', '>', '!', '~', '['])
        .next()
        .unwrap_or(word)
        .trim_matches(|c: char| c == '`' || c == '\'' || c == '"');
    (!name.is_empty()).then(|| name.to_string())
}

/// uv's `error:` block without its noise (warnings about interpreters).
fn uv_error_text(stderr: &str) -> String {
    let start = stderr.find("error:").unwrap_or(0);
    stderr[start..].trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(stderr: &str) -> SyncError {
        SyncError::from_uv(
            "resolving",
            Some(1),
            stderr,
            "3.13",
            "wasm32-pyodide2025",
            "idx",
        )
    }

    #[test]
    fn sdist_only_suggests_allow_build() {
        let e = classify(
            "error: No solution found when resolving dependencies\n  cause: Because sdistonly==1.0 has no usable wheels and only sdistonly==1.0 is available, we can conclude…\n\nhint: Wheels are required for `sdistonly` because building from source is disabled for all packages (i.e., with `--no-build`)",
        );
        match &e {
            SyncError::Unsupported {
                package, has_sdist, ..
            } => {
                assert_eq!(package, "sdistonly");
                assert!(has_sdist);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("not supported by Python Workers"));
        assert!(e.hints().iter().any(|h| h.contains("--allow-build")));
    }

    #[test]
    fn wrong_platform_does_not_suggest_allow_build() {
        let e = classify(
            "error: No solution found when resolving dependencies\n  cause: Because hostonly==1.0 has no wheels with a matching platform tag (e.g., `pyemscripten_2025_0_wasm32`) and only…",
        );
        assert!(
            matches!(&e, SyncError::Unsupported { package, has_sdist: false, .. } if package == "hostonly")
        );
        assert!(!e.hints().iter().any(|h| h.contains("--allow-build")));
    }

    #[test]
    fn network_certificate_not_found() {
        assert!(matches!(
            classify(
                "error: Failed to fetch: http://127.0.0.1:9/simple/x/\n  cause: tcp connect error"
            ),
            SyncError::Network { .. }
        ));
        assert!(matches!(
            classify("error: Request failed\n  cause: invalid peer certificate: UnknownIssuer"),
            SyncError::Certificate { .. }
        ));
        assert!(matches!(
            classify("  cause: Because nosuchpkg was not found in the package registry and w depends on nosuchpkg"),
            SyncError::NotFound { package, .. } if package == "nosuchpkg"
        ));
        assert!(matches!(
            SyncError::from_uv("installing", None, "", "3.13", "p", "i"),
            SyncError::Interrupted { .. }
        ));
    }

    #[test]
    fn requirements_block() {
        assert_eq!(
            dependencies_block(&["fastapi".into(), "x\"y".into()]),
            "dependencies = [\n  \"fastapi\",\n  \"x\\\"y\",\n]"
        );
    }
}
