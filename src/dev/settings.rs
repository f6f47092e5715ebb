//! Resolve `dev`'s flags and the project's config into one settings value:
//! where to listen, which bindings exist (for the guest's `configure` event
//! and for [`LocalBindings`](super::bindings::LocalBindings)), secrets from
//! `.dev.vars`, queue consumers, crons and limits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

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
    let mut notes = crate::bindings::DevNotes::default();
    let mut dev_env = crate::bindings::DevEnv {
        project,
        cfg,
        config_dir: &config_dir,
        flags,
        env: &mut env,
        local: &mut b,
        notes: &mut notes,
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
        warnings: project
            .warnings
            .iter()
            .cloned()
            .chain(notes.into_warnings())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(cwd: &Path) -> SessionFlags {
        SessionFlags {
            cwd: cwd.to_path_buf(),
            config: None,
            env: None,
            vars: Vec::new(),
            persist_to: None,
            log_level: LogFilter::Log,
            max_request_body: 100 << 20,
            sql_time_limit: None,
            wall_limit: None,
            hyperdrive_local: BTreeMap::new(),
            sync: crate::sync::SyncOptions::default(),
        }
    }

    /// Every kind's unit fills `env` and the local settings, and the kinds
    /// `dev` cannot run are named once each in the start-up warnings.
    #[test]
    fn each_kind_gets_its_env_entry_and_the_unrunnable_ones_are_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("src");
        std::fs::create_dir_all(root.join("public")).expect("public");
        std::fs::write(root.join("src/entry.py"), "").expect("entry");
        std::fs::write(
            root.join("pyproject.toml"),
            "[project]\nname = \"w\"\nversion = \"0.1.0\"\ndependencies = []\n",
        )
        .expect("pyproject");
        std::fs::write(
            root.join("wrangler.jsonc"),
            r#"{
              "name": "w", "main": "src/entry.py", "compatibility_date": "2025-11-01",
              "compatibility_flags": ["python_workers"],
              "workflows": [
                {"binding": "MINE", "name": "mine", "class_name": "Mine"},
                {"binding": "THEIRS", "name": "theirs", "class_name": "T", "script_name": "other"}
              ],
              "assets": {"directory": "public", "binding": "ASSETS"},
              "send_email": [{"name": "MAIL"}],
              "ratelimits": [{"name": "RL", "namespace_id": "1", "simple": {"limit": 5, "period": 60}}],
              "secrets_store_secrets": [{"binding": "KEY", "store_id": "s", "secret_name": "k"}],
              "ai": {"binding": "AI"},
              "browser": {"binding": "BROWSER"},
              "unsafe": {"bindings": [{"name": "RAW", "type": "something"}]}
            }"#,
        )
        .expect("config");
        let project = Project::load(root, None, None).expect("loads");
        let s = resolve(&project, &flags(root)).expect("settings");
        let ty = |name: &str| s.env[name]["type"].as_str().map(str::to_string);
        for (name, kind) in [
            ("MINE", "workflow"),
            ("THEIRS", "workflow"),
            ("ASSETS", "assets"),
            ("MAIL", "send_email"),
            ("RL", "ratelimit"),
            ("KEY", "secrets_store_secret"),
            ("AI", "remote_only"),
            ("BROWSER", "remote_only"),
            ("RAW", "unsafe"),
        ] {
            assert_eq!(ty(name).as_deref(), Some(kind), "{name}: {}", s.env);
        }
        assert_eq!(s.env["MINE"]["class_name"], "Mine");
        assert_eq!(s.env["BROWSER"]["what"], "Browser Rendering");
        let b = &s.bindings;
        assert_eq!(b.workflows.len(), 1, "only this worker's workflow runs");
        assert_eq!(b.ratelimits[0].limit, 5);
        assert_eq!(b.secrets_store[0].2, "k");
        assert_eq!(b.send_email[0].binding, "MAIL");
        assert!(b.assets.is_some());
        assert_eq!(
            b.email_dir.as_deref(),
            Some(root.join(".wrangler/tmp/email").as_path())
        );
        let warnings = s.warnings.join("\n");
        assert!(
            warnings.contains(
                "run only on Cloudflare, so calls to them fail under `pywrangler-rs dev`: AI (Workers AI), BROWSER (Browser Rendering)"
            ),
            "{warnings}"
        );
        assert!(
            warnings.contains("not emulated by `pywrangler-rs dev` yet, so calls to them fail locally: THEIRS, RAW"),
            "{warnings}"
        );
    }
}
