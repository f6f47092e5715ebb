//! User-facing failures: a message, `hint:` lines and an exit status.
//! Library modules return `thiserror` enums; commands wrap them in [`UserError`]
//! (or let `main` map known error types) so every failure says what to fix.

use std::fmt;

/// Process exit status, typed so commands cannot invent codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Success,
    /// A user-facing failure (bad project state, failed build, API error).
    Failure,
    /// Bad usage or configuration, or a command that is not implemented yet.
    Usage,
    /// A proxied child's own exit code.
    Child(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Child(code) => code,
        }
    }
}

/// An error meant for the user, with optional hints and its own exit status.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hints: Vec<String>,
    pub exit: Exit,
}

impl UserError {
    /// A failure (exit 1).
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hints: Vec::new(),
            exit: Exit::Failure,
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        UserError {
            exit: Exit::Usage,
            ..UserError::new(message)
        }
    }

    /// Add a `hint:` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Print an error chain with its hints and pick the exit status.
pub fn report(err: &anyhow::Error) -> Exit {
    let mut exit = Exit::Failure;
    let mut hints = Vec::new();
    for cause in err.chain() {
        if let Some(user) = cause.downcast_ref::<UserError>() {
            exit = user.exit;
            hints.extend(user.hints.iter().cloned());
        }
        if let Some(config) = cause.downcast_ref::<crate::config::ConfigError>() {
            exit = Exit::Usage;
            hints.extend(config.hint());
        }
    }
    let mut message = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str("\n  caused by: ");
            message.push_str(&text);
        }
    }
    crate::printer::error(message, &hints);
    exit
}
