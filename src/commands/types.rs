//! `pywrangler-rs types`.

use crate::cli::TypesArgs;
use crate::diagnostics::Exit;

pub fn run(_args: TypesArgs) -> anyhow::Result<Exit> {
    super::not_implemented("types")
}
