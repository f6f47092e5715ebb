//! `dev`'s settings: where to listen (`--ip`/`--port` > the config's `dev`
//! table > 127.0.0.1:8787), what the session shares (`--var`, `--persist-to`,
//! the log level) and the limits the environment may lower.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigSelection, Layers, SyncSettings};
use crate::cli::{DevArgs, LogLevel};
use crate::config::Project;
use crate::dev::DevOptions;
use crate::dev::bindings::LogFilter;
use crate::dev::request_body::DEFAULT_LIMIT;
use crate::dev::settings::SessionFlags;
use crate::diagnostics::UserError;
use crate::env_vars::{self, EnvVars};

/// Everything `dev` needs, resolved.
#[derive(Debug, Clone)]
pub struct DevSettings {
    pub options: DevOptions,
    /// Settings that are accepted but not honoured, said once at start-up.
    pub warnings: Vec<String>,
}

impl DevSettings {
    /// `dev`'s flags over the environment over the config over the defaults.
    /// `project` is the project as loaded at start-up (its `dev` table).
    pub fn resolve(
        args: &DevArgs,
        cwd: PathBuf,
        project: &Project,
        env: &EnvVars,
    ) -> anyhow::Result<DevSettings> {
        let dev = project.config.dev.clone().unwrap_or_default();
        let (ip_text, ip_source) = Layers::new()
            .cli("--ip", args.ip.clone())
            .config("dev.ip", dev.ip)
            .pick("127.0.0.1".to_string());
        let ip: IpAddr = ip_text.parse().map_err(|_| {
            UserError::usage(format!("{ip_source} `{ip_text}` is not an IP address"))
                .hint("use e.g. 127.0.0.1 or 0.0.0.0")
        })?;
        let (port, _) = Layers::new()
            .cli("--port", args.port)
            .config("dev.port", dev.port)
            .pick(8787);
        let mut warnings = Vec::new();
        if dev.local_protocol.as_deref().is_some_and(|p| p != "http") {
            warnings.push(
                "dev.local_protocol = \"https\" is not supported by pywrangler-rs dev; serving http"
                    .to_string(),
            );
        }
        let selection = ConfigSelection::resolve(&args.config, env);
        let session = SessionFlags {
            persist_to: args.persist_to.as_ref().map(|p| cwd.join(p)),
            cwd,
            config: selection.config,
            env: selection.env,
            vars: parse_vars(&args.vars)?,
            log_level: log_filter(args.log_level),
            max_request_body: max_request_body(env.get(env_vars::PYWRANGLER_DEV_MAX_REQUEST_BODY))?,
            sql_time_limit: sql_time_limit(env.get(env_vars::PYWRANGLER_SQL_TIME_LIMIT_MS))?,
            wall_limit: wall_limit(env.get(env_vars::PYWRANGLER_DEV_WALL_LIMIT_MS))?,
            hyperdrive_local: hyperdrive_local(env),
            sync: SyncSettings::implied(project, env),
        };
        Ok(DevSettings {
            options: DevOptions {
                listen: SocketAddr::new(ip, port),
                reload: !args.no_reload,
                test_scheduled: args.test_scheduled,
                session,
            },
            warnings,
        })
    }
}

/// `--var KEY:VALUE`, each split at the first `:`.
fn parse_vars(vars: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for v in vars {
        let Some((k, val)) = v.split_once(':') else {
            return Err(UserError::usage(format!("--var `{v}` is not KEY:VALUE"))
                .hint("write it as --var NAME:value")
                .into());
        };
        if k.is_empty() {
            return Err(UserError::usage(format!("--var `{v}` has an empty name")).into());
        }
        out.push((k.to_string(), val.to_string()));
    }
    Ok(out)
}

fn log_filter(level: LogLevel) -> LogFilter {
    match level {
        LogLevel::Debug => LogFilter::Debug,
        LogLevel::Info => LogFilter::Info,
        LogLevel::Log => LogFilter::Log,
        LogLevel::Warn => LogFilter::Warn,
        LogLevel::Error => LogFilter::Error,
        LogLevel::None => LogFilter::None,
    }
}

/// `PYWRANGLER_DEV_MAX_REQUEST_BODY` (bytes), else Cloudflare's 100 MB.
fn max_request_body(value: Option<&str>) -> anyhow::Result<u64> {
    let name = env_vars::PYWRANGLER_DEV_MAX_REQUEST_BODY;
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => v.parse::<u64>().map_err(|_| {
            UserError::usage(format!(
                "{name}=`{v}` is not a size in bytes (e.g. {DEFAULT_LIMIT})"
            ))
            .hint("unset it to use Cloudflare's 100 MB limit")
            .into()
        }),
    }
}

/// `PYWRANGLER_SQL_TIME_LIMIT_MS` (unset: D1's 30 s, applied by the bindings).
fn sql_time_limit(value: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let name = env_vars::PYWRANGLER_SQL_TIME_LIMIT_MS;
    let Some(v) = value else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(ms) if (1..=3_600_000).contains(&ms) => Ok(Some(Duration::from_millis(ms))),
        _ => Err(UserError::usage(format!(
            "{name}=`{v}` is not a number of milliseconds between 1 and 3600000"
        ))
        .hint(format!(
            "unset {name} to use D1's 30 s limit, or set it to e.g. 5000"
        ))
        .into()),
    }
}

/// `PYWRANGLER_DEV_WALL_LIMIT_MS` (unset: derived from the CPU limit per build).
fn wall_limit(value: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let name = env_vars::PYWRANGLER_DEV_WALL_LIMIT_MS;
    let Some(v) = value else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
        _ => Err(
            UserError::usage(format!("${name} is `{v}`, not a number of milliseconds"))
                .hint(format!("set it to e.g. 60000, or unset {name}"))
                .into(),
        ),
    }
}

/// Hyperdrive local connection strings by binding name: the
/// `CLOUDFLARE_…_<BINDING>` variable, else the deprecated `WRANGLER_…` one
/// (as wrangler reads them). All are kept, so a binding added by a later
/// reload finds its own.
fn hyperdrive_local(env: &EnvVars) -> BTreeMap<String, String> {
    env.suffixes(env_vars::HYPERDRIVE_LOCAL_DEPRECATED)
        .chain(env.suffixes(env_vars::HYPERDRIVE_LOCAL))
        .map(|(binding, value)| (binding.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ConfigArgs;

    fn project(dev_table: &str) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("pyproject.toml"),
            "[project]\nname = \"w\"\nversion = \"0.1.0\"\n",
        )
        .expect("pyproject");
        std::fs::write(
            dir.path().join("wrangler.toml"),
            format!("name = \"w\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-10-01\"\ncompatibility_flags = [\"python_workers\"]\n{dev_table}"),
        )
        .expect("wrangler");
        let project = Project::load(dir.path(), None, None).expect("project");
        (dir, project)
    }

    fn args(ip: Option<&str>, port: Option<u16>) -> DevArgs {
        DevArgs {
            config: ConfigArgs::default(),
            port,
            ip: ip.map(str::to_string),
            vars: Vec::new(),
            persist_to: None,
            no_reload: false,
            test_scheduled: false,
            log_level: LogLevel::Info,
            remote: None,
        }
    }

    fn listen(args: &DevArgs, project: &Project, env: &EnvVars) -> String {
        DevSettings::resolve(args, PathBuf::from("/w"), project, env)
            .expect("resolves")
            .options
            .listen
            .to_string()
    }

    #[test]
    fn listen_address_flag_over_config_over_default() {
        let env = EnvVars::default();
        let (_d, configured) = project("\n[dev]\nip = \"0.0.0.0\"\nport = 9001\n");
        assert_eq!(listen(&args(None, None), &configured, &env), "0.0.0.0:9001");
        assert_eq!(
            listen(&args(Some("127.0.0.2"), Some(9002)), &configured, &env),
            "127.0.0.2:9002"
        );
        let (_d, plain) = project("");
        assert_eq!(listen(&args(None, None), &plain, &env), "127.0.0.1:8787");
    }

    #[test]
    fn a_bad_ip_names_where_it_came_from() {
        let (_d, configured) = project("\n[dev]\nip = \"nowhere\"\n");
        let err = DevSettings::resolve(
            &args(None, None),
            PathBuf::from("/w"),
            &configured,
            &EnvVars::default(),
        )
        .expect_err("bad ip")
        .to_string();
        assert!(
            err.contains("dev.ip in the wrangler config `nowhere`"),
            "{err}"
        );
    }

    #[test]
    fn limits_from_the_environment() {
        assert_eq!(sql_time_limit(None).ok(), Some(None));
        assert_eq!(
            sql_time_limit(Some("250")).ok(),
            Some(Some(Duration::from_millis(250)))
        );
        for bad in ["0", "-5", "1.5", "30s", "3600001"] {
            let e = sql_time_limit(Some(bad)).expect_err(bad).to_string();
            assert!(
                e.contains("PYWRANGLER_SQL_TIME_LIMIT_MS") && e.contains(bad),
                "{e}"
            );
        }
        assert_eq!(max_request_body(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(max_request_body(Some("10")).ok(), Some(10));
        assert!(max_request_body(Some("ten")).is_err());
        assert_eq!(
            wall_limit(Some("3000")).ok(),
            Some(Some(Duration::from_secs(3)))
        );
        assert!(wall_limit(Some("0")).is_err());
    }

    #[test]
    fn hyperdrive_strings_prefer_the_cloudflare_spelling() {
        let env = EnvVars::from_pairs([
            ("WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB", "old"),
            ("CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB", "new"),
            (
                "WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_OTHER",
                "only-old",
            ),
        ]);
        let map = hyperdrive_local(&env);
        assert_eq!(map.get("DB").map(String::as_str), Some("new"));
        assert_eq!(map.get("OTHER").map(String::as_str), Some("only-old"));
    }
}
