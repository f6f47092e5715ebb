//! The error a binding op reports back to Python. Its message is what the
//! worker sees in the raised exception, so it mirrors Cloudflare's wording.

/// A failed host op; `py_type` names the Python exception class raised in the guest.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The worker passed an argument the binding rejects (raised as `TypeError`).
    #[error("{0}")]
    Invalid(String),
    /// The operation failed (raised as `Error`).
    #[error("{0}")]
    Failed(String),
    /// The operation ran past the timeout the worker gave it (raised as `TimeoutError`).
    #[error("{0}")]
    Timeout(String),
    /// The guest asked for an op this host does not know.
    #[error("unknown host op `{0}`")]
    UnknownOp(String),
    /// A binding name that is not configured for this kind of op.
    #[error("no {kind} binding named `{name}` is configured (check the wrangler config)")]
    NoBinding { kind: &'static str, name: String },
    /// Local storage failed underneath.
    #[error("local storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Local files failed underneath.
    #[error("local storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl OpError {
    /// The Python exception type the guest raises for this error.
    pub fn py_type(&self) -> &'static str {
        match self {
            OpError::Invalid(_) => "TypeError",
            OpError::Timeout(_) => "TimeoutError",
            _ => "Error",
        }
    }

    /// Shorthand for [`OpError::Invalid`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        OpError::Invalid(msg.into())
    }

    /// Shorthand for [`OpError::Failed`].
    pub fn failed(msg: impl Into<String>) -> Self {
        OpError::Failed(msg.into())
    }
}

/// Result of a binding op.
pub type OpResult<T> = Result<T, OpError>;
