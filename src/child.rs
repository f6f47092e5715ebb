//! The one place that starts child processes: finds binaries with `which`,
//! inherits or captures their output, and turns failures into clear errors.

use std::ffi::OsString;
use std::process::Command;

use crate::diagnostics::{Exit, UserError};

/// Run `npx --yes wrangler <args>` with inherited stdio and pass its exit code back.
pub fn proxy_to_wrangler(args: &[OsString]) -> anyhow::Result<Exit> {
    let npx = which::which("npx").map_err(|_| {
        UserError::new("Command not found: npx. Is it installed and in PATH?")
            .hint("install Node.js, which provides npx: https://nodejs.org (or your package manager, e.g. `brew install node`, `apt-get install nodejs npm`, `winget install OpenJS.NodeJS`)")
    })?;
    crate::printer::verbose(format!(
        "running: npx --yes wrangler {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let mut cmd = tokio::process::Command::new(npx);
    cmd.arg("--yes").arg("wrangler").args(args);
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| rt.block_on(wait_through_ctrl_c(cmd)))
        .map_err(|e| UserError::new(format!("failed to start npx: {e}")))?;
    Ok(match status.code() {
        Some(0) => Exit::Success,
        Some(code) => Exit::Child(code),
        // Killed by a signal: report as a failure.
        None => Exit::Failure,
    })
}

/// Run `cmd` to its end, living through Ctrl-C. The terminal (or the Windows
/// console) delivers Ctrl-C to the child as well; we only wait for it, so its
/// exit code and whatever it prints while stopping come before the prompt.
async fn wait_through_ctrl_c(
    mut cmd: tokio::process::Command,
) -> std::io::Result<std::process::ExitStatus> {
    // Listen before spawning, so no Ctrl-C can stop us with the child running.
    let mut interrupts = interrupts()?;
    let mut child = cmd.spawn()?;
    loop {
        tokio::select! {
            status = child.wait() => return status,
            _ = interrupts.recv() => {}
        }
    }
}

#[cfg(unix)]
fn interrupts() -> std::io::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
}

#[cfg(windows)]
fn interrupts() -> std::io::Result<tokio::signal::windows::CtrlC> {
    tokio::signal::windows::ctrl_c()
}

/// Why a captured child process did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The program is not on `PATH`.
    #[error("Command not found: {program}. Is it installed and in PATH?")]
    NotFound { program: String },
    /// The program exists but could not be started.
    #[error("failed to start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// The program ran and exited non-zero; `stderr` is its (trimmed) error output.
    #[error("`{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

/// Run `program args…` in `cwd` with no stdin, capturing its output; return stdout on success.
///
/// For short helper invocations (`git clone`, `git init`) whose output is only
/// interesting when they fail: then stderr becomes the error message.
pub fn run_captured(
    program: &str,
    args: &[&std::ffi::OsStr],
    cwd: &std::path::Path,
) -> Result<String, ChildError> {
    let path = which::which(program).map_err(|_| ChildError::NotFound {
        program: program.to_string(),
    })?;
    let command = std::iter::once(program.to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    crate::printer::verbose(format!("running: {command}"));
    let output = Command::new(path)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        // Never stop to ask for credentials: fail and report instead.
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|source| ChildError::Spawn {
            program: program.to_string(),
            source,
        })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ChildError::Failed {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}
