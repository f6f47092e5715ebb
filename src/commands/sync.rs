//! `pywrangler-rs sync`.

use crate::cli::SyncArgs;
use crate::diagnostics::Exit;

pub fn run(_args: SyncArgs) -> anyhow::Result<Exit> {
    super::not_implemented("sync")
}
