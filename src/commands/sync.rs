//! `pywrangler-rs sync`: load the project, run the sync, report one line
//! (or a JSON summary on stdout with `--json`).

use crate::cli::SyncArgs;
use crate::config::Project;
use crate::diagnostics::{Exit, UserError};
use crate::printer;
use crate::sync::{HostVenv, SyncOptions, SyncOutcome, human_size};

pub fn run(args: SyncArgs) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let project = Project::load(
        &cwd,
        args.config.config.as_deref(),
        args.config.env.as_deref(),
    )?;
    for warning in &project.warnings {
        printer::warn(warning);
    }
    let allow_build = if args.allow_build {
        Some(true)
    } else if args.no_allow_build {
        Some(false)
    } else {
        None
    };
    let opts = SyncOptions {
        force: args.force,
        upgrade: args.upgrade,
        allow_build,
        host_venv: !args.no_host_venv,
    };
    let outcome = crate::sync::ensure_synced(&project, &opts).map_err(UserError::from)?;
    report(&outcome, args.json)?;
    Ok(Exit::Success)
}

fn report(outcome: &SyncOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(outcome)?);
    }
    let count = outcome.packages.len();
    let noun = if count == 1 { "package" } else { "packages" };
    let size = human_size(outcome.size_bytes);
    if outcome.skipped {
        printer::info(format!(
            "python_modules is up to date ({count} {noun}, {size}, Python {}); use --force to re-sync",
            outcome.python
        ));
    } else {
        let host = match &outcome.host_venv {
            HostVenv::Installed => ", .venv-workers updated",
            _ => "",
        };
        printer::success(format!(
            "Synced {count} {noun} into python_modules ({size}) for Python {} ({}) in {:.2}s{host}",
            outcome.python,
            outcome.platform,
            outcome.elapsed.as_secs_f64()
        ));
    }
    Ok(())
}
