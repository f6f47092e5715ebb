//! pywrangler-rs entry point: parse, run, map the error to an exit code.

mod api;
mod assets;
mod bindings;
mod child;
mod cli;
mod commands;
mod config;
mod deploy;
mod dev;
mod diagnostics;
mod env_vars;
mod fsutil;
mod printer;
mod runtime_notice;
mod scaffold;
mod settings;
mod sync;
mod types_gen;
mod uv;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    // The one read of the environment; the settings layer interprets it.
    let env = env_vars::EnvVars::from_process();
    settings::init_printer(&cli.global, &env);
    let exit = match commands::run(cli, &env) {
        Ok(exit) => exit,
        Err(err) => diagnostics::report(&err),
    };
    std::process::exit(exit.code());
}
