//! Finds native code in `python_modules/` (Pyodide / Emscripten `.so` files): the extension
//! modules a per-project guest links in (see `link.rs`), and the packages whose native code
//! cannot run locally, with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A top-level package with native extension modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativePackage {
    /// Top-level import name (the directory under `python_modules/`).
    pub package: String,
    /// The native files, relative to `python_modules/`.
    pub files: Vec<PathBuf>,
    /// Why they cannot run locally, when known (e.g. "needs libopenblas.so").
    pub reason: Option<String>,
}

impl NativePackage {
    /// The user-facing explanation.
    pub fn message(&self) -> String {
        let names: Vec<String> = self
            .files
            .iter()
            .take(3)
            .map(|f| {
                f.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let more = if self.files.len() > 3 {
            format!(", and {} more", self.files.len() - 3)
        } else {
            String::new()
        };
        let why = match &self.reason {
            Some(r) => format!(": {r}"),
            None => String::new(),
        };
        format!(
            "package {} contains native code ({}{more}) built for Pyodide; it cannot run in the local runtime{why} (it will on Cloudflare)",
            self.package,
            names.join(", ")
        )
    }
}

/// Lists the packages under `python_modules` that contain `.so` files.
pub fn scan_native_modules(python_modules: &Path) -> Vec<NativePackage> {
    let files = crate::cache::list_tree(python_modules, &[]).unwrap_or_default();
    native_packages(&files)
}

/// The packages with `.so` files among `files` (relative to `python_modules`, as
/// [`crate::cache::list_tree`] lists them), each with its native files in order.
fn native_packages(files: &[PathBuf]) -> Vec<NativePackage> {
    let mut found: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for rel in files {
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if !(name.ends_with(".so") || name.contains(".so.")) {
            continue;
        }
        let top = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let package = top.split('.').next().unwrap_or(&top).to_string();
        found.entry(package).or_default().push(rel.clone());
    }
    found
        .into_iter()
        .map(|(package, mut files)| {
            files.sort();
            NativePackage {
                package,
                files,
                reason: None,
            }
        })
        .collect()
}

/// A Pyodide extension module the guest can try to link in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtModule {
    /// Path relative to `python_modules/`, with `/` separators (what `dlopen` paths end with).
    pub rel: String,
    /// The file on the host.
    pub path: PathBuf,
    /// Top-level package (the first path component, without a `.py`/`.so` suffix).
    pub package: String,
    /// Its init function, `PyInit_<module name>`.
    pub init: String,
}

/// Splits the native files among `files` (`python_modules`' files, as
/// [`crate::cache::list_tree`] lists them) into extension modules built for this guest's
/// Python (`*.cpython-3XY-wasm32-emscripten.so`, `*.abi3.so`), which a per-project guest can
/// link, and the packages whose native code cannot run here (other `.so` files: shared
/// libraries, modules for another Python), with the reason.
pub(crate) fn split_native(
    python_modules: &Path,
    files: &[PathBuf],
    python: &str,
) -> (Vec<ExtModule>, Vec<NativePackage>) {
    let suffix = format!(".cpython-{}-wasm32-emscripten.so", python.replace('.', ""));
    let mut linkable = Vec::new();
    let mut refused = Vec::new();
    for mut pkg in native_packages(files) {
        let mut other = Vec::new();
        for rel in std::mem::take(&mut pkg.files) {
            let name = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = name
                .strip_suffix(suffix.as_str())
                .or_else(|| name.strip_suffix(".abi3.so"))
                .filter(|s| !s.is_empty() && !s.contains('.'));
            match stem {
                Some(stem) => linkable.push(ExtModule {
                    rel: rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/"),
                    path: python_modules.join(&rel),
                    package: pkg.package.clone(),
                    init: format!("PyInit_{stem}"),
                }),
                None => other.push(rel),
            }
        }
        if !other.is_empty() {
            let odd = other
                .iter()
                .filter_map(|f| f.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .find(|n| n.contains("-wasm32-emscripten.so"));
            let reason = match odd {
                Some(n) => format!("{n} is built for another Python than the guest's {python}"),
                None => "it ships shared libraries, which the local guest cannot load".into(),
            };
            refused.push(NativePackage {
                package: pkg.package,
                files: other,
                reason: Some(reason),
            });
        }
    }
    linkable.sort_by(|a, b| a.rel.cmp(&b.rel));
    (linkable, refused)
}

/// Importable top-level names in `python_modules` (packages and modules),
/// skipping metadata, caches and scripts.
pub(crate) fn top_level_names(python_modules: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(python_modules) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            let ident = |s: &str| {
                !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !s.starts_with(|c: char| c.is_ascii_digit())
            };
            if path.is_dir() {
                let is_pkg = path.join("__init__.py").is_file();
                (ident(&name) && is_pkg && name != "__pycache__").then_some(name)
            } else {
                let stem = name.strip_suffix(".py")?;
                (ident(stem) && !stem.starts_with('_')).then(|| stem.to_string())
            }
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_so_files_per_package() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::create_dir_all(p.join("pydantic_core")).expect("mkdir");
        std::fs::write(p.join("pydantic_core/__init__.py"), "").expect("write");
        std::fs::write(
            p.join("pydantic_core/_pydantic_core.cpython-313-wasm32-emscripten.so"),
            "",
        )
        .expect("write");
        std::fs::create_dir_all(p.join("six_pkg")).expect("mkdir");
        std::fs::write(p.join("six_pkg/__init__.py"), "").expect("write");
        std::fs::write(p.join("single.py"), "").expect("write");
        std::fs::create_dir_all(p.join("x-1.0.dist-info")).expect("mkdir");
        let found = scan_native_modules(p);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].package, "pydantic_core");
        assert!(found[0].message().contains("package pydantic_core contains native code (_pydantic_core.cpython-313-wasm32-emscripten.so) built for Pyodide"));
        assert_eq!(
            top_level_names(p),
            vec!["pydantic_core", "single", "six_pkg"]
        );
    }
}
