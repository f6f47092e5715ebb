//! `pywrangler-rs init`.

use crate::cli::InitArgs;
use crate::diagnostics::Exit;

pub fn run(_args: InitArgs) -> anyhow::Result<Exit> {
    super::not_implemented("init")
}
