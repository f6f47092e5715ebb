//! Cloudflare picks the Python version from the compat date and flags, and the
//! runtime picks the guest for it (3.13 or 3.14). When there is no guest for
//! that version (3.12 projects, or a build without the 3.14 guest), `dev` and
//! `deploy` say so once, so a user is not surprised by version differences.

use crate::config::PythonVersion;

/// The notice text, or `None` when the versions agree.
pub fn version_gap(project: PythonVersion, runtime: &str) -> Option<String> {
    let runtime_minor = runtime.trim().strip_prefix("3.")?.split('.').next()?;
    if runtime_minor == project.minor().to_string() {
        return None;
    }
    Some(format!(
        "this Worker runs on Python {project} on Cloudflare (chosen by compatibility_date/flags), \
         but the local runtime is Python {runtime}; behaviour specific to {project} is not checked locally"
    ))
}

/// Print the notice once per process.
pub fn warn_version_gap(project: PythonVersion, runtime: &str) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Some(msg) = version_gap(project, runtime) {
        ONCE.call_once(|| crate::printer::warn(msg));
    }
}

/// Shows the runtime's one-time preparation (a first run on a machine unpacks,
/// links and compiles the guest: seconds; a project with native modules links
/// and compiles its own), so a slow start is explained: on a terminal a spinner
/// with the elapsed time while a step runs, then one line when it is done.
pub fn preparation_printer() -> pywrangler_runtime::ProgressSink {
    let running: std::sync::Mutex<Option<crate::sync::progress::Phase>> =
        std::sync::Mutex::new(None);
    pywrangler_runtime::ProgressSink::new(move |step| {
        let (msg, starts) = describe(step);
        let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(phase) = running.take() {
            phase.finish();
        }
        if starts && crate::printer::Printer::get().progress_enabled() {
            *running = Some(crate::sync::progress::Phase::start(msg));
        } else {
            crate::printer::info(msg);
        }
    })
}

/// A step's line, and whether it starts a step (`…ing`) rather than ends one.
fn describe(step: pywrangler_runtime::Progress) -> (String, bool) {
    use pywrangler_runtime::Progress;
    let secs = |d: std::time::Duration| format!("{:.1} s", d.as_secs_f64());
    match step {
        Progress::Unpacking { python } => (
            format!("Preparing the Python {python} runtime (first run): unpacking…"),
            true,
        ),
        Progress::Unpacked { python, elapsed } => (
            format!("Python {python} runtime unpacked in {}", secs(elapsed)),
            false,
        ),
        Progress::Linking { python } => (format!("Linking the Python {python} runtime…"), true),
        Progress::Linked { python, elapsed } => (
            format!("Python {python} runtime linked in {}", secs(elapsed)),
            false,
        ),
        Progress::LinkingNative { python, modules } => {
            let names: Vec<&str> = modules
                .iter()
                .map(|m| m.rsplit('/').next().unwrap_or(m))
                .collect();
            (
                format!(
                    "Linking {} native module{} into the project's Python {python} runtime ({})…",
                    modules.len(),
                    if modules.len() == 1 { "" } else { "s" },
                    names.join(", ")
                ),
                true,
            )
        }
        Progress::LinkedNative {
            python,
            linked,
            refused,
            elapsed,
        } => {
            let refused = match refused {
                0 => String::new(),
                n => format!(" ({n} could not be linked)"),
            };
            (
                format!(
                    "Linked {linked} native module{} into the Python {python} runtime in {}{refused}",
                    if linked == 1 { "" } else { "s" },
                    secs(elapsed)
                ),
                false,
            )
        }
        Progress::Compiling { python } => (
            format!(
                "Compiling the Python {python} runtime to machine code (once per machine and version, and per set of native modules; takes a few seconds)…"
            ),
            true,
        ),
        Progress::Compiled { python, elapsed } => (
            format!("Python {python} runtime compiled in {}", secs(elapsed)),
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_minor_is_silent() {
        assert_eq!(version_gap(PythonVersion::Py313, "3.13"), None);
    }

    #[test]
    fn different_minor_names_both() {
        let msg = version_gap(PythonVersion::Py314, "3.13").expect("a notice");
        assert!(msg.contains("Python 3.14 on Cloudflare"), "{msg}");
        assert!(msg.contains("local runtime is Python 3.13"), "{msg}");
    }
}
