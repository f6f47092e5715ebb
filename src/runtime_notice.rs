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

/// Prints the runtime's one-time preparation (a first run on a machine unpacks,
/// links and compiles the guest: seconds), so a slow first start is explained.
pub fn preparation_printer() -> pywrangler_runtime::ProgressSink {
    use pywrangler_runtime::Progress;
    pywrangler_runtime::ProgressSink::new(|step| {
        let msg = match step {
            Progress::Unpacking { python } => {
                format!("Preparing the Python {python} runtime (first run): unpacking…")
            }
            Progress::Unpacked { python, elapsed } => {
                format!(
                    "Python {python} runtime unpacked in {:.1} s",
                    elapsed.as_secs_f64()
                )
            }
            Progress::Linking { python } => format!("Linking the Python {python} runtime…"),
            Progress::Linked { python, elapsed } => {
                format!(
                    "Python {python} runtime linked in {:.1} s",
                    elapsed.as_secs_f64()
                )
            }
            Progress::LinkingNative { python, modules } => {
                let names: Vec<&str> = modules
                    .iter()
                    .map(|m| m.rsplit('/').next().unwrap_or(m))
                    .collect();
                format!(
                    "Linking {} native module{} into the project's Python {python} runtime ({})…",
                    modules.len(),
                    if modules.len() == 1 { "" } else { "s" },
                    names.join(", ")
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
                format!(
                    "Linked {linked} native module{} into the Python {python} runtime in {:.1} s{refused}",
                    if linked == 1 { "" } else { "s" },
                    elapsed.as_secs_f64()
                )
            }
            Progress::Compiling { python } => format!(
                "Compiling the Python {python} runtime to machine code (once per machine and version; takes a few seconds)…"
            ),
            Progress::Compiled { python, elapsed } => {
                format!(
                    "Python {python} runtime compiled in {:.1} s",
                    elapsed.as_secs_f64()
                )
            }
        };
        crate::printer::info(msg);
    })
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
