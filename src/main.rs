//! pywrangler-rs entry point: parse, run, map the error to an exit code.

mod api;
mod assets;
mod child;
mod cli;
mod commands;
mod config;
mod deploy;
mod dev;
mod diagnostics;
mod fsutil;
mod printer;
mod runtime_notice;
mod scaffold;
mod sync;
mod types_gen;
mod uv;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    printer::Printer::init(cli.global.verbose, cli.global.quiet, cli.global.color);
    let exit = match commands::run(cli) {
        Ok(exit) => exit,
        Err(err) => diagnostics::report(&err),
    };
    std::process::exit(exit.code());
}
