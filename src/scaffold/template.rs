//! Where a project's files come from: a template embedded in the binary, a local
//! directory, or a git repository cloned into a temp dir. All three end up as the
//! same list of [`TemplateFile`]s, so rendering and writing do not care.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::ScaffoldError;

/// Every built-in template, compiled into the binary from `templates/`.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Built-in template names, default first (the order `--help` and errors list them).
pub const BUILTINS: &[&str] = &["hello", "fastapi", "durable-object", "cron", "kv-d1"];

/// One file of a template: its path relative to the project root and its bytes.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    /// Keep the executable bit of scripts in local and git templates.
    pub executable: bool,
}

/// What `--template` named, once classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A template embedded in the binary.
    Builtin(&'static str),
    /// A directory on disk, copied as is (its `.git` skipped).
    Local(PathBuf),
    /// A git repository URL, cloned shallowly.
    Git(String),
}

impl TemplateSource {
    /// Classify a `--template` value: built-in name, then git URL, then existing directory.
    pub fn parse(spec: &str) -> Result<TemplateSource, ScaffoldError> {
        if let Some(name) = BUILTINS.iter().find(|b| **b == spec) {
            return Ok(TemplateSource::Builtin(name));
        }
        if is_git_url(spec) {
            return Ok(TemplateSource::Git(spec.to_string()));
        }
        let path = Path::new(spec);
        if path.is_dir() {
            return Ok(TemplateSource::Local(path.to_path_buf()));
        }
        Err(ScaffoldError::UnknownTemplate {
            spec: spec.to_string(),
            looks_like_path: spec.contains(std::path::MAIN_SEPARATOR)
                || spec.contains('/')
                || spec.starts_with('.'),
        })
    }

    /// A short description for messages: `hello`, `./my-template`, the URL.
    pub fn describe(&self) -> String {
        match self {
            TemplateSource::Builtin(name) => (*name).to_string(),
            TemplateSource::Local(path) => path.display().to_string(),
            TemplateSource::Git(url) => url.clone(),
        }
    }

    /// Load the template's files. Git templates are cloned into a temp dir first.
    pub fn load(&self) -> Result<Vec<TemplateFile>, ScaffoldError> {
        match self {
            TemplateSource::Builtin(name) => builtin_files(name),
            TemplateSource::Local(dir) => read_dir_files(dir),
            TemplateSource::Git(url) => {
                let clone = super::git::clone_shallow(url)?;
                read_dir_files(&clone.path().join("template"))
            }
        }
    }
}

/// Whether `spec` names a git repository rather than a directory.
fn is_git_url(spec: &str) -> bool {
    ["https://", "http://", "ssh://", "git://", "file://", "git@"]
        .iter()
        .any(|prefix| spec.starts_with(prefix))
        || spec.ends_with(".git")
}

/// The files of a built-in template, paths relative to its own directory.
fn builtin_files(name: &str) -> Result<Vec<TemplateFile>, ScaffoldError> {
    let dir = TEMPLATES
        .get_dir(name)
        .ok_or_else(|| ScaffoldError::UnknownTemplate {
            spec: name.to_string(),
            looks_like_path: false,
        })?;
    let mut files = Vec::new();
    collect_embedded(dir, Path::new(name), &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn collect_embedded(dir: &Dir<'static>, root: &Path, out: &mut Vec<TemplateFile>) {
    for file in dir.files() {
        // Embedded paths are relative to `templates/`; strip the template's own dir.
        let path = file
            .path()
            .strip_prefix(root)
            .unwrap_or(file.path())
            .to_path_buf();
        out.push(TemplateFile {
            path,
            contents: file.contents().to_vec(),
            executable: false,
        });
    }
    for sub in dir.dirs() {
        collect_embedded(sub, root, out);
    }
}

/// Read every file under `root` (following symlinks), skipping `.git` directories.
fn read_dir_files(root: &Path) -> Result<Vec<TemplateFile>, ScaffoldError> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let entries = std::fs::read_dir(&dir).map_err(|source| ScaffoldError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ScaffoldError::Io {
                path: dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let full = entry.path();
            let meta = std::fs::metadata(&full).map_err(|source| ScaffoldError::Io {
                path: full.clone(),
                source,
            })?;
            if meta.is_dir() {
                pending.push(rel.join(&name));
            } else if meta.is_file() {
                let contents = std::fs::read(&full).map_err(|source| ScaffoldError::Io {
                    path: full.clone(),
                    source,
                })?;
                files.push(TemplateFile {
                    path: rel.join(&name),
                    contents,
                    executable: is_executable(&meta),
                });
            }
        }
    }
    if files.is_empty() {
        return Err(ScaffoldError::EmptyTemplate {
            path: root.to_path_buf(),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_embedded_with_the_required_files() {
        for name in BUILTINS {
            let files = builtin_files(name).expect("embedded");
            for required in [
                "pyproject.toml",
                "wrangler.jsonc",
                "src/entry.py",
                ".gitignore",
                "README.md",
            ] {
                assert!(
                    files.iter().any(|f| f.path == Path::new(required)),
                    "{name} lacks {required}"
                );
            }
        }
    }

    #[test]
    fn classifies_specs() {
        assert_eq!(
            TemplateSource::parse("cron").expect("builtin"),
            TemplateSource::Builtin("cron")
        );
        for url in [
            "https://github.com/a/b",
            "git@github.com:a/b.git",
            "ssh://host/repo",
            "file:///tmp/repo",
            "../some/repo.git",
        ] {
            assert_eq!(
                TemplateSource::parse(url).expect("git"),
                TemplateSource::Git(url.to_string())
            );
        }
        assert!(matches!(
            TemplateSource::parse("nope"),
            Err(ScaffoldError::UnknownTemplate {
                looks_like_path: false,
                ..
            })
        ));
    }
}
