//! Pre-upload validation: run the Worker's top level the way Cloudflare's
//! snapshot step does, so import errors, a missing entrypoint, top-level
//! randomness or I/O and slow startup fail before anything is uploaded.
//!
//! Integration point for the embedded runtime (`pywrangler-runtime`): build a
//! full (non-layered) snapshot with `Runtime::build_snapshot(&SnapshotSpec {
//! module_root: project.module_root(), python_modules: Some(project.python_modules_dir())
//! when it exists, main_module: project.main_module_name(), cache_dir:
//! <root>/.wrangler/cache/python, layered: false, full_in_background: false, .. })`;
//! map `SnapshotError::{Python, NativeCode, Timeout, ..}` to
//! [`ValidationError::Startup`] (with the traceback) and a measured startup over
//! 1000 ms to [`ValidationError::TooSlow`]. Until the main crate depends on the
//! runtime this reports [`ValidationReport::Unavailable`] and `deploy` says so.

use crate::config::Project;

/// The outcome of a validation run that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationReport {
    /// The top level ran; startup took this long.
    #[allow(dead_code)] // produced once the runtime is wired in
    Passed { startup_ms: u64 },
    /// Validation could not run here; the reason is shown as a warning.
    Unavailable { reason: String },
}

/// Why the Worker would be rejected at deploy.
#[allow(dead_code)] // produced once the runtime is wired in
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("the Worker failed to start in the local runtime:\n{traceback}")]
    Startup { traceback: String },
    #[error("startup took {ms} ms, over the 1000 ms limit")]
    TooSlow { ms: u64 },
}

/// Validate the Worker's top level before upload.
pub fn validate(project: &Project) -> Result<ValidationReport, ValidationError> {
    let _ = project;
    Ok(ValidationReport::Unavailable {
        reason: "the embedded runtime is not linked into this build yet, so the Worker's top level was not run locally; Cloudflare validates it on upload".into(),
    })
}
