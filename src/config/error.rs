//! Configuration errors. Every variant names the file (and line:col when the
//! problem has a position) and carries a hint saying what to change.

use std::fmt;
use std::path::PathBuf;

use super::python_version::PythonVersionError;

/// A position in a config file, printed as `file:line:col` (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it or as it was found.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Location {
    /// The location of byte `offset` in `text`.
    pub fn at(file: impl Into<PathBuf>, text: &str, offset: usize) -> Location {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Location {
            file: file.into(),
            line,
            col,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration problem; always names the file (and line:col when known).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `pyproject.toml` in the working directory or above (the original's message).
    #[error("pyproject.toml not found in {} or any parent directories", .cwd.display())]
    PyprojectNotFound { cwd: PathBuf },

    /// No wrangler config next to the project.
    #[error(
        "no wrangler config found in {}: expected wrangler.json, wrangler.jsonc or wrangler.toml",
        .dir.display()
    )]
    WranglerNotFound { dir: PathBuf },

    /// A file that exists (or was named) could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Bad syntax, a wrong type or a failed check, at a position in a file.
    #[error("{location}: {message}")]
    Invalid {
        location: Location,
        message: String,
        hint: Option<String>,
    },

    /// `--env NAME` names an environment the config does not define.
    #[error("{}: environment `{env}` not found in the config", .path.display())]
    UnknownEnv {
        path: PathBuf,
        env: String,
        available: Vec<String>,
    },

    /// The Python version could not be chosen (missing flag, missing or bad date).
    #[error("{location}: {source}")]
    Python {
        location: Location,
        #[source]
        source: PythonVersionError,
    },
}

impl ConfigError {
    /// A problem at `location` with a hint on how to fix it.
    pub fn invalid(location: Location, message: impl Into<String>, hint: Option<String>) -> Self {
        ConfigError::Invalid {
            location,
            message: message.into(),
            hint,
        }
    }

    /// What the user should change, printed as a `hint:` line.
    pub(super) fn hint(&self) -> Option<String> {
        match self {
            ConfigError::PyprojectNotFound { .. } => Some(
                "run this inside a Python Worker project, or create one with `pywrangler-rs init`"
                    .into(),
            ),
            ConfigError::WranglerNotFound { .. } => Some(
                "create wrangler.jsonc next to pyproject.toml, or pass `-c/--config FILE`".into(),
            ),
            ConfigError::Read { .. } => Some("check that the path exists and is readable".into()),
            ConfigError::Invalid { hint, .. } => hint.clone(),
            ConfigError::UnknownEnv { available, .. } if available.is_empty() => Some(
                "the config defines no environments; add an `env.<NAME>` table or drop `--env`"
                    .into(),
            ),
            ConfigError::UnknownEnv { available, .. } => {
                Some(format!("available environments: {}", available.join(", ")))
            }
            ConfigError::Python { source, .. } => Some(match source {
                PythonVersionError::MissingFlag => {
                    "add \"python_workers\" to compatibility_flags".into()
                }
                PythonVersionError::MissingDate => {
                    "set compatibility_date to a date like \"2025-11-02\"".into()
                }
                PythonVersionError::BadDate(_) => {
                    "write compatibility_date as YYYY-MM-DD, e.g. \"2025-11-02\"".into()
                }
            }),
        }
    }
}

impl crate::diagnostics::Diagnostic for ConfigError {
    fn hints(&self) -> Vec<String> {
        self.hint().into_iter().collect()
    }

    /// Every configuration problem is a usage error.
    fn exit(&self) -> crate::diagnostics::Exit {
        crate::diagnostics::Exit::Usage
    }
}
