//! `pywrangler-rs deploy`: load the project, resolve the settings, sync,
//! run the pipeline.

use crate::cli::DeployArgs;
use crate::config::Project;
use crate::deploy::pipeline;
use crate::diagnostics::Exit;
use crate::env_vars::EnvVars;
use crate::settings::{self, ConfigSelection, DeploySettings};

pub fn run(args: DeployArgs, env: &EnvVars) -> anyhow::Result<Exit> {
    let cwd = settings::current_dir()?;
    let selection = ConfigSelection::resolve(&args.config, env);
    let project = Project::load(&cwd, selection.config.as_deref(), selection.env.as_deref())?;
    let settings = DeploySettings::resolve(&args, &project, env)?;
    // Before the sync, so a missing entry module fails at once.
    project.existing_main()?;
    if let Some(sync) = &settings.sync {
        // As the original does: deploy what the lock says, not a stale tree.
        crate::sync::ensure_synced(&project, sync)?;
    }
    pipeline::run(&project, &settings.options)?;
    Ok(Exit::Success)
}
