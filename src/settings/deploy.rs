//! `deploy`'s settings: the flags, the sync it runs first, the validation
//! limits and how to reach the API (credentials, base URL, timeouts,
//! account), the last three from the environment.

use super::SyncSettings;
use crate::api::{self, ApiSettings, Credentials, Timeouts};
use crate::cli::DeployArgs;
use crate::config::Project;
use crate::deploy::pipeline::DeployOptions;
use crate::deploy::validate::Limits;
use crate::diagnostics::UserError;
use crate::env_vars::{self, EnvVars};
use crate::sync::SyncOptions;

/// Everything `deploy` needs, resolved.
#[derive(Debug, Clone)]
pub struct DeploySettings {
    pub options: DeployOptions,
    /// The sync to run first; `None` with `--no-sync`.
    pub sync: Option<SyncOptions>,
}

impl DeploySettings {
    pub fn resolve(
        args: &DeployArgs,
        project: &Project,
        env: &EnvVars,
    ) -> anyhow::Result<DeploySettings> {
        if args.outdir.is_some() && !args.dry_run {
            return Err(UserError::usage("--outdir only works with --dry-run")
                .hint("add --dry-run, or drop --outdir")
                .into());
        }
        let limits = Limits::with_overrides(
            (
                env_vars::PYWRANGLER_STARTUP_LIMIT_MS,
                env.get(env_vars::PYWRANGLER_STARTUP_LIMIT_MS),
            ),
            (
                env_vars::PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS,
                env.get(env_vars::PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS),
            ),
        )
        .map_err(|e| UserError::usage(e).hint("unset it to use the default limit"))?;
        Ok(DeploySettings {
            options: DeployOptions {
                dry_run: args.dry_run,
                outdir: args.outdir.clone(),
                skip_validation: args.skip_validation,
                keep_vars: args.keep_vars,
                message: args.message.clone(),
                limits,
                api: api_settings(env)?,
            },
            sync: (!args.no_sync).then(|| SyncSettings::implied(project, env)),
        })
    }
}

/// The API client's settings, all from the environment.
fn api_settings(env: &EnvVars) -> anyhow::Result<ApiSettings> {
    Ok(ApiSettings {
        base_url: env
            .get(env_vars::CLOUDFLARE_API_BASE_URL)
            .unwrap_or(api::DEFAULT_BASE_URL)
            .to_string(),
        timeouts: Timeouts::from_setting(env.get(env_vars::PYWRANGLER_API_TIMEOUT))?,
        credentials: Credentials::from_values(
            env.get(env_vars::CLOUDFLARE_API_TOKEN),
            env.get(env_vars::CLOUDFLARE_API_KEY),
            env.get(env_vars::CLOUDFLARE_EMAIL),
        ),
        account_id: env.get(env_vars::CLOUDFLARE_ACCOUNT_ID).map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_settings_from_the_environment() {
        let none = api_settings(&EnvVars::default()).expect("defaults");
        assert_eq!(none.base_url, api::DEFAULT_BASE_URL);
        assert_eq!(none.timeouts, Timeouts::default());
        assert!(none.credentials.is_err());
        assert_eq!(none.account_id, None);

        let env = EnvVars::from_pairs([
            ("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4"),
            ("PYWRANGLER_API_TIMEOUT", "2"),
            ("CLOUDFLARE_API_KEY", "k"),
            ("CLOUDFLARE_EMAIL", "e@x"),
            ("CLOUDFLARE_ACCOUNT_ID", " acc "),
        ]);
        let set = api_settings(&env).expect("set");
        assert_eq!(set.base_url, "http://127.0.0.1:9/client/v4");
        assert_eq!(set.timeouts.idle, std::time::Duration::from_secs(2));
        assert!(matches!(set.credentials, Ok(Credentials::Key { .. })));
        assert_eq!(set.account_id.as_deref(), Some("acc"));

        let bad = EnvVars::from_pairs([("PYWRANGLER_API_TIMEOUT", "soon")]);
        let e = api_settings(&bad).expect_err("bad").to_string();
        assert!(
            e.contains("PYWRANGLER_API_TIMEOUT must be a positive number"),
            "{e}"
        );
    }
}
