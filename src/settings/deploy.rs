//! `deploy`'s settings: the flags, the sync it runs first, the validation
//! limits and how to reach the API (credentials, base URL, timeouts,
//! account), the last three from the environment.

use std::time::Duration;

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
                asset_backoff: asset_backoff(env.get(env_vars::PYWRANGLER_ASSETS_RETRY_DELAY_MS))?,
            },
            sync: (!args.no_sync).then(|| SyncSettings::implied(project, env)),
        })
    }
}

/// The first wait before retrying a failed assets upload request:
/// `PYWRANGLER_ASSETS_RETRY_DELAY_MS`, else wrangler's 1 s.
fn asset_backoff(setting: Option<&str>) -> Result<Duration, UserError> {
    let Some(v) = setting.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(crate::deploy::assets::queue::DEFAULT_BACKOFF);
    };
    v.parse::<u64>()
        .ok()
        .filter(|ms| *ms <= 600_000)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            UserError::usage(format!(
                "{} must be a whole number of milliseconds up to 600000, not `{}`",
                env_vars::PYWRANGLER_ASSETS_RETRY_DELAY_MS,
                crate::printer::escape_control(v)
            ))
            .hint("unset it for wrangler's 1000")
        })
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
    fn the_assets_retry_delay_is_milliseconds() {
        assert_eq!(
            asset_backoff(None).expect("default"),
            Duration::from_secs(1)
        );
        assert_eq!(
            asset_backoff(Some(" ")).expect("blank"),
            Duration::from_secs(1)
        );
        assert_eq!(asset_backoff(Some("0")).expect("zero"), Duration::ZERO);
        assert_eq!(
            asset_backoff(Some("25")).expect("25"),
            Duration::from_millis(25)
        );
        for bad in ["-1", "1.5", "soon", "600001"] {
            let e = asset_backoff(Some(bad)).expect_err(bad).to_string();
            assert!(
                e.contains("PYWRANGLER_ASSETS_RETRY_DELAY_MS must be a whole number"),
                "{e}"
            );
        }
    }

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
