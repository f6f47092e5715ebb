//! Detects packages in `python_modules/` that ship native code (Pyodide /
//! Emscripten `.so` files), which the local WASI CPython cannot load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A top-level package with native extension modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativePackage {
    /// Top-level import name (the directory under `python_modules/`).
    pub package: String,
    /// The native files, relative to `python_modules/`.
    pub files: Vec<PathBuf>,
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
        format!(
            "package {} contains native code ({}{more}) built for Pyodide; it cannot run in the local runtime (it will on Cloudflare)",
            self.package,
            names.join(", ")
        )
    }
}

/// Lists the packages under `python_modules` that contain `.so` files.
pub fn scan_native_modules(python_modules: &Path) -> Vec<NativePackage> {
    let mut found: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![python_modules.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".so") || name.contains(".so.")) {
                continue;
            }
            let Ok(rel) = path.strip_prefix(python_modules) else {
                continue;
            };
            let top = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let package = top.split('.').next().unwrap_or(&top).to_string();
            found.entry(package).or_default().push(rel.to_path_buf());
        }
    }
    found
        .into_iter()
        .map(|(package, mut files)| {
            files.sort();
            NativePackage { package, files }
        })
        .collect()
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
