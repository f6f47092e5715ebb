//! `pywrangler-rs sync`: load the project, run the sync, report one line
//! (or a JSON summary on stdout with `--json`).

use crate::cli::SyncArgs;
use crate::config::Project;
use crate::diagnostics::Exit;
use crate::env_vars::EnvVars;
use crate::printer;
use crate::settings::{self, ConfigSelection, SyncSettings};
use crate::sync::{HostVenv, SyncOutcome, human_size};

pub fn run(args: SyncArgs, env: &EnvVars) -> anyhow::Result<Exit> {
    let cwd = settings::current_dir()?;
    let selection = ConfigSelection::resolve(&args.config, env);
    let project = Project::load(&cwd, selection.config.as_deref(), selection.env.as_deref())?;
    for warning in &project.warnings {
        printer::warn(warning);
    }
    let settings = SyncSettings::resolve(&args, &project, env);
    let outcome = crate::sync::ensure_synced(&project, &settings.options)?;
    report(&outcome, settings.json)?;
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
