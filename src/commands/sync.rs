//! `pywrangler-rs sync`: load the project, run the sync, report one line
//! (or a JSON summary on stdout with `--json`).

use crate::cli::SyncArgs;
use crate::diagnostics::{Exit, UserError};
use crate::printer;
use crate::sync::{HostVenv, SyncOptions, SyncOutcome, human_size};

pub fn run(args: SyncArgs) -> anyhow::Result<Exit> {
    let cwd = std::env::current_dir()?;
    let req = temp_load::request(&cwd)?;
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
    let outcome = crate::sync::sync(&req, &opts).map_err(UserError::from)?;
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

/// TEMPORARY until `config::Project::load` lands: the minimum to drive tests.
mod temp_load {
    use std::path::Path;

    use crate::config::PythonVersion;
    use crate::diagnostics::UserError;
    use crate::sync::SyncRequest;

    pub fn request(cwd: &Path) -> anyhow::Result<SyncRequest> {
        let root = cwd
            .ancestors()
            .find(|d| d.join("pyproject.toml").is_file())
            .ok_or_else(|| UserError::usage("pyproject.toml not found"))?
            .to_path_buf();
        let pyproject = root.join("pyproject.toml");
        let py: toml::Table = std::fs::read_to_string(&pyproject)?.parse()?;
        let allow_build = py
            .get("tool")
            .and_then(|t| t.get("pywrangler"))
            .and_then(|t| t.get("allow-build"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let w: toml::Table = std::fs::read_to_string(root.join("wrangler.toml"))?.parse()?;
        let date = w.get("compatibility_date").and_then(|v| v.as_str());
        let flags: Vec<String> = w
            .get("compatibility_flags")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let python =
            PythonVersion::detect(date, &flags).map_err(|e| UserError::usage(e.to_string()))?;
        Ok(SyncRequest {
            root,
            pyproject,
            python,
            allow_build,
        })
    }
}
