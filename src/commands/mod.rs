//! One thin module per subcommand; each resolves its flags and calls domain code.

use crate::cli::{Cli, Command};
use crate::diagnostics::Exit;

mod deploy;
mod dev;
mod init;
mod sync;
mod types;

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Init(args) => init::run(args),
        Command::Sync(args) => sync::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Types(args) => types::run(args),
        Command::External(args) => crate::child::proxy_to_wrangler(&args),
    }
}
