//! `pywrangler-rs deploy`.

use crate::cli::DeployArgs;
use crate::diagnostics::Exit;

pub fn run(_args: DeployArgs) -> anyhow::Result<Exit> {
    super::not_implemented("deploy")
}
