//! `pywrangler-rs dev`: the local server on the embedded runtime.

use crate::cli::DevArgs;
use crate::diagnostics::{Exit, UserError};
use crate::env_vars::EnvVars;
use crate::settings::{self, ConfigSelection, DevSettings};

pub fn run(args: DevArgs, env: &EnvVars) -> anyhow::Result<Exit> {
    refuse_remote(args.remote.as_deref())?;
    let cwd = settings::current_dir()?;
    let selection = ConfigSelection::resolve(&args.config, env);
    // Config errors stop `dev` at start-up (later they become the error page).
    let project = crate::dev::settings::load_project(
        &cwd,
        selection.config.as_deref(),
        selection.env.as_deref(),
    )?;
    let settings = DevSettings::resolve(&args, cwd, &project, env)?;
    for warning in &settings.warnings {
        crate::printer::warn(warning);
    }
    crate::dev::run(settings.options, &project)?;
    Ok(Exit::Success)
}

/// `dev --remote` cannot work for Python Workers; say so as the original does.
/// `--remote false` (or `=false`) is accepted and means local.
fn refuse_remote(remote: Option<&str>) -> anyhow::Result<()> {
    match remote {
        None => Ok(()),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(()),
        Some(_) => Err(UserError::new(
            "`pywrangler dev --remote` is not supported for Python Workers. Please use remote bindings instead. See https://developers.cloudflare.com/workers/development-testing/#remote-bindings",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::refuse_remote;

    #[test]
    fn remote_matrix() {
        assert!(refuse_remote(None).is_ok());
        assert!(refuse_remote(Some("false")).is_ok());
        assert!(refuse_remote(Some("true")).is_err());
    }
}
