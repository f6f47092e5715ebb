//! One-time preparation steps the embedder may want to show (a first run on a
//! machine unpacks and compiles the guest: seconds, not milliseconds).

use std::sync::Arc;
use std::time::Duration;

/// A preparation step started or finished.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Unpacking the guest packed into the binary (first run only).
    Unpacking {
        python: String,
    },
    Unpacked {
        python: String,
        elapsed: Duration,
    },
    /// Linking a guest shipped as `dylink.0` parts (first run only).
    Linking {
        python: String,
    },
    Linked {
        python: String,
        elapsed: Duration,
    },
    /// Linking the project's native extension modules into a guest of its own (once per
    /// change of the native set).
    LinkingNative {
        python: String,
        /// The extension modules, relative to `python_modules/`.
        modules: Vec<String>,
    },
    LinkedNative {
        python: String,
        /// Modules linked in.
        linked: usize,
        /// Modules that could not be linked (their packages fail at import).
        refused: usize,
        elapsed: Duration,
    },
    /// Compiling the guest to machine code (first run, or a new runtime version).
    Compiling {
        python: String,
    },
    Compiled {
        python: String,
        elapsed: Duration,
    },
}

/// Receives [`Progress`]; the default ignores it.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Fn(Progress) + Send + Sync>>);

impl ProgressSink {
    /// A sink calling `f` for every step.
    pub fn new(f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressSink(Some(Arc::new(f)))
    }

    pub(crate) fn emit(&self, step: Progress) {
        if let Some(f) = &self.0 {
            f(step);
        }
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink(set)"
        } else {
            "ProgressSink(none)"
        })
    }
}
