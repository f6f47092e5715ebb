//! One integration binary that drives the real `pywrangler-rs` CLI in temp
//! directories against fakes of the outside world. One module per command.

mod support;

mod cli;
mod config;
mod deploy;
mod dev;
mod init;
mod pyshim;
mod sync;
mod types;
