//! `pywrangler-rs deploy`: load the project, resolve flags, run the pipeline.

use anyhow::Context;

use crate::cli::DeployArgs;
use crate::config::Project;
use crate::deploy::pipeline::{self, DeployOptions};
use crate::diagnostics::{Exit, UserError};

pub fn run(args: DeployArgs) -> anyhow::Result<Exit> {
    if args.outdir.is_some() && !args.dry_run {
        return Err(UserError::usage("--outdir only works with --dry-run")
            .hint("add --dry-run, or drop --outdir")
            .into());
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let project = Project::load(
        &cwd,
        args.config.config.as_deref(),
        args.config.env.as_deref(),
    )?;
    // Before the sync, so a missing entry module fails at once.
    project.existing_main()?;
    if !args.no_sync {
        // As the original does: deploy what the lock says, not a stale tree.
        let sync = crate::sync::SyncOptions::default();
        crate::sync::ensure_synced(&project, &sync).map_err(UserError::from)?;
    }
    let opts = DeployOptions {
        dry_run: args.dry_run,
        outdir: args.outdir,
        skip_validation: args.skip_validation,
        keep_vars: args.keep_vars,
        message: args.message,
    };
    pipeline::run(&project, &opts)?;
    Ok(Exit::Success)
}
