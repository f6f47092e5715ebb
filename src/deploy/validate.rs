//! Pre-upload validation: run the Worker's top level in the embedded runtime
//! exactly as the snapshot step does (a full, non-layered snapshot), so import
//! errors, a missing entrypoint, top-level randomness or I/O (the guest's
//! entropy guard) and a startup Cloudflare would refuse fail before anything
//! is uploaded.
//!
//! Judged as Cloudflare judges a Worker with a dedicated snapshot (every
//! Python Worker from compat date 2025-10-16): the top level runs once, at
//! deploy, and each start of the Worker is a restore from that snapshot. Two
//! CPU-time figures (never wall time, which a busy machine inflates) are
//! compared with their limits on every deploy; the cache keeps the snapshot
//! and its measured top-level CPU, never a verdict. See docs/architecture.md
//! ("Deploy validation") for the sources and what is inferred.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pywrangler_runtime::{
    HostHandler, HostReply, InstanceOptions, Runtime, RuntimeConfig, Snapshot, SnapshotError,
    SnapshotSpec,
};

use crate::config::Project;

/// Cloudflare's Worker startup limit ("Worker startup time", 1 s on every
/// plan since 2025-10-10): with a dedicated snapshot, what the restore costs.
pub const STARTUP_LIMIT_MS: f64 = 1000.0;
/// The bound on the top level's CPU time when it runs once at deploy.
/// Cloudflare enforces a Python-specific startup limit there (workerd's
/// `SimplePythonLimiter`) whose value is not public; this local bound is an
/// inference (see docs/architecture.md): FastAPI on pydantic 2, which deploys
/// on Cloudflare, costs 4–6 s of CPU here, compiling its sources.
pub const TOP_LEVEL_CPU_LIMIT_MS: f64 = 10000.0;
/// A figure above this share of its limit passes with a warning.
pub const WARN_SHARE: f64 = 0.8;

/// Restores timed to measure startup; the cheapest is the figure (the first
/// can include one-off page faults of a freshly written snapshot).
const RESTORE_SAMPLES: usize = 3;

/// The limits a validation is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Startup (a restore from the deploy snapshot), CPU ms.
    pub startup_ms: f64,
    /// The top level, run once at deploy, CPU ms.
    pub top_level_ms: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            startup_ms: STARTUP_LIMIT_MS,
            top_level_ms: TOP_LEVEL_CPU_LIMIT_MS,
        }
    }
}

impl Limits {
    /// The defaults, with the overrides given as `(variable, value)`
    /// (`PYWRANGLER_STARTUP_LIMIT_MS`, `PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS`;
    /// tests lower them).
    pub fn with_overrides(
        startup: (&str, Option<&str>),
        top_level: (&str, Option<&str>),
    ) -> Result<Self, String> {
        let mut limits = Limits::default();
        for ((name, value), slot) in [
            (startup, &mut limits.startup_ms),
            (top_level, &mut limits.top_level_ms),
        ] {
            if let Some(v) = value {
                *slot = v
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{name}={v:?} is not a number of milliseconds"))?
                    as f64;
            }
        }
        Ok(limits)
    }
}

/// What was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    /// CPU time of a restore from the deploy snapshot (the Worker's startup
    /// on Cloudflare); wall time where there is no CPU clock.
    pub startup_ms: f64,
    /// CPU time of the top level (the shim and the main import); wall time
    /// where there is no CPU clock (`top_level_is_cpu` false).
    pub top_level_ms: f64,
    pub top_level_is_cpu: bool,
    /// Wall time of the top level, for information.
    pub top_level_wall_ms: f64,
}

/// The outcome of a validation run that did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationReport {
    /// The top level ran; the figures are within the limits (`warnings` names
    /// those close to theirs).
    Passed {
        figures: Figures,
        limits: Limits,
        warnings: Vec<String>,
    },
    /// Validation could not run here; the reason is shown as a warning.
    Unavailable { reason: String, hints: Vec<String> },
}

/// Why the Worker would be rejected at deploy.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("the Worker failed to start in the local runtime:\n{message}")]
    Startup {
        message: String,
        /// The hints of the runtime's error.
        hints: Vec<String>,
    },
    #[error(
        "{main} defines no entrypoint: export `class Default(WorkerEntrypoint)` (or, before compat date 2025-08-14, a module-level `on_fetch`)"
    )]
    NoEntrypoint { main: String },
    #[error("{what} took {ms:.0} ms of {unit}, over the {limit:.0} ms limit{detail}")]
    TooSlow {
        what: &'static str,
        unit: &'static str,
        ms: f64,
        limit: f64,
        detail: String,
    },
}

impl crate::diagnostics::Diagnostic for ValidationError {
    fn hints(&self) -> Vec<String> {
        let mut hints = match self {
            ValidationError::Startup { hints, .. } => hints.clone(),
            _ => Vec::new(),
        };
        hints.push("fix the error above, or pass --skip-validation to upload anyway".into());
        hints
    }
}

/// Compares the figures with the limits: an error when one is over its
/// limit, warnings for those above [`WARN_SHARE`] of it.
pub fn judge(f: &Figures, limits: &Limits) -> Result<Vec<String>, ValidationError> {
    let unit = if f.top_level_is_cpu {
        "CPU time"
    } else {
        "wall time (no CPU clock on this platform)"
    };
    if f.top_level_ms > limits.top_level_ms {
        return Err(ValidationError::TooSlow {
            what: "the top level (run once at deploy, when Cloudflare takes the snapshot)",
            unit,
            ms: f.top_level_ms,
            limit: limits.top_level_ms,
            detail: format!(
                " (wall time {:.0} ms); move slow work out of module scope, into the handler",
                f.top_level_wall_ms
            ),
        });
    }
    if f.startup_ms > limits.startup_ms {
        return Err(ValidationError::TooSlow {
            what: "startup (a restore from the deploy snapshot)",
            unit: "CPU time",
            ms: f.startup_ms,
            limit: limits.startup_ms,
            detail: "; Cloudflare refuses a Worker whose startup exceeds it".into(),
        });
    }
    let mut warnings = Vec::new();
    if f.top_level_ms > limits.top_level_ms * WARN_SHARE {
        warnings.push(format!(
            "the top level took {:.0} ms of {unit}, close to the {:.0} ms limit; Cloudflare's machines differ from this one, so it may be refused there",
            f.top_level_ms, limits.top_level_ms
        ));
    }
    if f.startup_ms > limits.startup_ms * WARN_SHARE {
        warnings.push(format!(
            "startup (a restore from the deploy snapshot) took {:.0} ms of CPU time, close to Cloudflare's {:.0} ms limit",
            f.startup_ms, limits.startup_ms
        ));
    }
    Ok(warnings)
}

/// Validate the Worker's top level before upload.
pub fn validate(project: &Project, limits: Limits) -> Result<ValidationReport, ValidationError> {
    let rt = match Runtime::new(RuntimeConfig {
        python: Some(project.python.to_string()),
        progress: crate::runtime_notice::preparation_printer(),
        ..RuntimeConfig::default()
    }) {
        Ok(rt) => rt,
        Err(e) => {
            return Ok(ValidationReport::Unavailable {
                reason: format!("the embedded runtime could not start ({e})"),
                hints: crate::diagnostics::hints_for(&e),
            });
        }
    };
    crate::runtime_notice::warn_version_gap(project.python, rt.python_version());
    let mut spec = SnapshotSpec::new(
        project.module_root(),
        project.main_module_name(),
        project.paths.snapshot_cache.clone(),
    );
    spec.layered = false;
    spec.full_in_background = false;
    // Cloudflare's validator compiles the top level's modules from source.
    spec.bytecode_cache = false;
    let pm = &project.paths.python_modules;
    if pm.is_dir() {
        spec = spec.with_python_modules(pm.clone());
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
                hints: Vec::new(),
            });
        }
        Err(SnapshotError::Runtime(e)) => {
            return Ok(ValidationReport::Unavailable {
                reason: format!("the embedded runtime failed ({e})"),
                hints: crate::diagnostics::hints_for(&e),
            });
        }
        Err(e) => {
            return Err(ValidationError::Startup {
                message: e.to_string(),
                hints: crate::diagnostics::hints_for(&e),
            });
        }
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
    let stats = snap.stats();
    let figures = Figures {
        startup_ms: restore_cost(&snap)?,
        top_level_ms: stats.startup_cpu_ms.unwrap_or(stats.startup_ms),
        top_level_is_cpu: stats.startup_cpu_ms.is_some(),
        top_level_wall_ms: stats.startup_ms,
    };
    let warnings = judge(&figures, &limits)?;
    Ok(ValidationReport::Passed {
        figures,
        limits,
        warnings,
    })
}

/// The validator restores from its snapshot as Cloudflare starts the Worker
/// from the deploy snapshot; this takes no bindings.
struct NoBindings;

impl HostHandler for NoBindings {
    fn call(&self, header: serde_json::Value, _body: Vec<u8>) -> HostReply {
        HostReply::error(
            "Error",
            format!("no binding during validation ({})", header["op"]),
        )
    }
}

/// CPU ms of the cheapest of a few restores (wall ms without a CPU clock).
fn restore_cost(snap: &Snapshot) -> Result<f64, ValidationError> {
    let mut best: Option<Duration> = None;
    for _ in 0..RESTORE_SAMPLES {
        let wall = Instant::now();
        let (instance, cpu) = pywrangler_runtime::cpu_timed(|| {
            snap.instantiate(InstanceOptions::new(Arc::new(NoBindings)))
        });
        let spent = cpu.unwrap_or_else(|| wall.elapsed());
        instance.map_err(|e| ValidationError::Startup {
            message: format!("restoring from the snapshot failed: {e}"),
            hints: Vec::new(),
        })?;
        best = Some(best.map_or(spent, |b| b.min(spent)));
    }
    Ok(best.unwrap_or_default().as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(startup: f64, top: f64) -> Figures {
        Figures {
            startup_ms: startup,
            top_level_ms: top,
            top_level_is_cpu: true,
            top_level_wall_ms: top * 2.0,
        }
    }

    #[test]
    fn a_slow_top_level_with_a_cheap_restore_passes() {
        // FastAPI-like: seconds of wall time, well under the CPU bound.
        let w = judge(&figures(15.0, 2100.0), &Limits::default()).expect("passes");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn over_a_limit_is_refused_with_the_figure_and_the_limit() {
        let e = judge(&figures(15.0, 12400.0), &Limits::default()).expect_err("refused");
        let msg = e.to_string();
        assert!(msg.contains("12400 ms of CPU time"), "{msg}");
        assert!(msg.contains("over the 10000 ms limit"), "{msg}");
        let e = judge(&figures(1200.0, 100.0), &Limits::default()).expect_err("refused");
        assert!(e.to_string().contains("over the 1000 ms limit"), "{e}");
    }

    #[test]
    fn close_to_a_limit_warns_instead_of_refusing() {
        let w = judge(&figures(900.0, 9000.0), &Limits::default()).expect("passes");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("9000 ms"), "{w:?}");
        assert!(w[1].contains("900 ms"), "{w:?}");
    }
}
