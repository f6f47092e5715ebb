//! A cheap scan of the module root for `import x` / `from x import …`, to
//! choose which dependencies the base snapshot preloads. Heuristic by
//! design: a missed import only means that package is imported by the layer.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cache::SKIP_DIRS;

/// Top-level module names imported anywhere under `root` (`.py` files).
pub(crate) fn top_level_imports(root: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if name.ends_with(".py")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                scan(&text, &mut names);
            }
        }
    }
    names
}

fn scan(text: &str, names: &mut BTreeSet<String>) {
    for line in text.lines() {
        let line = line.trim_start();
        let first = |module: &str| module.split('.').next().unwrap_or("").trim().to_string();
        if let Some(rest) = line.strip_prefix("import ") {
            for part in rest.split('#').next().unwrap_or("").split(',') {
                let module = part.split_whitespace().next().unwrap_or("");
                names.insert(first(module));
            }
        } else if let Some(rest) = line.strip_prefix("from ")
            && !rest.starts_with('.')
            && let Some(module) = rest.split_whitespace().next()
        {
            names.insert(first(module));
        }
    }
    names.remove("");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_top_level_names() {
        let mut n = BTreeSet::new();
        scan(
            "import os, jinja2.ext as j  # c\nfrom httpx import URL\n    import attrs\nfrom . import local\nfrom .x import y\nx = 'import nope'\n",
            &mut n,
        );
        let got: Vec<_> = n.into_iter().collect();
        assert_eq!(got, ["attrs", "httpx", "jinja2", "os"]);
    }
}
