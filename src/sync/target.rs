//! What we resolve for: the Python version, the Pyodide platform (a name uv
//! knows, or a target interpreter describing one it does not), the Pyodide
//! package index (or a local override), and whether sdists may be built.
//! Turns that into the uv flags shared by resolve, install and the host venv.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::PythonVersion;
use crate::uv::Uv;

use super::SyncError;
use super::interpreter::{self, EmscriptenPlatform};

/// Overrides the Pyodide package index: a URL, or a local directory of wheels.
pub use crate::env_vars::PYWRANGLER_PYODIDE_INDEX as PYODIDE_INDEX_ENV;

/// Where Pyodide-built wheels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// A PEP 503 index (`--extra-index-url`).
    Url(String),
    /// A flat directory of wheels and sdists (`--find-links`).
    FindLinks(PathBuf),
}

impl IndexSource {
    /// The override (`PYWRANGLER_PYODIDE_INDEX`) if given, else the index
    /// for this Python version.
    pub fn choose(
        root: &Path,
        python: PythonVersion,
        overridden: Option<&str>,
    ) -> Result<IndexSource, SyncError> {
        match overridden.map(str::trim).filter(|v| !v.is_empty()) {
            Some(value) => Self::parse(root, value),
            None => Ok(IndexSource::Url(python.pyodide_index().to_string())),
        }
    }

    fn parse(root: &Path, value: &str) -> Result<IndexSource, SyncError> {
        if value.contains("://") {
            return Ok(IndexSource::Url(value.to_string()));
        }
        let path = root.join(value);
        if path.is_dir() {
            Ok(IndexSource::FindLinks(path))
        } else {
            Err(SyncError::BadIndexOverride {
                value: value.to_string(),
            })
        }
    }

    /// A stable description for the fingerprint and messages.
    pub fn describe(&self) -> String {
        match self {
            IndexSource::Url(url) => url.clone(),
            IndexSource::FindLinks(dir) => format!("find-links:{}", dir.display()),
        }
    }

    /// The uv flags that add this source next to the default index.
    pub fn uv_args(&self) -> Vec<OsString> {
        match self {
            IndexSource::Url(url) => vec!["--extra-index-url".into(), url.into()],
            IndexSource::FindLinks(dir) => vec!["--find-links".into(), dir.into()],
        }
    }
}

/// How uv learns the Worker's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformSpec {
    /// A platform uv names itself: `--python-version 3.13.2 --python-platform
    /// wasm32-pyodide2025`, with the host interpreter (if known) as `--python`.
    Named {
        platform: &'static str,
        host_python: Option<PathBuf>,
    },
    /// A platform uv cannot name: a target interpreter that describes it
    /// (`--python <launcher>`, see `interpreter.rs`).
    Interpreter(PathBuf),
}

/// Everything uv needs to know about the Worker's platform.
#[derive(Debug, Clone)]
pub struct Target {
    pub python: PythonVersion,
    /// For messages, `--json` and the stamp: uv's `--python-platform`
    /// name (`wasm32-pyodide2025`) or the wheel tag (`pyemscripten_2026_0_wasm32`).
    pub platform: String,
    pub spec: PlatformSpec,
    pub index: IndexSource,
    pub allow_build: bool,
}

impl Target {
    /// The target for `python`. For 3.14 this writes (once) the target
    /// interpreter into pywrangler-rs's cache, which needs a host Python to run it.
    pub fn new(
        uv: &Uv,
        root: &Path,
        python: PythonVersion,
        index: IndexSource,
        allow_build: bool,
    ) -> Result<Target, SyncError> {
        let spec = match EmscriptenPlatform::for_python(python) {
            None => PlatformSpec::Named {
                platform: Self::platform_for(python),
                host_python: uv.host_python.clone(),
            },
            Some(platform) => {
                let host = interpreter::host_python(uv, root).ok_or(SyncError::NoHostPython {
                    python: python.to_string(),
                    tag: platform.tag(),
                })?;
                let exe = interpreter::ensure(
                    &platform,
                    &host,
                    &pywrangler_runtime::cache_dir::user_cache_dir(),
                )?;
                crate::printer::verbose(format!(
                    "describing {} to uv with {} (runs {})",
                    platform.tag(),
                    exe.display(),
                    host.display()
                ));
                PlatformSpec::Interpreter(exe)
            }
        };
        Ok(Target {
            platform: Self::platform_for(python).to_string(),
            python,
            spec,
            index,
            allow_build,
        })
    }

    /// The platform name for messages and `--json`. 3.12 is Pyodide
    /// 0.27 (uv's `wasm32-pyodide2024`, tag `pyodide_2024_0`), 3.13 is Pyodide
    /// 0.28 (`wasm32-pyodide2025`, `pyodide_2025_0`), 3.14 is Pyodide 314,
    /// whose PEP 783 tag `pyemscripten_2026_0_wasm32` uv 0.13 has no name for.
    pub fn platform_for(python: PythonVersion) -> &'static str {
        match python {
            PythonVersion::Py312 => "wasm32-pyodide2024",
            PythonVersion::Py313 => "wasm32-pyodide2025",
            PythonVersion::Py314 => "pyemscripten_2026_0_wasm32",
        }
    }

    /// What the fingerprint records about the platform: its name and, for a
    /// target interpreter, everything that interpreter reports, so that a
    /// pywrangler-rs describing the platform differently re-syncs.
    pub fn fingerprint_platform(python: PythonVersion) -> String {
        let name = Self::platform_for(python);
        match EmscriptenPlatform::for_python(python) {
            Some(platform) => format!("{name} {}", platform.target_json()),
            None => name.to_string(),
        }
    }

    /// The uv flags that select the interpreter and platform.
    pub fn interpreter_args(&self) -> Vec<OsString> {
        match &self.spec {
            PlatformSpec::Named {
                platform,
                host_python,
            } => {
                let mut args = Vec::new();
                if let Some(python) = host_python {
                    args.push("--python".into());
                    args.push(python.into());
                }
                args.extend([
                    "--python-version".into(),
                    self.python.full_version().into(),
                    "--python-platform".into(),
                    (*platform).into(),
                ]);
                args
            }
            PlatformSpec::Interpreter(exe) => vec!["--python".into(), exe.into()],
        }
    }

    /// `--only-binary :all:` unless building is allowed.
    pub fn build_args(&self) -> Vec<OsString> {
        if self.allow_build {
            Vec::new()
        } else {
            vec!["--only-binary".into(), ":all:".into()]
        }
    }

    /// Index flags: the Pyodide source next to the default index, best match wins.
    pub fn index_args(&self) -> Vec<OsString> {
        let mut args = self.index.uv_args();
        args.push("--index-strategy".into());
        args.push("unsafe-best-match".into());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_override_forms() {
        let root = std::env::temp_dir();
        assert_eq!(
            IndexSource::parse(&root, "https://example.test/simple").ok(),
            Some(IndexSource::Url("https://example.test/simple".into()))
        );
        assert_eq!(
            IndexSource::parse(&root, ".").ok(),
            Some(IndexSource::FindLinks(root.join(".")))
        );
        assert!(IndexSource::parse(&root, "does-not-exist-xyz").is_err());
    }

    #[test]
    fn platforms() {
        assert_eq!(
            Target::platform_for(PythonVersion::Py312),
            "wasm32-pyodide2024"
        );
        assert_eq!(
            Target::platform_for(PythonVersion::Py313),
            "wasm32-pyodide2025"
        );
        assert_eq!(
            Target::platform_for(PythonVersion::Py314),
            "pyemscripten_2026_0_wasm32"
        );
    }

    #[test]
    fn fingerprint_covers_what_the_target_interpreter_reports() {
        // 3.12/3.13 keep their old fingerprint input, so no forced re-sync.
        assert_eq!(
            Target::fingerprint_platform(PythonVersion::Py313),
            "wasm32-pyodide2025"
        );
        let py314 = Target::fingerprint_platform(PythonVersion::Py314);
        assert!(py314.starts_with("pyemscripten_2026_0_wasm32 {"), "{py314}");
        assert!(py314.contains("\"emscripten\": \"5.0.3\""), "{py314}");
    }

    #[test]
    fn named_platform_args() {
        let target = Target {
            python: PythonVersion::Py313,
            platform: "wasm32-pyodide2025".into(),
            spec: PlatformSpec::Named {
                platform: "wasm32-pyodide2025",
                host_python: Some(PathBuf::from("/usr/bin/python3")),
            },
            index: IndexSource::Url("https://example.test".into()),
            allow_build: false,
        };
        let args: Vec<String> = target
            .interpreter_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--python",
                "/usr/bin/python3",
                "--python-version",
                "3.13.2",
                "--python-platform",
                "wasm32-pyodide2025"
            ]
        );
    }
}
