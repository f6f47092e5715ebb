//! Command-line surface: clap derive types only. Doc comments become `--help`.
//! Nothing here does work; `crate::settings` resolves these raw flags into
//! settings, and only it and `commands` see these types.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Fast, offline-first tooling for Cloudflare Python Workers.
///
/// Commands not listed below are passed through to `npx --yes wrangler`.
#[derive(Debug, Parser)]
#[command(name = "pywrangler-rs", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Show more detail, including the commands run and their output.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// When to use colors in output (`NO_COLOR` is honoured under `auto`).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Color output setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always color.
    Always,
    /// Never color.
    Never,
}

/// Where to find the wrangler configuration and which environment to use.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Path to the wrangler config file (wrangler.jsonc, wrangler.json or wrangler.toml).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Wrangler environment to use (`env.<NAME>` in the config) [default:
    /// `$CLOUDFLARE_ENV`, as in wrangler].
    #[arg(short = 'e', long = "env", value_name = "NAME")]
    pub env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new Python Worker project from a template (offline).
    Init(InitArgs),
    /// Resolve dependencies to Pyodide-compatible wheels and vendor them into python_modules/.
    Sync(SyncArgs),
    /// Run the Worker locally on the embedded runtime.
    Dev(DevArgs),
    /// Validate, bundle and upload the Worker to Cloudflare.
    Deploy(DeployArgs),
    /// Write Python type stubs for the Worker's `env` bindings.
    Types(TypesArgs),
    /// Any other command is passed to `npx --yes wrangler`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the project in (default: the current directory).
    pub dir: Option<PathBuf>,

    /// Template: a built-in name (hello, fastapi, durable-object, cron, kv-d1),
    /// a local directory, or a git URL.
    #[arg(short, long, default_value = "hello")]
    pub template: String,

    /// Worker name (default: the directory name).
    #[arg(long)]
    pub name: Option<String>,

    /// Write into a non-empty directory, overwriting files of the same name.
    #[arg(long)]
    pub force: bool,

    /// Do not run `git init` in the new project.
    #[arg(long)]
    pub no_git: bool,
}

/// Arguments of `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Re-sync even when nothing has changed.
    #[arg(long)]
    pub force: bool,

    /// Allow upgrading pinned versions in pylock.toml.
    #[arg(long)]
    pub upgrade: bool,

    /// Allow building packages from source distributions.
    #[arg(long, overrides_with = "no_allow_build")]
    pub allow_build: bool,

    /// Only install pre-built wheels (the default).
    #[arg(long, overrides_with = "allow_build")]
    pub no_allow_build: bool,

    /// Do not create the host `.venv-workers/` used by editors.
    #[arg(long)]
    pub no_host_venv: bool,

    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Port to listen on [default: the config's `dev.port`, else 8787].
    #[arg(long)]
    pub port: Option<u16>,

    /// IP address to listen on [default: the config's `dev.ip`, else 127.0.0.1].
    #[arg(long)]
    pub ip: Option<String>,

    /// Override a var: KEY:VALUE (repeatable).
    #[arg(long = "var", value_name = "KEY:VALUE")]
    pub vars: Vec<String>,

    /// Directory for local binding state (default: .wrangler/state).
    #[arg(long, value_name = "DIR")]
    pub persist_to: Option<PathBuf>,

    /// Do not watch files and reload on change.
    #[arg(long)]
    pub no_reload: bool,

    /// Fire `triggers.crons` on their schedule.
    #[arg(long)]
    pub test_scheduled: bool,

    /// Log level for the local server.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Not supported for Python Workers (use remote bindings instead).
    #[arg(short = 'r', long, num_args = 0..=1, default_missing_value = "true", hide = true)]
    pub remote: Option<String>,
}

/// Log levels for `dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Log,
    Warn,
    Error,
    None,
}

/// Arguments of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Build and report but upload nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: write the upload's parts and metadata.json here.
    #[arg(long, value_name = "DIR")]
    pub outdir: Option<PathBuf>,

    /// Skip the local snapshot validation before upload.
    #[arg(long)]
    pub skip_validation: bool,

    /// Upload python_modules/ as it is, without running `sync` first.
    #[arg(long)]
    pub no_sync: bool,

    /// Keep vars set in the dashboard that are not in the config.
    #[arg(long)]
    pub keep_vars: bool,

    /// Deployment message.
    #[arg(long)]
    pub message: Option<String>,
}

/// Arguments of `types`.
#[derive(Debug, Args)]
pub struct TypesArgs {
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Directory to write the `js-stubs` package into (default: src).
    #[arg(short = 'o', long = "outdir", value_name = "DIR")]
    pub outdir: Option<PathBuf>,
}
