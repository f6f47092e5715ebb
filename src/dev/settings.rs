//! Resolve `dev`'s flags and the project's config into one settings value:
//! where to listen, which bindings exist (for the guest's `configure` event
//! and for [`LocalBindings`](super::bindings::LocalBindings)), secrets from
//! `.dev.vars`, queue consumers, crons and limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::bindings::{BindingsConfig, LogFilter};
use crate::config::{Project, ProjectPaths, WranglerConfig};

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
    /// `python_modules/`, the snapshot cache and local state.
    pub paths: ProjectPaths,
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
    /// Wall-clock limit per event, waiting included
    /// ([`SessionFlags::wall_limit`], else 60 s or twice the CPU limit).
    pub wall_limit: Duration,
    /// Durable Object classes exported by the Worker.
    pub durable_classes: Vec<String>,
    /// Config warnings to print once.
    pub warnings: Vec<String>,
    /// The Python version the Worker runs on Cloudflare.
    pub python: crate::config::PythonVersion,
}

/// Settings that stay fixed for the whole session, resolved from the
/// command line and the environment by `crate::settings::DevSettings`.
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
    /// `PYWRANGLER_DEV_WALL_LIMIT_MS`, if set: the wall-clock limit per event.
    /// Cloudflare sets none for a request whose client stays connected;
    /// locally it keeps a stuck event from holding an instance slot forever.
    pub wall_limit: Option<Duration>,
    /// Hyperdrive local connection strings from the environment, by binding.
    pub hyperdrive_local: BTreeMap<String, String>,
    /// How `dev` syncs `python_modules/` before a build.
    pub sync: crate::sync::SyncOptions,
}

impl SessionFlags {
    /// Load the project and resolve this build's settings.
    pub fn resolve(&self) -> anyhow::Result<WorkerSettings> {
        resolve(&self.load_project()?, self)
    }

    fn load_project(&self) -> anyhow::Result<Project> {
        load_project(&self.cwd, self.config.as_deref(), self.env.as_deref())
    }

    /// Like [`resolve`](Self::resolve), after bringing `python_modules/` up
    /// to date when the dependencies changed (a few ms when they did not).
    /// A failed sync is a warning: `dev` stays usable offline with the
    /// `python_modules/` it has.
    pub fn resolve_and_sync(&self) -> anyhow::Result<WorkerSettings> {
        let project = self.load_project()?;
        let t = std::time::Instant::now();
        let synced = crate::sync::ensure_synced(&project, &self.sync);
        crate::printer::verbose(format!("sync check in {:.0?}", t.elapsed()));
        match synced {
            Ok(outcome) if !outcome.skipped => crate::printer::info(format!(
                "Synced {} packages into python_modules/",
                outcome.packages.len()
            )),
            Ok(_) => {}
            Err(e) => crate::printer::warn_with_hints(
                format!("sync failed, continuing with the current python_modules/: {e}"),
                &crate::diagnostics::hints_for(&e),
            ),
        }
        resolve(&project, self)
    }
}

/// Load the project and check the files its config names, before any
/// sync or build: a missing `main` or `migrations_dir` is a config error.
pub fn load_project(
    cwd: &Path,
    config: Option<&Path>,
    env: Option<&str>,
) -> anyhow::Result<Project> {
    let project = Project::load(cwd, config, env)?;
    project.existing_main()?;
    project.check_migrations_dirs()?;
    Ok(project)
}

/// This build's settings from a loaded project.
pub fn resolve(project: &Project, flags: &SessionFlags) -> anyhow::Result<WorkerSettings> {
    let cfg: &WranglerConfig = &project.config;
    let config_dir = project.config_dir();
    let paths = project
        .paths
        .clone()
        .with_state_dir(flags.persist_to.clone());
    let mut env: BTreeMap<String, Value> = BTreeMap::new();
    let mut b = BindingsConfig {
        state_dir: paths.state_dir.clone(),
        worker_name: cfg.name.clone().unwrap_or_default(),
        sql_time_limit: flags.sql_time_limit,
        ..BindingsConfig::default()
    };
    let mut dev_env = crate::bindings::DevEnv {
        cfg,
        config_dir: &config_dir,
        flags,
        env: &mut env,
        local: &mut b,
    };
    for kind in crate::bindings::KINDS {
        (kind.dev)(&mut dev_env)?;
    }
    let mut durable_classes: Vec<String> = Vec::new();
    for (_, class) in &b.durable_objects {
        if !durable_classes.contains(class) {
            durable_classes.push(class.clone());
        }
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
    for e in &cfg.send_email {
        b.send_email
            .push(crate::dev::bindings::send_email::SendEmailConfig {
                binding: e.name.clone(),
                destination_address: e.destination_address.clone(),
                allowed_destination_addresses: e.allowed_destination_addresses.clone(),
                allowed_sender_addresses: e.allowed_sender_addresses.clone(),
            });
        env.insert(e.name.clone(), json!({"type": "send_email"}));
    }
    b.email_dir = Some(crate::dev::bindings::send_email::default_root(&paths.root));
    workflow_bindings(cfg, &mut b, &mut env);
    let mut local_only = other_bindings(cfg, &mut env);
    if let Some(assets) = crate::assets::AssetsOptions::from_project(project)? {
        local_only.extend(crate::assets::rules::warnings(&assets.dir));
        if let Some(name) = &assets.binding {
            env.insert(name.clone(), json!({"type": "assets"}));
        }
        b.assets = Some(std::sync::Arc::new(assets));
    }
    let consumers = crate::bindings::queue::consumers(cfg);
    let cpu_ms = cfg.limits.as_ref().and_then(|l| l.cpu_ms).unwrap_or(30_000);
    let cpu_limit = Duration::from_millis(cpu_ms.max(1));
    let wall_limit = flags
        .wall_limit
        .unwrap_or_else(|| (cpu_limit * 2).max(Duration::from_secs(60)));
    Ok(WorkerSettings {
        python: project.python,
        root: project.root.clone(),
        config_path: project.wrangler_path.clone(),
        module_root: project.module_root(),
        paths,
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
    })
}

/// `env` entries of the binding kinds not yet in [`crate::bindings::KINDS`]; returns warnings for those that cannot work locally.
fn other_bindings(cfg: &WranglerConfig, env: &mut BTreeMap<String, Value>) -> Vec<String> {
    use crate::config::BindingKind as K;
    let mut remote_only = Vec::new();
    let mut not_emulated = Vec::new();
    for (name, kind, _) in cfg.binding_names() {
        if crate::bindings::of(kind).is_some() {
            continue;
        }
        let entry = match kind {
            K::RateLimit | K::SecretsStoreSecret | K::SendEmail => continue,
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
    warnings
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
        _ => "unsafe",
    }
}
