//! User-facing failures: one path from any error to what the user reads.
//! Each error type knows its `hint:` lines and its exit status
//! ([`Diagnostic`]); [`report`] walks the error chain, asks each link, and
//! prints the message, its causes and the hints (as uv's `hints_for_error`
//! does). Messages never carry hint text themselves.

use std::error::Error as StdError;
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

/// An error that says what to do about it.
pub trait Diagnostic {
    /// `hint:` lines for the user (none by default).
    fn hints(&self) -> Vec<String> {
        Vec::new()
    }

    /// The exit status it calls for (a failure by default).
    fn exit(&self) -> Exit {
        Exit::Failure
    }
}

/// An error made on the spot by command code, with its hints and status.
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

impl Diagnostic for UserError {
    fn hints(&self) -> Vec<String> {
        self.hints.clone()
    }

    fn exit(&self) -> Exit {
        self.exit
    }
}

// The runtime crate has no notion of the CLI's hints; they are kept here,
// next to the other hints, keyed by its error types.
impl Diagnostic for pywrangler_runtime::RuntimeError {
    fn hints(&self) -> Vec<String> {
        match self {
            pywrangler_runtime::RuntimeError::GuestMissing(_) => vec![format!(
                "install the pywrangler-rs wheel (scripts/build-wheel), which carries the guests, or run `scripts/build-guest` and `scripts/build-guest-314` and set {} to the directories they print, joined with `:`",
                crate::env_vars::PYWRANGLER_GUEST_DIR
            )],
            _ => Vec::new(),
        }
    }
}

impl Diagnostic for pywrangler_runtime::SnapshotError {
    fn hints(&self) -> Vec<String> {
        use pywrangler_runtime::SnapshotError as E;
        match self {
            E::Timeout(_) => vec![
                "top-level code runs once at snapshot time; move long work into a handler".into(),
            ],
            E::Invalid(_) => vec![
                "check `main` and `base_dir` in the wrangler config (e.g. `main = \"src/entry.py\"`)"
                    .into(),
            ],
            // Transparent: the inner error is not a link of its own.
            E::Runtime(inner) => inner.hints(),
            _ => Vec::new(),
        }
    }
}

/// The [`Diagnostic`] of one link of an error chain, when its type has one.
fn diagnostic<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a dyn Diagnostic> {
    macro_rules! known {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(d) = err.downcast_ref::<$ty>() {
                return Some(d);
            })*
        };
    }
    known!(
        UserError,
        crate::config::ConfigError,
        crate::sync::SyncError,
        crate::api::ApiError,
        crate::api::auth::MissingCredentials,
        crate::deploy::bundle::BundleError,
        crate::deploy::validate::ValidationError,
        crate::scaffold::ScaffoldError,
        pywrangler_runtime::RuntimeError,
        pywrangler_runtime::SnapshotError,
    );
    None
}

/// Hints and exit status of a chain of errors, outermost first: hints of
/// every link in order (without repeats), the innermost link's exit status.
fn walk<'a>(chain: impl Iterator<Item = &'a (dyn StdError + 'static)>) -> (Vec<String>, Exit) {
    let mut hints: Vec<String> = Vec::new();
    let mut exit = Exit::Failure;
    for cause in chain {
        if let Some(d) = diagnostic(cause) {
            exit = d.exit();
            for hint in d.hints() {
                if !hints.contains(&hint) {
                    hints.push(hint);
                }
            }
        }
    }
    (hints, exit)
}

/// The `hint:` lines of `err` and its sources, for code that shows an error
/// without stopping (a warning, `dev`'s error page).
pub fn hints_for(err: &(dyn StdError + 'static)) -> Vec<String> {
    let chain = std::iter::successors(Some(err), |&e| e.source());
    walk(chain).0
}

/// `text` followed by one `hint: …` line per hint (for pages and logs).
pub fn with_hint_lines(text: impl Into<String>, hints: &[String]) -> String {
    let mut text = text.into();
    for hint in hints {
        text.push_str("\nhint: ");
        text.push_str(hint);
    }
    text
}

/// Print an error chain with its hints and pick the exit status.
pub fn report(err: &anyhow::Error) -> Exit {
    let (hints, exit) = walk(err.chain());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    #[test]
    fn the_chain_gives_every_hint_and_the_innermost_exit() {
        let inner = ConfigError::PyprojectNotFound { cwd: "/x".into() };
        let err = anyhow::Error::new(inner).context("loading the project");
        let (hints, exit) = walk(err.chain());
        assert_eq!(exit, Exit::Usage);
        assert_eq!(hints.len(), 1, "{hints:?}");
        assert!(hints[0].contains("pywrangler-rs init"), "{hints:?}");

        let user = UserError::new("outer").hint("do this");
        let err = anyhow::Error::new(user);
        assert_eq!(
            walk(err.chain()),
            (vec!["do this".to_string()], Exit::Failure)
        );
    }

    #[test]
    fn hints_for_a_bare_error_reads_its_sources() {
        let sync = crate::sync::SyncError::Interrupted { step: "resolving" };
        assert_eq!(hints_for(&sync), vec!["run `pywrangler-rs sync` again"]);
        let io = std::io::Error::other("no");
        assert!(hints_for(&io).is_empty());
    }

    #[test]
    fn no_message_carries_hint_text() {
        // Hints travel as `Diagnostic::hints`; a message with "\nhint:"
        // baked in would print it twice or in the wrong place.
        let guest = pywrangler_runtime::RuntimeError::GuestMissing(None);
        assert!(!guest.to_string().contains("hint:"), "{guest}");
        assert!(!hints_for(&guest).is_empty());
        let slow = pywrangler_runtime::SnapshotError::Timeout(std::time::Duration::from_secs(1));
        assert!(!slow.to_string().contains("hint:"), "{slow}");
        assert!(!hints_for(&slow).is_empty());
    }
}
