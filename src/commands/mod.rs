//! One thin module per subcommand: load the project, resolve its settings
//! (`crate::settings`), call domain code.

use crate::cli::{Cli, Command};
use crate::diagnostics::Exit;
use crate::env_vars::EnvVars;

mod deploy;
mod dev;
mod init;
mod sync;
mod types;

/// Dispatch a parsed command line.
pub fn run(cli: Cli, env: &EnvVars) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Sync(args) => sync::run(args, env),
        Command::Dev(args) => dev::run(args, env),
        Command::Deploy(args) => deploy::run(args, env),
        Command::Types(args) => types::run(args, env),
        Command::External(args) => crate::child::proxy_to_wrangler(&args),
    }
}
