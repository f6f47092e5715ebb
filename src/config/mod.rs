//! Project configuration: find the project root (`pyproject.toml`), read the
//! wrangler config (`wrangler.jsonc` / `.json` / `.toml`) and apply `--env`.

pub mod python_version;

pub use python_version::PythonVersion;

/// A configuration problem; always names the file (and line:col when known).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Other(String),
}
