//! Project scaffolding behind `pywrangler-rs init`: pick a template (built-in,
//! local directory or git URL), fill in its placeholders (`{{name}}`,
//! `{{compatibility_date}}`) and write it into the target directory.

mod date;
mod git;
pub mod name;
mod template;
mod write;

use std::path::{Path, PathBuf};

use crate::diagnostics::{Diagnostic, Exit};

pub use date::today_utc;
pub use git::{GitInit, init_repo};
pub use template::{BUILTINS, TemplateFile, TemplateSource};

/// Everything that can stop a scaffold, each with its hints ([`Diagnostic`]).
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// `--template` is neither a built-in, a git URL nor an existing directory.
    #[error("unknown template `{spec}`{}", if *looks_like_path { ": no such directory" } else { "" })]
    UnknownTemplate { spec: String, looks_like_path: bool },
    /// The target directory already holds files and `--force` was not given.
    #[error("directory `{}` is not empty; refusing to overwrite it", shown_dir(dir).display())]
    NotEmpty { dir: PathBuf },
    /// `--name` is not a valid Worker name.
    #[error("invalid Worker name `{name}`: use lowercase letters, digits and dashes (at most {max} characters, no leading or trailing dash)", max = name::MAX_LEN)]
    InvalidName { name: String },
    /// A local or cloned template directory has no files.
    #[error("template directory {} has no files", path.display())]
    EmptyTemplate { path: PathBuf },
    /// A template file path would land outside the project.
    #[error("template file path {} leaves the project directory", path.display())]
    UnsafePath { path: PathBuf },
    /// A git URL was given but git is not installed.
    #[error("git is needed to clone template {url} but was not found in PATH")]
    GitMissing { url: String },
    /// `git clone` failed.
    #[error("could not clone template {url}")]
    Clone {
        url: String,
        #[source]
        source: crate::child::ChildError,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `.` says little in an error; show where that is.
fn shown_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir)
        .ok()
        .filter(|_| dir == Path::new("."))
        .unwrap_or_else(|| dir.to_path_buf())
}

impl Diagnostic for ScaffoldError {
    fn hints(&self) -> Vec<String> {
        match self {
            ScaffoldError::UnknownTemplate { .. } => vec![
                format!("built-in templates: {}", BUILTINS.join(", ")),
                "or pass a local template directory or a git URL (https://, git@, ssh://, file://)"
                    .into(),
            ],
            ScaffoldError::NotEmpty { .. } => vec![
                "pass --force to write the template into it anyway (same-named files are replaced)"
                    .into(),
                "or choose another directory: `pywrangler-rs init my-worker`".into(),
            ],
            ScaffoldError::InvalidName { name } => {
                vec![format!("for example: --name {}", self::name::sanitize(name))]
            }
            ScaffoldError::GitMissing { .. } => vec![
                "install git (https://git-scm.com, or e.g. `apt-get install git`, `brew install git`, `winget install Git.Git`), or clone the template yourself and pass its directory".into(),
            ],
            ScaffoldError::Clone { .. } => vec![
                "check the URL and that the repository is reachable without a password prompt"
                    .into(),
            ],
            ScaffoldError::EmptyTemplate { .. }
            | ScaffoldError::UnsafePath { .. }
            | ScaffoldError::Io { .. } => Vec::new(),
        }
    }

    fn exit(&self) -> Exit {
        match self {
            ScaffoldError::UnknownTemplate { .. } | ScaffoldError::InvalidName { .. } => {
                Exit::Usage
            }
            _ => Exit::Failure,
        }
    }
}

/// What to scaffold and where.
#[derive(Debug)]
pub struct ScaffoldOptions {
    /// The project directory (created if missing).
    pub dest: PathBuf,
    /// The template to use.
    pub template: TemplateSource,
    /// The Worker name (already validated).
    pub name: String,
    /// Write into a non-empty directory.
    pub force: bool,
}

/// The result of a scaffold: what was written.
#[derive(Debug)]
pub struct Scaffolded {
    /// Paths written, relative to the project directory, sorted.
    pub files: Vec<PathBuf>,
    /// The `compatibility_date` filled in.
    pub compatibility_date: String,
}

/// The Worker name for a project in `dest`: `explicit` if given (it must be valid),
/// else the directory's own name made valid.
pub fn resolve_name(explicit: Option<&str>, dest: &Path) -> Result<String, ScaffoldError> {
    if let Some(explicit) = explicit {
        return if name::is_valid(explicit) {
            Ok(explicit.to_string())
        } else {
            Err(ScaffoldError::InvalidName {
                name: explicit.to_string(),
            })
        };
    }
    // `.` and `..` have no useful file name until resolved; the directory may not exist yet.
    let absolute = std::fs::canonicalize(dest)
        .or_else(|_| std::path::absolute(dest))
        .unwrap_or_else(|_| dest.to_path_buf());
    let dir_name = absolute
        .components()
        .rev()
        .find_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .unwrap_or_default();
    Ok(name::sanitize(&dir_name))
}

/// Scaffold a project: check the directory, load and render the template, write it.
pub fn scaffold(opts: &ScaffoldOptions) -> Result<Scaffolded, ScaffoldError> {
    if !opts.force && write::is_non_empty(&opts.dest)? {
        return Err(ScaffoldError::NotEmpty {
            dir: opts.dest.clone(),
        });
    }
    let compatibility_date = today_utc();
    let files = opts.template.load()?;
    let rendered: Vec<TemplateFile> = files
        .into_iter()
        .map(|file| render(file, &opts.name, &compatibility_date))
        .collect();
    write::write_all(&opts.dest, &rendered)?;
    Ok(Scaffolded {
        files: rendered.into_iter().map(|f| f.path).collect(),
        compatibility_date,
    })
}

/// Fill the placeholders of a UTF-8 file; binary files pass through untouched.
fn render(file: TemplateFile, name: &str, compatibility_date: &str) -> TemplateFile {
    match String::from_utf8(file.contents) {
        Ok(text) => TemplateFile {
            contents: fill_placeholders(&text, name, compatibility_date).into_bytes(),
            ..file
        },
        Err(not_utf8) => TemplateFile {
            contents: not_utf8.into_bytes(),
            ..file
        },
    }
}

/// Replace exactly the known placeholders; other `{{…}}` (e.g. in f-strings) stay.
fn fill_placeholders(text: &str, name: &str, compatibility_date: &str) -> String {
    text.replace("{{name}}", name)
        .replace("{{compatibility_date}}", compatibility_date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_only_known_placeholders() {
        let out = fill_placeholders(
            "{{name}} {{compatibility_date}} f\"{{x}}\" {{ name }}",
            "w",
            "2026-01-02",
        );
        assert_eq!(out, "w 2026-01-02 f\"{{x}}\" {{ name }}");
    }

    #[test]
    fn name_from_directory() {
        assert_eq!(
            resolve_name(None, Path::new("/tmp/My Project")).expect("ok"),
            "my-project"
        );
        assert_eq!(
            resolve_name(Some("ok-name"), Path::new("/x")).expect("ok"),
            "ok-name"
        );
        assert!(resolve_name(Some("Bad_Name"), Path::new("/x")).is_err());
    }
}
