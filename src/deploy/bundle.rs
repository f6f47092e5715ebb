//! Which files a Python Worker uploads, and as what: wrangler's module rules
//! (`**/*.py` under the module root, text/data/wasm rules) plus every file of
//! the project's `python_modules/` as data, minus `python_modules.exclude`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// How a module is uploaded; decides its part's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleKind {
    Python,
    Text,
    Data,
    CompiledWasm,
    Esm,
}

impl ModuleKind {
    /// The multipart Content-Type the API expects for this kind.
    pub fn content_type(self) -> &'static str {
        match self {
            ModuleKind::Python => "text/x-python",
            ModuleKind::Text => "text/plain",
            ModuleKind::Data => "application/octet-stream",
            ModuleKind::CompiledWasm => "application/wasm",
            ModuleKind::Esm => "application/javascript+module",
        }
    }

    /// wrangler's name for the kind (shown in the module table).
    pub fn label(self) -> &'static str {
        match self {
            ModuleKind::Python => "python",
            ModuleKind::Text => "text",
            ModuleKind::Data => "buffer",
            ModuleKind::CompiledWasm => "compiled-wasm",
            ModuleKind::Esm => "esm",
        }
    }

    /// Parse a config rule type (`Text`, `Data`, `CompiledWasm`, `PythonModule`, `ESModule`).
    pub fn from_rule_type(kind: &str) -> Option<ModuleKind> {
        match kind {
            "Text" => Some(ModuleKind::Text),
            "Data" => Some(ModuleKind::Data),
            "CompiledWasm" => Some(ModuleKind::CompiledWasm),
            "PythonModule" => Some(ModuleKind::Python),
            "ESModule" => Some(ModuleKind::Esm),
            _ => None,
        }
    }
}

/// One uploaded file.
#[derive(Debug, Clone)]
pub struct Module {
    /// Module name: the multipart field name and file name (always `/`-separated).
    pub name: String,
    pub kind: ModuleKind,
    /// File contents (shared so retries can rebuild the form without copying).
    pub content: Arc<[u8]>,
}

/// A rule: files matching `globs` become `kind` modules.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: ModuleKind,
    pub globs: Vec<String>,
}

/// What the bundler needs to know about the project.
#[derive(Debug, Clone)]
pub struct BundleInput {
    /// The `python_modules/` that `sync` writes (`ProjectPaths::python_modules`,
    /// in the project root, wherever the wrangler config is).
    pub python_modules: PathBuf,
    /// `base_dir`, else the directory of `main`.
    pub module_root: PathBuf,
    /// The entry module's path.
    pub main_path: PathBuf,
    /// The wrangler config file (never uploaded).
    pub config_path: Option<PathBuf>,
    /// User rules from the config, applied before the defaults.
    pub user_rules: Vec<Rule>,
    /// `python_modules.exclude` globs, relative to `python_modules/`.
    pub python_modules_exclude: Vec<String>,
}

/// The files to upload; `modules[0]` is the main module.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub modules: Vec<Module>,
    /// Duplicate names that were dropped (wrangler warns about these).
    pub ignored_duplicates: Vec<String>,
}

impl Bundle {
    /// The main module (the first one).
    pub fn main(&self) -> &Module {
        &self.modules[0]
    }

    /// Total uncompressed size in bytes.
    pub fn total_size(&self) -> u64 {
        self.modules.iter().map(|m| m.content.len() as u64).sum()
    }
}

/// Why the bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the main module {0} does not exist")]
    MissingMain(PathBuf),
    #[error("the main module {main} is not inside the module root {root}")]
    MainOutsideRoot { main: PathBuf, root: PathBuf },
    #[error(
        "the 'python_modules' directory cannot exist in your module root ({0}), which differs from the project root"
    )]
    PythonModulesInModuleRoot(PathBuf),
    #[error("invalid glob `{glob}` in {what}: {source}")]
    Glob {
        glob: String,
        what: &'static str,
        #[source]
        source: globset::Error,
    },
    #[error("cannot upload {0}: module names may not contain quotes or control characters")]
    BadName(String),
    #[error("python_modules/{clash} clashes with the main module `{main}`")]
    MainClash { clash: String, main: String },
    #[error("symlink loop at {link}: it points to {target}, a directory it is itself inside")]
    SymlinkLoop { link: PathBuf, target: PathBuf },
    #[error("{link} is a symlink to {target}, outside {root}")]
    LinkOutside {
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
}

impl crate::diagnostics::Diagnostic for BundleError {
    fn hints(&self) -> Vec<String> {
        match self {
            BundleError::PythonModulesInModuleRoot(_) => vec![
                "delete that python_modules/ (`pywrangler-rs sync` vendors into the project root)"
                    .into(),
            ],
            BundleError::MainClash { .. } => {
                vec!["rename the main module so it does not shadow a vendored package".into()]
            }
            BundleError::SymlinkLoop { link, .. } => vec![format!(
                "remove the link {} (or replace it with a real directory); wrangler does not follow directory links",
                link.display()
            )],
            BundleError::LinkOutside { link, root, .. } => vec![format!(
                "replace the link {} with a copy of what it points to, or move that under {}: `dev` cannot read files outside it either",
                link.display(),
                root.display()
            )],
            _ => Vec::new(),
        }
    }
}

/// wrangler's default module rules, after the Python rule it adds for `.py` entries.
fn default_rules() -> Vec<Rule> {
    let rule = |kind, globs: &[&str]| Rule {
        kind,
        globs: globs.iter().map(|g| g.to_string()).collect(),
    };
    vec![
        rule(ModuleKind::Python, &["**/*.py"]),
        rule(ModuleKind::Text, &["**/*.txt", "**/*.html", "**/*.sql"]),
        rule(ModuleKind::Data, &["**/*.bin"]),
        rule(ModuleKind::CompiledWasm, &["**/*.wasm", "**/*.wasm?module"]),
    ]
}

/// Directories never walked for modules (tool state, venvs, VCS).
const SKIPPED_DIRS: &[&str] = &[
    ".wrangler",
    ".venv-workers",
    ".venv",
    ".git",
    "node_modules",
];

/// Files never uploaded whatever the rules say (local secrets).
fn is_secret_file(name: &str) -> bool {
    name == ".dev.vars"
        || name.starts_with(".dev.vars.")
        || name == ".env"
        || name.starts_with(".env.")
}

/// Collect the modules to upload.
pub fn collect(input: &BundleInput) -> Result<Bundle, BundleError> {
    if !input.main_path.is_file() {
        return Err(BundleError::MissingMain(input.main_path.clone()));
    }
    let main_rel = input
        .main_path
        .strip_prefix(&input.module_root)
        .map_err(|_| BundleError::MainOutsideRoot {
            main: input.main_path.clone(),
            root: input.module_root.clone(),
        })?;
    // wrangler names the main part by the entry's basename, and leaves the
    // entry's path relative to the module root out of the other modules.
    let main_rel = slash_path(main_rel);
    let main_name = input
        .main_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| main_rel.clone());

    let pm_dir = normalize(&input.python_modules);
    let module_root = normalize(&input.module_root);
    let pm_in_root = module_root.join("python_modules");
    if pm_in_root != pm_dir && pm_in_root.is_dir() {
        return Err(BundleError::PythonModulesInModuleRoot(module_root));
    }

    let main = Module {
        name: main_name.clone(),
        kind: ModuleKind::Python,
        content: read(&input.main_path)?,
    };
    let mut modules = vec![main];
    let mut seen: BTreeSet<String> = BTreeSet::from([main_name.clone()]);
    let mut ignored_duplicates = Vec::new();

    // Rules in order: user rules first, then the defaults (first match wins).
    let mut rules = Vec::new();
    for rule in input.user_rules.iter().chain(default_rules().iter()) {
        rules.push((rule.kind, globset(&rule.globs, "rules")?));
    }
    let config_path = input.config_path.as_ref().map(|p| normalize(p));
    let skip_pm = (pm_in_root == pm_dir).then(|| pm_in_root.clone());
    for Found { rel, abs, outside } in walk(&module_root, skip_pm.as_deref())? {
        if Some(&abs) == config_path.as_ref() || rel == main_rel {
            continue;
        }
        let Some((kind, _)) = rules.iter().find(|(_, set)| set.is_match(&rel)) else {
            continue;
        };
        if let Some(target) = outside {
            return Err(BundleError::LinkOutside {
                link: abs,
                target,
                root: module_root,
            });
        }
        if !seen.insert(rel.clone()) {
            ignored_duplicates.push(rel);
            continue;
        }
        modules.push(Module {
            name: rel,
            kind: *kind,
            content: read(&abs)?,
        });
    }

    if pm_dir.is_dir() {
        let exclude = globset(&input.python_modules_exclude, "python_modules.exclude")?;
        let stem = main_name.trim_end_matches(".py");
        for Found { rel, abs, outside } in walk(&pm_dir, None)? {
            if exclude.is_match(&rel) || SYNC_OWN_FILES.contains(&rel.as_str()) {
                continue;
            }
            if let Some(target) = outside {
                return Err(BundleError::LinkOutside {
                    link: abs,
                    target,
                    root: pm_dir,
                });
            }
            check_main_clash(&rel, stem)?;
            let kind = vendored_kind(&rel);
            let name = format!("python_modules/{rel}");
            if !seen.insert(name.clone()) {
                ignored_duplicates.push(name);
                continue;
            }
            modules.push(Module {
                name,
                kind,
                content: read(&abs)?,
            });
        }
    }
    if let Some(bad) = modules
        .iter()
        .find(|m| m.name.contains('"') || m.name.chars().any(char::is_control))
    {
        return Err(BundleError::BadName(bad.name.clone()));
    }
    Ok(Bundle {
        modules,
        ignored_duplicates,
    })
}

/// Files `sync` writes into `python_modules/` for itself (its up-to-date
/// stamp, and the empty venv marker editors look for), as the original
/// pywrangler does. They are not packages: the upload leaves them out.
/// (wrangler 4.x itself uploads every file there not excluded, these too.)
pub const SYNC_OWN_FILES: [&str; 2] = [crate::sync::fingerprint::STAMP, "pyvenv.cfg"];

/// `.js`/`.mjs` of the workers SDK are ES modules (imported via
/// `import_from_javascript`); everything else vendored is data.
fn vendored_kind(rel: &str) -> ModuleKind {
    let js = rel.ends_with(".js") || rel.ends_with(".mjs");
    if rel.starts_with("workers/") && js {
        ModuleKind::Esm
    } else {
        ModuleKind::Data
    }
}

/// The runtime rejects vendored files that shadow the main module.
fn check_main_clash(rel: &str, main_stem: &str) -> Result<(), BundleError> {
    let clash = rel == format!("{main_stem}.py")
        || rel == format!("{main_stem}/__init__.py")
        || rel == format!("{main_stem}.so")
        || (rel.starts_with(&format!("{main_stem}."))
            && rel.ends_with(".so")
            && !rel.contains('/'));
    if clash {
        return Err(BundleError::MainClash {
            clash: rel.to_string(),
            main: format!("{main_stem}.py"),
        });
    }
    Ok(())
}

fn globset(globs: &[String], what: &'static str) -> Result<GlobSet, BundleError> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        // `*` stops at `/`, like wrangler's glob-to-regexp with globstar.
        let glob = GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|source| BundleError::Glob {
                glob: g.clone(),
                what,
                source,
            })?;
        b.add(glob);
    }
    b.build().map_err(|source| BundleError::Glob {
        glob: globs.join(", "),
        what,
        source,
    })
}

/// A file the walk found.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    /// `/`-separated path relative to the walked root (the module name).
    rel: String,
    /// Path to read, through any symlinked directories.
    abs: PathBuf,
    /// Where a file symlink resolves when that is outside the walked root
    /// (an error only if the file would be uploaded).
    outside: Option<PathBuf>,
}

/// Every file under `root`, sorted, minus tool directories, secrets and `skip`.
///
/// Symlinks are followed the way `dev` sees them through its mounts: a link
/// inside `root` works, a directory link back into one of its own ancestors
/// is a loop and a link resolving outside `root` cannot be read by the guest,
/// so both are errors (wrangler itself never descends into linked directories).
fn walk(root: &Path, skip: Option<&Path>) -> Result<Vec<Found>, BundleError> {
    let canonical = |p: &Path| {
        std::fs::canonicalize(p).map_err(|source| BundleError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let root_real = canonical(root)?;
    let skip_real = skip.and_then(|s| std::fs::canonicalize(s).ok());
    let mut walker = Walker {
        base: root,
        root_real: &root_real,
        skip_real: skip_real.as_deref(),
        stack: vec![root_real.clone()],
        out: Vec::new(),
    };
    walker.dir(root)?;
    let mut out = walker.out;
    out.sort();
    Ok(out)
}

struct Walker<'a> {
    base: &'a Path,
    root_real: &'a Path,
    skip_real: Option<&'a Path>,
    /// Resolved directories from the root to the one being listed.
    stack: Vec<PathBuf>,
    out: Vec<Found>,
}

impl Walker<'_> {
    fn dir(&mut self, dir: &Path) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BundleError::Io { path, source }
        };
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let file_type = entry.file_type().map_err(io(&path))?;
            let here = self.stack.last().cloned().unwrap_or_default();
            let (real, is_dir) = if file_type.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) => {
                        let is_dir = target.is_dir();
                        (target, is_dir)
                    }
                    // Dangling or self-referencing: a file that fails to read if uploaded.
                    Err(_) => (here.join(&name), false),
                }
            } else {
                (here.join(&name), file_type.is_dir())
            };
            if is_dir {
                if SKIPPED_DIRS.contains(&name.as_str()) || Some(real.as_path()) == self.skip_real {
                    continue;
                }
                if file_type.is_symlink() {
                    if here.starts_with(&real) || self.stack.contains(&real) {
                        return Err(BundleError::SymlinkLoop {
                            link: path,
                            target: real,
                        });
                    }
                    if !real.starts_with(self.root_real) {
                        return Err(BundleError::LinkOutside {
                            link: path,
                            target: real,
                            root: self.base.to_path_buf(),
                        });
                    }
                }
                self.stack.push(real);
                let walked = self.dir(&path);
                self.stack.pop();
                walked?;
            } else if !is_secret_file(&name) {
                let rel = path.strip_prefix(self.base).unwrap_or(&path);
                let outside =
                    (file_type.is_symlink() && !real.starts_with(self.root_real)).then_some(real);
                self.out.push(Found {
                    rel: slash_path(rel),
                    abs: path,
                    outside,
                });
            }
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<Arc<[u8]>, BundleError> {
    std::fs::read(path)
        .map(Arc::from)
        .map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Absolute, `..`-free form used to compare roots (no symlink resolution).
fn normalize(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }

    fn input(root: &Path) -> BundleInput {
        BundleInput {
            python_modules: root.join("python_modules"),
            module_root: root.join("src"),
            main_path: root.join("src/entry.py"),
            config_path: Some(root.join("wrangler.jsonc")),
            user_rules: vec![],
            python_modules_exclude: vec!["**/*.pyc".into()],
        }
    }

    #[test]
    fn collects_rules_and_vendored_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "wrangler.jsonc", "{}");
        write(root, "src/entry.py", "x = 1");
        write(root, "src/lib/util.py", "y = 2");
        write(root, "src/data/q.sql", "select 1");
        write(root, "src/blob.bin", "b");
        write(root, "src/notes.md", "ignored");
        write(root, "src/.dev.vars", "SECRET=1");
        write(root, "python_modules/six.py", "");
        write(root, "python_modules/pkg/__pycache__/a.cpython-313.pyc", "");
        write(root, "python_modules/.synced", "stamp");
        write(root, "python_modules/pyvenv.cfg", "");
        write(root, "python_modules/pkg/pyvenv.cfg", "kept: not sync's");
        write(root, "python_modules/workers/sdk.mjs", "");
        write(root, "python_modules/workers/x.py", "");
        let b = collect(&input(root)).expect("bundle");
        let names: Vec<_> = b
            .modules
            .iter()
            .map(|m| (m.name.as_str(), m.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("entry.py", ModuleKind::Python),
                ("blob.bin", ModuleKind::Data),
                ("data/q.sql", ModuleKind::Text),
                ("lib/util.py", ModuleKind::Python),
                ("python_modules/pkg/pyvenv.cfg", ModuleKind::Data),
                ("python_modules/six.py", ModuleKind::Data),
                ("python_modules/workers/sdk.mjs", ModuleKind::Esm),
                ("python_modules/workers/x.py", ModuleKind::Data),
            ]
        );
    }

    #[test]
    fn rejects_python_modules_in_module_root() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        write(root, "src/python_modules/a.py", "");
        let err = collect(&input(root)).expect_err("must fail");
        assert!(matches!(err, BundleError::PythonModulesInModuleRoot(_)));
    }

    #[test]
    fn rejects_main_clash() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        write(root, "python_modules/entry/__init__.py", "");
        let err = collect(&input(root)).expect_err("must fail");
        assert!(err.to_string().contains("entry/__init__.py"), "{err}");
    }

    #[cfg(unix)]
    fn link(root: &Path, rel: &str, target: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }

    #[cfg(unix)]
    #[test]
    fn regression_symlink_loop_is_an_error_not_forty_copies() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        link(root, "src/up", "..");
        let err = collect(&input(root)).expect_err("must fail");
        assert!(
            matches!(&err, BundleError::SymlinkLoop { link, .. } if link.ends_with("src/up")),
            "{err}"
        );
        // A loop that only closes through a sibling is caught too.
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        link(root, "src/a/to_b", "../b");
        link(root, "src/b/to_a", "../a");
        let err = collect(&input(root)).expect_err("must fail");
        assert!(matches!(err, BundleError::SymlinkLoop { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn links_inside_the_root_are_followed() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        write(root, "src/lib/util.py", "u");
        link(root, "src/alias", "lib");
        link(root, "src/same.py", "lib/util.py");
        let b = collect(&input(root)).expect("bundle");
        let names: Vec<_> = b.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["entry.py", "alias/util.py", "lib/util.py", "same.py"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_resolving_outside_the_root_are_errors_when_uploaded() {
        let outside = tempfile::tempdir().expect("tmp");
        write(outside.path(), "shared.py", "s");
        write(outside.path(), "pkg/__init__.py", "");
        let shared = outside.path().join("shared.py");
        let pkg = outside.path().join("pkg");
        let s = |p: &Path| p.to_str().expect("utf8").to_string();

        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        link(root, "src/notes.md", &s(&shared)); // matches no rule: ignored
        collect(&input(root)).expect("an unuploaded link is harmless");
        link(root, "src/shared.py", &s(&shared));
        let err = collect(&input(root)).expect_err("must fail");
        assert!(
            matches!(&err, BundleError::LinkOutside { link, .. } if link.ends_with("src/shared.py")),
            "{err}"
        );

        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        link(root, "src/pkg", &s(&pkg));
        let err = collect(&input(root)).expect_err("must fail");
        assert!(matches!(err, BundleError::LinkOutside { .. }), "{err}");

        // python_modules/ is its own root: excluded links are skipped.
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "src/entry.py", "");
        link(root, "python_modules/x.pyc", &s(&shared));
        collect(&input(root)).expect("excluded");
        link(root, "python_modules/shared.py", &s(&shared));
        let err = collect(&input(root)).expect_err("must fail");
        assert!(
            err.to_string().contains("python_modules/shared.py"),
            "{err}"
        );
    }

    #[test]
    fn project_root_as_module_root_skips_tool_dirs() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        write(root, "entry.py", "");
        write(root, ".venv-workers/lib/x.py", "");
        write(root, ".wrangler/tmp/y.py", "");
        write(root, "python_modules/z.py", "");
        let mut i = input(root);
        i.module_root = root.to_path_buf();
        i.main_path = root.join("entry.py");
        let b = collect(&i).expect("bundle");
        let names: Vec<_> = b.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["entry.py", "python_modules/z.py"]);
    }
}
