//! Resolve `dev`'s flags and the project's config into one settings value:
//! where to listen, which bindings exist (for the guest's `configure` event
//! and for [`LocalBindings`](super::bindings::LocalBindings)), secrets from
//! `.dev.vars`, queue consumers, crons and limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::bindings::{BindingsConfig, LogFilter};
use crate::cli::{DevArgs, LogLevel};
use crate::config::{Project, WranglerConfig};
use crate::diagnostics::UserError;

/// Env var: the wall-clock limit per event in milliseconds (default: 60 s or
/// twice `limits.cpu_ms`, whichever is longer). Cloudflare sets none for a
/// request whose client stays connected; locally it keeps a stuck event from
/// holding an instance slot forever, and tests lower it.
pub const WALL_LIMIT_ENV: &str = "PYWRANGLER_DEV_WALL_LIMIT_MS";

/// Overrides the longest a D1 query or Durable Object `sql.exec` may run in
/// `dev` (milliseconds; default D1's 30 s).
pub const SQL_TIME_LIMIT_ENV: &str = "PYWRANGLER_SQL_TIME_LIMIT_MS";

/// How one queue is consumed locally.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Queue name.
    pub queue: String,
    /// Most messages per batch (default 10).
    pub max_batch_size: usize,
    /// Longest wait for a batch to fill (default 5 s).
    pub max_batch_timeout: Duration,
    /// Redeliveries before a message is dropped or dead-lettered (default 3).
    pub max_retries: i64,
    /// Where messages out of retries go.
    pub dead_letter_queue: Option<String>,
    /// Default delay before a retried message is visible again, seconds.
    pub retry_delay: i64,
}

/// Everything one build of the Worker needs (re-resolved on config reload).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Project root (holds `pyproject.toml`).
    pub root: PathBuf,
    /// The wrangler config in use.
    pub config_path: PathBuf,
    /// Module root mounted at `/app/src`.
    pub module_root: PathBuf,
    /// `python_modules/`.
    pub python_modules: PathBuf,
    /// Import name of the main module.
    pub main_module: String,
    /// The `configure` event's `env`: `{NAME: {"type": …}}`.
    pub env: Value,
    /// Local storage layout of the bindings.
    pub bindings: BindingsConfig,
    /// Queue consumers.
    pub consumers: Vec<Consumer>,
    /// `triggers.crons`.
    pub crons: Vec<String>,
    /// CPU limit per event (`limits.cpu_ms`, default 30 s): time the guest
    /// computes; waiting (sleeps, fetch, bindings) does not count.
    pub cpu_limit: Duration,
    /// Wall-clock limit per event, waiting included ([`WALL_LIMIT_ENV`]).
    pub wall_limit: Duration,
    /// Durable Object classes exported by the Worker.
    pub durable_classes: Vec<String>,
    /// Config warnings to print once.
    pub warnings: Vec<String>,
    /// The Python version the Worker runs on Cloudflare.
    pub python: crate::config::PythonVersion,
    /// The config's `dev` table (`port`, `ip`, `local_protocol`); the
    /// command line wins over it.
    pub dev_server: crate::config::DevSettings,
}

/// Flags that stay fixed for the whole session.
#[derive(Debug, Clone)]
pub struct SessionFlags {
    /// Directory `dev` was started in.
    pub cwd: PathBuf,
    /// `-c`.
    pub config: Option<PathBuf>,
    /// `-e`.
    pub env: Option<String>,
    /// `--var KEY:VALUE`, parsed.
    pub vars: Vec<(String, String)>,
    /// `--persist-to`.
    pub persist_to: Option<PathBuf>,
    /// Worker log filter.
    pub log_level: LogFilter,
    /// Largest request body accepted (413 above it).
    pub max_request_body: u64,
    /// `PYWRANGLER_SQL_TIME_LIMIT_MS`, if set.
    pub sql_time_limit: Option<Duration>,
}

impl SessionFlags {
    /// Parse the flags that do not depend on the project.
    pub fn from_args(args: &DevArgs) -> anyhow::Result<SessionFlags> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let mut vars = Vec::new();
        for v in &args.vars {
            let Some((k, val)) = v.split_once(':') else {
                return Err(UserError::usage(format!("--var `{v}` is not KEY:VALUE"))
                    .hint("write it as --var NAME:value")
                    .into());
            };
            if k.is_empty() {
                return Err(UserError::usage(format!("--var `{v}` has an empty name")).into());
            }
            vars.push((k.to_string(), val.to_string()));
        }
        let log_level = match args.log_level {
            LogLevel::Debug => LogFilter::Debug,
            LogLevel::Info => LogFilter::Info,
            LogLevel::Log => LogFilter::Log,
            LogLevel::Warn => LogFilter::Warn,
            LogLevel::Error => LogFilter::Error,
            LogLevel::None => LogFilter::None,
        };
        Ok(SessionFlags {
            persist_to: args.persist_to.as_ref().map(|p| cwd.join(p)),
            cwd,
            config: args.config.config.clone(),
            env: args.config.env.clone(),
            vars,
            log_level,
            max_request_body: super::request_body::limit_from_env().map_err(|e| {
                UserError::usage(e).hint("unset it to use Cloudflare's 100 MB limit")
            })?,
            sql_time_limit: sql_time_limit(std::env::var(SQL_TIME_LIMIT_ENV).ok().as_deref())?,
        })
    }

    /// Load the project and resolve this build's settings.
    pub fn resolve(&self) -> anyhow::Result<WorkerSettings> {
        resolve(&self.load_project()?, self)
    }

    /// Load the project and check the files its config names, before any
    /// sync or build: a missing `main` or `migrations_dir` is a config error.
    fn load_project(&self) -> anyhow::Result<Project> {
        let project = Project::load(&self.cwd, self.config.as_deref(), self.env.as_deref())?;
        project.existing_main()?;
        project.check_migrations_dirs()?;
        Ok(project)
    }

    /// Like [`resolve`](Self::resolve), after bringing `python_modules/` up
    /// to date when the dependencies changed (a few ms when they did not).
    /// A failed sync is a warning: `dev` stays usable offline with the
    /// `python_modules/` it has.
    pub fn resolve_and_sync(&self) -> anyhow::Result<WorkerSettings> {
        let project = self.load_project()?;
        let opts = crate::sync::SyncOptions::default();
        let t = std::time::Instant::now();
        let synced = crate::sync::ensure_synced(&project, &opts);
        crate::printer::verbose(format!("sync check in {:.0?}", t.elapsed()));
        match synced {
            Ok(outcome) if !outcome.skipped => crate::printer::info(format!(
                "Synced {} packages into python_modules/",
                outcome.packages.len()
            )),
            Ok(_) => {}
            Err(e) => crate::printer::warn(format!(
                "sync failed, continuing with the current python_modules/: {e}"
            )),
        }
        resolve(&project, self)
    }
}

/// Without `.dev.vars`, wrangler reads secrets from `.env` (or `.env.<env>`).
fn dot_env_file(dir: &Path, env: Option<&str>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(env) = env {
        candidates.push(dir.join(format!(".env.{env}")));
    }
    candidates.push(dir.join(".env"));
    candidates.into_iter().find(|p| p.is_file())
}

fn read_dot_env(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| {
        UserError::usage(format!("cannot read {}: {e}", path.display()))
            .hint("each line of .env is NAME=value (dotenv syntax)")
    })?;
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| {
            UserError::usage(format!("{}: {e}", path.display()))
                .hint("each line of .env is NAME=value (dotenv syntax)")
        })?;
        out.push((k, v));
    }
    Ok(out)
}

fn resolve(project: &Project, flags: &SessionFlags) -> anyhow::Result<WorkerSettings> {
    let cfg: &WranglerConfig = &project.config;
    let config_dir = project.config_dir();
    let mut env: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in &cfg.vars {
        env.insert(k.clone(), json!({"type": "var", "value": v}));
    }
    let secrets = if crate::config::dev_vars_path(&config_dir, flags.env.as_deref()).is_some() {
        crate::config::read_dev_vars(&config_dir, flags.env.as_deref())?
    } else if let Some(path) = dot_env_file(&config_dir, flags.env.as_deref()) {
        read_dot_env(&path)?
    } else {
        Vec::new()
    };
    {
        for (k, v) in secrets {
            env.insert(k, json!({"type": "secret", "value": v}));
        }
    }
    for (k, v) in &flags.vars {
        env.insert(k.clone(), json!({"type": "var", "value": v}));
    }

    let mut b = BindingsConfig {
        state_dir: flags
            .persist_to
            .clone()
            .unwrap_or_else(|| project.root.join(".wrangler").join("state")),
        worker_name: cfg.name.clone().unwrap_or_default(),
        sql_time_limit: flags.sql_time_limit,
        kv_backed_classes: cfg
            .migrations
            .iter()
            .flat_map(|m| m.new_classes.iter().cloned())
            .collect(),
        ..BindingsConfig::default()
    };
    for kv in &cfg.kv_namespaces {
        // Local state is keyed like wrangler dev: the preview id first.
        let id = kv
            .preview_id
            .clone()
            .or_else(|| kv.id.clone())
            .unwrap_or_else(|| kv.binding.clone());
        b.kv.push((kv.binding.clone(), id));
        env.insert(kv.binding.clone(), json!({"type": "kv"}));
    }
    for d1 in &cfg.d1_databases {
        let id = d1
            .preview_database_id
            .clone()
            .or_else(|| d1.database_id.clone())
            .unwrap_or_else(|| d1.binding.clone());
        b.d1.push((d1.binding.clone(), id));
        if let Some(dir) = &d1.migrations_dir {
            b.d1_migrations.push((
                d1.binding.clone(),
                config_dir.join(dir),
                d1.migrations_table
                    .clone()
                    .unwrap_or_else(|| "d1_migrations".into()),
            ));
        }
        env.insert(d1.binding.clone(), json!({"type": "d1"}));
    }
    for r2 in &cfg.r2_buckets {
        let bucket = r2
            .preview_bucket_name
            .clone()
            .or_else(|| r2.bucket_name.clone())
            .unwrap_or_else(|| r2.binding.clone());
        b.r2.push((r2.binding.clone(), bucket));
        env.insert(r2.binding.clone(), json!({"type": "r2"}));
    }
    let mut durable_classes = Vec::new();
    for d in &cfg.durable_objects.bindings {
        b.durable_objects
            .push((d.name.clone(), d.class_name.clone()));
        if !durable_classes.contains(&d.class_name) {
            durable_classes.push(d.class_name.clone());
        }
        env.insert(
            d.name.clone(),
            json!({"type": "durable_object", "class_name": d.class_name}),
        );
    }
    for p in &cfg.queues.producers {
        let delay = p.delivery_delay.unwrap_or(0) as i64;
        b.queue_producers
            .push((p.binding.clone(), p.queue.clone(), delay));
        env.insert(
            p.binding.clone(),
            json!({"type": "queue", "queue": p.queue}),
        );
    }
    for s in &cfg.services {
        b.services
            .push((s.binding.clone(), s.service.clone(), s.entrypoint.clone()));
        env.insert(
            s.binding.clone(),
            json!({"type": "service", "service": s.service, "entrypoint": s.entrypoint}),
        );
    }
    for r in &cfg.ratelimits {
        b.ratelimits
            .push(crate::dev::bindings::ratelimit::RateLimitConfig {
                binding: r.name.clone(),
                namespace_id: r.namespace_id.clone(),
                limit: r.simple.limit,
                period: r.simple.period,
            });
        env.insert(r.name.clone(), json!({"type": "ratelimit"}));
    }
    for s in &cfg.secrets_store_secrets {
        b.secrets_store
            .push((s.binding.clone(), s.store_id.clone(), s.secret_name.clone()));
        env.insert(s.binding.clone(), json!({"type": "secrets_store_secret"}));
    }
    workflow_bindings(cfg, &mut b, &mut env);
    let local_only = other_bindings(cfg, &mut env)?;
    if let Some(assets) = crate::assets::AssetsOptions::from_project(project)? {
        if let Some(name) = &assets.binding {
            env.insert(name.clone(), json!({"type": "assets"}));
        }
        b.assets = Some(std::sync::Arc::new(assets));
    }
    let consumers = cfg
        .queues
        .consumers
        .iter()
        .map(|c| Consumer {
            queue: c.queue.clone(),
            max_batch_size: c.max_batch_size.unwrap_or(10).clamp(1, 100) as usize,
            max_batch_timeout: Duration::from_secs_f64(
                c.max_batch_timeout.unwrap_or(5.0).clamp(0.0, 60.0),
            ),
            max_retries: c.max_retries.unwrap_or(3) as i64,
            dead_letter_queue: c.dead_letter_queue.clone(),
            retry_delay: c.retry_delay.unwrap_or(0) as i64,
        })
        .collect();
    let cpu_ms = cfg.limits.as_ref().and_then(|l| l.cpu_ms).unwrap_or(30_000);
    let cpu_limit = Duration::from_millis(cpu_ms.max(1));
    let wall_limit = match std::env::var(WALL_LIMIT_ENV) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                return Err(UserError::usage(format!(
                    "${WALL_LIMIT_ENV} is `{v}`, not a number of milliseconds"
                ))
                .hint(format!("set it to e.g. 60000, or unset {WALL_LIMIT_ENV}"))
                .into());
            }
        },
        _ => (cpu_limit * 2).max(Duration::from_secs(60)),
    };
    Ok(WorkerSettings {
        python: project.python,
        root: project.root.clone(),
        config_path: project.wrangler_path.clone(),
        module_root: project.module_root(),
        python_modules: project.python_modules_dir(),
        main_module: project.main_module_name(),
        env: Value::Object(env.into_iter().collect()),
        bindings: b,
        consumers,
        crons: cfg
            .triggers
            .as_ref()
            .map(|t| t.crons.clone())
            .unwrap_or_default(),
        cpu_limit,
        wall_limit,
        durable_classes,
        warnings: project.warnings.iter().cloned().chain(local_only).collect(),
        dev_server: cfg.dev.clone().unwrap_or_default(),
    })
}

/// `env` entries of the binding kinds beyond KV, D1, R2, Durable Objects,
/// queues and services; returns warnings for those that cannot work locally.
fn other_bindings(
    cfg: &WranglerConfig,
    env: &mut BTreeMap<String, Value>,
) -> anyhow::Result<Vec<String>> {
    use crate::config::BindingKind as K;
    let mut remote_only = Vec::new();
    let mut not_emulated = Vec::new();
    for (name, kind, _) in cfg.binding_names() {
        let entry = match kind {
            K::Var
            | K::Secret
            | K::KvNamespace
            | K::R2Bucket
            | K::D1Database
            | K::DurableObject
            | K::QueueProducer
            | K::Service
            | K::RateLimit
            | K::SecretsStoreSecret => continue,
            K::VersionMetadata => json!({
                "type": "version_metadata",
                "id": crate::dev::bindings::sqlite::uuid_v4(),
                "tag": "",
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
            K::Hyperdrive => json!({
                "type": "hyperdrive",
                "connection_string": hyperdrive_local_string(cfg, name)?,
            }),
            K::AnalyticsEngine => json!({"type": "analytics_engine"}),
            K::Pipeline => json!({"type": "pipelines"}),
            K::Assets => continue,
            // Workflows of this worker run locally (`workflow_bindings`).
            K::Workflow if env.contains_key(name) => continue,
            other => match other.cloudflare_only() {
                Some(what) => {
                    remote_only.push(format!("{name} ({what})"));
                    json!({"type": "remote_only", "what": what})
                }
                None => {
                    not_emulated.push(name.to_string());
                    json!({"type": kind_tag(other)})
                }
            },
        };
        env.insert(name.to_string(), entry);
    }
    let mut warnings = Vec::new();
    if !remote_only.is_empty() {
        warnings.push(format!(
            "these bindings run only on Cloudflare, so calls to them fail under `pywrangler-rs dev`: {}",
            remote_only.join(", ")
        ));
    }
    if !not_emulated.is_empty() {
        warnings.push(format!(
            "these bindings are not emulated by `pywrangler-rs dev` yet, so calls to them fail locally: {}",
            not_emulated.join(", ")
        ));
    }
    Ok(warnings)
}

/// Workflows whose class lives in this worker run on the local engine; those
/// of other workers are left to [`other_bindings`] (not emulated).
fn workflow_bindings(
    cfg: &WranglerConfig,
    b: &mut BindingsConfig,
    env: &mut BTreeMap<String, Value>,
) {
    let flag = |f: &str| cfg.compatibility_flags.iter().any(|x| x == f);
    let implicit = !flag("no_python_workflows_implicit_dependencies")
        && (flag("python_workflows_implicit_dependencies")
            || cfg
                .compatibility_date
                .as_deref()
                .is_some_and(|d| d >= "2026-02-25"));
    for w in &cfg.workflows {
        if w.script_name
            .as_ref()
            .is_some_and(|s| Some(s) != cfg.name.as_ref())
        {
            continue;
        }
        b.workflows
            .push(super::bindings::workflows::WorkflowConfig {
                binding: w.binding.clone(),
                name: w.name.clone(),
                class_name: w.class_name.clone(),
                step_limit: w
                    .limits
                    .as_ref()
                    .and_then(|l| l.steps)
                    .unwrap_or(super::bindings::workflows::DEFAULT_STEP_LIMIT),
                implicit_dependencies: implicit,
            });
        env.insert(
            w.binding.clone(),
            json!({"type": "workflow", "name": w.name, "class_name": w.class_name}),
        );
    }
}

/// The `type` tag the guest sees for a kind it does not emulate.
fn kind_tag(kind: crate::config::BindingKind) -> &'static str {
    use crate::config::BindingKind as K;
    match kind {
        K::Workflow => "workflow",
        K::SendEmail => "send_email",
        K::WorkerLoader => "worker_loader",
        _ => "unsafe",
    }
}

/// Hyperdrive's local database, found as wrangler finds it: the environment
/// variable first, then the deprecated one, then `localConnectionString`.
fn hyperdrive_local_string(cfg: &WranglerConfig, binding: &str) -> anyhow::Result<String> {
    let from_env = [
        format!("CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_{binding}"),
        format!("WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_{binding}"),
    ]
    .into_iter()
    .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let configured = cfg
        .hyperdrive
        .iter()
        .find(|h| h.binding == binding)
        .and_then(|h| h.local_connection_string.clone());
    from_env.or(configured).ok_or_else(|| {
        UserError::usage(format!(
            "When developing locally, you should use a local Postgres connection string to emulate Hyperdrive functionality. \
             Please setup Postgres locally and set the value of the 'CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_{binding}' variable \
             or \"{binding}\"'s \"localConnectionString\" to the Postgres connection string."
        ))
        .hint(format!(
            "e.g. add \"localConnectionString\": \"postgres://user:password@127.0.0.1:5432/db\" to the `hyperdrive` entry `{binding}`"
        ))
        .into()
    })
}

/// Parse `PYWRANGLER_SQL_TIME_LIMIT_MS` (unset or empty: the default).
fn sql_time_limit(value: Option<&str>) -> anyhow::Result<Option<Duration>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(ms) if (1..=3_600_000).contains(&ms) => Ok(Some(Duration::from_millis(ms))),
        _ => Err(UserError::usage(format!(
            "{SQL_TIME_LIMIT_ENV}=`{v}` is not a number of milliseconds between 1 and 3600000"
        ))
        .hint(format!(
            "unset {SQL_TIME_LIMIT_ENV} to use D1's 30 s limit, or set it to e.g. 5000"
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_time_limit_from_the_environment() {
        assert_eq!(sql_time_limit(None).ok(), Some(None));
        assert_eq!(sql_time_limit(Some(" ")).ok(), Some(None));
        assert_eq!(
            sql_time_limit(Some("250")).ok(),
            Some(Some(Duration::from_millis(250)))
        );
        for bad in ["0", "-5", "1.5", "30s", "3600001"] {
            let e = sql_time_limit(Some(bad)).expect_err(bad).to_string();
            assert!(e.contains(SQL_TIME_LIMIT_ENV) && e.contains(bad), "{e}");
        }
    }
}
