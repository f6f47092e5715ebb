//! The one place that starts child processes: finds binaries with `which`,
//! inherits or captures their output, and turns failures into clear errors.

use std::ffi::OsString;
use std::process::Command;

use crate::diagnostics::{Exit, UserError};

/// Run `npx --yes wrangler <args>` with inherited stdio and pass its exit code back.
pub fn proxy_to_wrangler(args: &[OsString]) -> anyhow::Result<Exit> {
    let npx = which::which("npx").map_err(|_| {
        UserError::new("Command not found: npx. Is it installed and in PATH?")
            .hint("install Node.js (which provides npx), e.g. `apt-get install nodejs npm` or https://nodejs.org")
    })?;
    crate::printer::verbose(format!(
        "running: npx --yes wrangler {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let status = Command::new(npx)
        .arg("--yes")
        .arg("wrangler")
        .args(args)
        .status()
        .map_err(|e| UserError::new(format!("failed to start npx: {e}")))?;
    Ok(match status.code() {
        Some(0) => Exit::Success,
        Some(code) => Exit::Child(code),
        // Killed by a signal: report as a failure.
        None => Exit::Failure,
    })
}
