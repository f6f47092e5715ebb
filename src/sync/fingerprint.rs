//! Staleness by content, not timestamps: a SHA-256 over pyproject.toml,
//! pylock.toml, the target (Python version, platform, index, build setting)
//! and the files of local path dependencies, stored in `python_modules/.synced`.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::PythonVersion;

use super::{IndexSource, PYLOCK, Package, SyncError};

/// Name of the stamp file inside `python_modules/`.
pub const STAMP: &str = ".synced";

/// Bump when the layout of `python_modules/` we produce changes.
const FORMAT: &str = "pywrangler-rs sync v1";

/// Directories inside a local path dependency that builds create or that never ship.
const IGNORED_DIRS: &[&str] = &[
    ".git",
    "__pycache__",
    ".venv",
    "build",
    "dist",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
];

/// What the hash covers.
pub struct Inputs<'a> {
    pub root: &'a Path,
    pub pyproject: &'a Path,
    pub python: PythonVersion,
    pub platform: &'a str,
    pub index: &'a IndexSource,
    pub allow_build: bool,
}

/// Hash the inputs. `lock` is the pylock contents if already in memory.
pub fn compute(inputs: &Inputs<'_>, lock: Option<&str>) -> Result<String, SyncError> {
    let mut h = Sha256::new();
    field(&mut h, "format", FORMAT.as_bytes());
    let pyproject =
        std::fs::read(inputs.pyproject).map_err(|e| SyncError::io(inputs.pyproject, e))?;
    field(&mut h, "pyproject", &pyproject);
    let lock_bytes = match lock {
        Some(text) => text.as_bytes().to_vec(),
        None => std::fs::read(inputs.root.join(PYLOCK)).unwrap_or_default(),
    };
    field(&mut h, "pylock", &lock_bytes);
    field(&mut h, "python", inputs.python.full_version().as_bytes());
    field(&mut h, "platform", inputs.platform.as_bytes());
    field(&mut h, "index", inputs.index.describe().as_bytes());
    field(&mut h, "allow-build", &[inputs.allow_build as u8]);
    let base = inputs.pyproject.parent().unwrap_or(inputs.root);
    for path in local_sources(&pyproject) {
        let path = base.join(path);
        field(&mut h, "source", path.to_string_lossy().as_bytes());
        hash_tree(&mut h, &path);
    }
    Ok(hex(&h.finalize()))
}

/// Length-prefixed so that fields cannot run into each other.
fn field(h: &mut Sha256, name: &str, value: &[u8]) {
    h.update(name.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value);
}

/// `path = "…"` entries of `[tool.uv.sources]` (single tables or lists of them).
pub fn local_sources(pyproject: &[u8]) -> Vec<PathBuf> {
    let Ok(text) = std::str::from_utf8(pyproject) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let sources = doc
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|t| t.get("sources"))
        .and_then(|t| t.as_table());
    let mut out = Vec::new();
    for value in sources.into_iter().flat_map(|t| t.values()) {
        let entries: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for entry in entries {
            if let Some(path) = entry.get("path").and_then(|p| p.as_str()) {
                out.push(PathBuf::from(path));
            }
        }
    }
    out.sort();
    out
}

/// Hash a file, or every file under a directory in a stable order.
fn hash_tree(h: &mut Sha256, path: &Path) {
    if path.is_file() {
        if let Ok(bytes) = std::fs::read(path) {
            field(h, "file", &bytes);
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        field(h, "missing", path.to_string_lossy().as_bytes());
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if IGNORED_DIRS.contains(&name_str.as_ref()) || name_str.ends_with(".egg-info") {
                continue;
            }
            field(h, "dir", name_str.as_bytes());
            hash_tree(h, &entry.path());
        } else if kind.is_file() && !name_str.ends_with(".pyc") {
            field(h, "name", name_str.as_bytes());
            hash_tree(h, &entry.path());
        }
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content of `python_modules/.synced`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub hash: String,
    pub python: String,
    pub platform: String,
    pub packages: Vec<Package>,
    pub size_bytes: u64,
}

impl Stamp {
    /// Read the stamp of a synced tree; `None` if missing or unreadable.
    pub fn read(modules: &Path) -> Option<Stamp> {
        let text = std::fs::read_to_string(modules.join(STAMP)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write the stamp into a (staged) tree.
    pub fn write(&self, dir: &Path) -> Result<(), SyncError> {
        let path = dir.join(STAMP);
        let json = serde_json::to_string_pretty(self).map_err(|e| SyncError::Lock {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut file = std::fs::File::create(&path).map_err(|e| SyncError::io(&path, e))?;
        file.write_all(json.as_bytes())
            .and_then(|_| file.write_all(b"\n"))
            .map_err(|e| SyncError::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_path_sources() {
        let toml = br#"
[tool.uv.sources]
a = { path = "libs/a" }
b = { index = "x" }
c = [{ path = "c1", marker = "sys_platform == 'linux'" }, { path = "c2" }]
"#;
        assert_eq!(
            local_sources(toml),
            vec![
                PathBuf::from("c1"),
                PathBuf::from("c2"),
                PathBuf::from("libs/a")
            ]
        );
        assert!(local_sources(b"not toml [").is_empty());
    }
}
