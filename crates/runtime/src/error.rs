//! Error types of the runtime: building it, building a snapshot, and running
//! an event. Each message says what happened and, where it can, what to do.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::native::NativePackage;

/// A Python exception that crossed the boundary (type, message, traceback).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct PythonError {
    /// Exception class name, e.g. `ValueError`.
    #[serde(rename = "type", default)]
    pub r#type: String,
    /// `str(exception)`.
    #[serde(default)]
    pub message: String,
    /// The formatted traceback, as Python prints it.
    #[serde(default)]
    pub traceback: String,
}

impl std::fmt::Display for PythonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.r#type)
        } else {
            write!(f, "{}: {}", self.r#type, self.message)
        }
    }
}

/// Failure to set up the runtime itself (engine, guest files, caches).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The guest (`pyworker.wasm` + stdlib) was not found.
    #[error(
        "the Python guest was not found{}",
        .0.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default()
    )]
    GuestMissing(Option<PathBuf>),
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// wasmtime refused the configuration or a module.
    #[error("wasmtime: {0:#}")]
    Wasm(anyhow::Error),
}

/// Failure to build a snapshot of a Worker.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Importing the Worker's main module raised a Python exception.
    #[error("importing the Worker failed: {0}\n{traceback}", traceback = .0.traceback)]
    Python(PythonError),
    /// The import failed because a package ships native code built for Pyodide.
    #[error("{}\n(import error: {error})", packages.iter().map(NativePackage::message).collect::<Vec<_>>().join("\n"))]
    NativeCode {
        /// The packages with native code that the import touched.
        packages: Vec<NativePackage>,
        /// The import error Python raised.
        error: PythonError,
    },
    /// The Worker's top-level code ran longer than the snapshot time limit.
    #[error("the Worker's top-level code did not finish within {0:?}")]
    Timeout(Duration),
    /// The Worker's top-level code exceeded the memory limit.
    #[error("the Worker's top-level code exceeded the memory limit of {0} MiB")]
    MemoryLimit(u64),
    /// The spec is unusable (missing directories, bad module name).
    #[error("{0}")]
    Invalid(String),
    /// The guest broke the ABI or trapped during the snapshot.
    #[error("the Python guest failed while snapshotting: {0}")]
    Guest(String),
    /// Setting up the runtime or the cache failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Failure to run one event in an instance.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The handler raised; the instance is still usable.
    #[error("{0}")]
    Python(PythonError),
    /// The event exceeded its CPU or wall-clock limit; the instance is gone.
    #[error("the request exceeded its {kind} time limit of {limit:?}")]
    Timeout {
        /// `"CPU"` or `"wall-clock"`.
        kind: &'static str,
        /// The limit that was exceeded.
        limit: Duration,
    },
    /// The instance tried to grow its memory past the limit; it is gone.
    #[error("the Worker exceeded its memory limit of {0} MiB")]
    MemoryLimit(u64),
    /// The guest trapped or broke the ABI; the instance is gone.
    #[error("the Python runtime crashed: {0}")]
    Trap(String),
    /// No instance could be created (pool exhausted, bad snapshot).
    #[error("could not start a Python instance: {0}")]
    Instantiate(String),
}

impl InvokeError {
    /// True when the instance must be discarded (everything but a Python error).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, InvokeError::Python(_))
    }
}
