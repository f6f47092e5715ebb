//! What we resolve for: the Python version, uv's Pyodide platform name, the
//! Pyodide package index (or a local override), and whether sdists may be built.
//! Turns that into the uv flags shared by resolve, install and the host venv.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::PythonVersion;
use crate::uv::Uv;

use super::SyncError;

/// Overrides the Pyodide package index: a URL, or a local directory of wheels.
pub const PYODIDE_INDEX_ENV: &str = "PYWRANGLER_PYODIDE_INDEX";

/// Where Pyodide-built wheels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexSource {
    /// A PEP 503 index (`--extra-index-url`).
    Url(String),
    /// A flat directory of wheels and sdists (`--find-links`).
    FindLinks(PathBuf),
}

impl IndexSource {
    /// `PYWRANGLER_PYODIDE_INDEX` if set, else the index for this Python version.
    pub fn from_env(root: &Path, python: PythonVersion) -> Result<IndexSource, SyncError> {
        match std::env::var(PYODIDE_INDEX_ENV) {
            Ok(value) if !value.trim().is_empty() => Self::parse(root, value.trim()),
            _ => Ok(IndexSource::Url(python.pyodide_index().to_string())),
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

/// Everything uv needs to know about the Worker's platform.
#[derive(Debug, Clone)]
pub struct Target {
    pub python: PythonVersion,
    /// uv's `--python-platform` value, e.g. `wasm32-pyodide2025`.
    pub platform: String,
    pub index: IndexSource,
    pub allow_build: bool,
}

impl Target {
    pub fn new(uv: &Uv, python: PythonVersion, index: IndexSource, allow_build: bool) -> Target {
        Target {
            platform: Self::platform_for(python, Some(uv)),
            python,
            index,
            allow_build,
        }
    }

    /// uv's platform for this Python. 3.12 is Pyodide 0.27 (`pyodide_2024_0`),
    /// 3.13 is Pyodide 0.28 (`pyodide_2025_0`). 3.14 (Pyodide 314) uses a newer
    /// ABI year; when the installed uv does not know it, pure wheels still
    /// resolve through the 2025 platform.
    pub fn platform_for(python: PythonVersion, uv: Option<&Uv>) -> String {
        match python {
            PythonVersion::Py312 => "wasm32-pyodide2024".to_string(),
            PythonVersion::Py313 => "wasm32-pyodide2025".to_string(),
            PythonVersion::Py314 => {
                let newest = uv.and_then(newest_pyodide_platform);
                match newest {
                    Some(p) if p.as_str() > "wasm32-pyodide2025" => p,
                    _ => "wasm32-pyodide2025".to_string(),
                }
            }
        }
    }

    /// `--python-version 3.13.2 --python-platform wasm32-pyodide2025`.
    pub fn platform_args(&self) -> Vec<OsString> {
        vec![
            "--python-version".into(),
            self.python.full_version().into(),
            "--python-platform".into(),
            self.platform.clone().into(),
        ]
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

/// The newest `wasm32-pyodideYYYY` value the installed uv lists in its help.
fn newest_pyodide_platform(uv: &Uv) -> Option<String> {
    let mut cmd = uv.command(Path::new("."));
    cmd.args(["pip", "compile", "--help"]);
    let out = uv.run(cmd, None).ok()?;
    out.stdout
        .split(|c: char| c.is_whitespace() || c == ',' || c == ']')
        .filter(|w| w.starts_with("wasm32-pyodide"))
        .map(str::to_string)
        .max()
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
    fn static_platforms() {
        assert_eq!(
            Target::platform_for(PythonVersion::Py312, None),
            "wasm32-pyodide2024"
        );
        assert_eq!(
            Target::platform_for(PythonVersion::Py313, None),
            "wasm32-pyodide2025"
        );
    }
}
