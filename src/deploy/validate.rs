//! Pre-upload validation: run the Worker's top level in the embedded runtime
//! exactly as the snapshot step does (a full, non-layered snapshot), so import
//! errors, a missing entrypoint, top-level randomness or I/O (the guest's
//! entropy guard) and slow startup fail before anything is uploaded.

use pywrangler_runtime::{Runtime, RuntimeConfig, SnapshotError, SnapshotSpec};

use crate::config::Project;

/// Cloudflare's startup limit for a Worker's top level.
pub const STARTUP_LIMIT_MS: f64 = 1000.0;

/// The outcome of a validation run that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationReport {
    /// The top level ran; startup took this long.
    Passed { startup_ms: u64 },
    /// Validation could not run here; the reason is shown as a warning.
    Unavailable { reason: String },
}

/// Why the Worker would be rejected at deploy.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("the Worker failed to start in the local runtime:\n{0}")]
    Startup(String),
    #[error(
        "{main} defines no entrypoint: export `class Default(WorkerEntrypoint)` (or, before compat date 2025-08-14, a module-level `on_fetch`)"
    )]
    NoEntrypoint { main: String },
    #[error("startup took {ms} ms, over the 1000 ms limit")]
    TooSlow { ms: u64 },
}

/// Validate the Worker's top level before upload.
pub fn validate(project: &Project) -> Result<ValidationReport, ValidationError> {
    let rt = match Runtime::new(RuntimeConfig {
        python: Some(project.python.to_string()),
        progress: crate::runtime_notice::preparation_printer(),
        ..RuntimeConfig::default()
    }) {
        Ok(rt) => rt,
        Err(e) => {
            return Ok(ValidationReport::Unavailable {
                reason: format!("the embedded runtime could not start ({e})"),
            });
        }
    };
    crate::runtime_notice::warn_version_gap(project.python, rt.python_version());
    let mut spec = SnapshotSpec::new(
        project.module_root(),
        project.main_module_name(),
        project.root.join(".wrangler").join("cache").join("python"),
    );
    spec.layered = false;
    spec.full_in_background = false;
    let pm = project.python_modules_dir();
    if pm.is_dir() {
        spec = spec.with_python_modules(pm);
    }
    let snap = match rt.build_snapshot(&spec) {
        Ok(s) => s,
        // Pyodide-built extensions cannot load in the local runtime, but do on
        // Cloudflare: that is a limit of this check, not an error in the Worker.
        Err(e @ SnapshotError::NativeCode { .. }) => {
            return Ok(ValidationReport::Unavailable {
                reason: format!(
                    "the Worker imports native code the local runtime cannot load; it was not fully checked ({e})"
                ),
            });
        }
        Err(SnapshotError::Runtime(e)) => {
            return Ok(ValidationReport::Unavailable {
                reason: format!("the embedded runtime failed ({e})"),
            });
        }
        Err(e) => return Err(ValidationError::Startup(e.to_string())),
    };
    if snap
        .entrypoints()
        .get("default")
        .is_none_or(serde_json::Value::is_null)
    {
        return Err(ValidationError::NoEntrypoint {
            main: format!("{}.py", project.main_module_name()),
        });
    }
    let ms = snap.stats().startup_ms;
    if ms > STARTUP_LIMIT_MS {
        return Err(ValidationError::TooSlow { ms: ms as u64 });
    }
    Ok(ValidationReport::Passed {
        startup_ms: ms.round() as u64,
    })
}
