//! Reading the PEP 751 `pylock.toml` uv writes: the package list for the
//! summary, and which packages come from local paths (always rebuilt).

use std::path::Path;

use super::{Package, SyncError};

/// A `[[packages]]` entry, as far as we need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: Option<String>,
    /// From a local directory, sdist or archive path (not a wheel file).
    pub local_source: bool,
}

/// Parse the packages of a lock file.
pub fn locked(contents: &str, path: &Path) -> Result<Vec<LockedPackage>, SyncError> {
    let doc: toml::Table = contents
        .parse()
        .map_err(|e: toml::de::Error| SyncError::Lock {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    let Some(items) = doc.get("packages").and_then(|p| p.as_array()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items {
        let Some(name) = item.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let has_path = |key: &str| item.get(key).and_then(|t| t.get("path")).is_some();
        out.push(LockedPackage {
            name: name.to_string(),
            version: item
                .get("version")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            local_source: has_path("directory") || has_path("sdist") || has_path("archive"),
        });
    }
    Ok(out)
}

/// Name and version of every locked package, sorted by name.
pub fn packages(contents: &str, path: &Path) -> Result<Vec<Package>, SyncError> {
    let mut list: Vec<Package> = locked(contents, path)?
        .into_iter()
        .map(|p| Package {
            name: p.name,
            version: p.version.unwrap_or_else(|| "local".into()),
        })
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// The lock without `requires-python`: uv checks it against the host
/// interpreter even when installing for `--python-version`, which is not the
/// interpreter the files are for.
pub fn without_requires_python(contents: &str) -> String {
    let mut out = String::with_capacity(contents.len());
    let mut in_header = true;
    for line in contents.lines() {
        if line.starts_with('[') {
            in_header = false;
        }
        if in_header && line.trim_start().starts_with("requires-python") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.13"

[[packages]]
name = "purepkg"
version = "1.1"
wheels = [{ url = "file:///x/purepkg-1.1-py3-none-any.whl" }]

[[packages]]
name = "mylib"
directory = { path = "libs/mylib", editable = false }
"#;

    #[test]
    fn parses_packages_and_local_sources() {
        let list = locked(LOCK, Path::new("pylock.toml")).expect("parses");
        assert_eq!(list.len(), 2);
        assert!(!list[0].local_source);
        assert!(list[1].local_source);
        assert_eq!(list[1].version, None);
        let pkgs = packages(LOCK, Path::new("pylock.toml")).expect("parses");
        assert_eq!(pkgs[0].name, "mylib");
        assert_eq!(pkgs[0].version, "local");
    }

    #[test]
    fn strips_only_the_header_requires_python() {
        let stripped = without_requires_python(LOCK);
        assert!(!stripped.contains("requires-python"));
        assert!(stripped.contains("[[packages]]"));
    }

    #[test]
    fn bad_lock_names_the_file() {
        let err = locked("[[packages]\n", Path::new("/p/pylock.toml")).expect_err("bad toml");
        assert!(err.to_string().starts_with("/p/pylock.toml:"));
    }
}
