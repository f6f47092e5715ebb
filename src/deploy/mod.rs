//! `deploy`'s domain code: validate the Worker locally, collect its modules,
//! measure them against the size limits, build wrangler's metadata and run
//! wrangler's API call sequence. `commands::deploy` only wires flags to this.

pub mod assets;
pub mod bundle;
pub mod form;
pub mod metadata;
pub mod pipeline;
pub mod preflight;
pub mod size;
pub mod upload;
pub mod validate;
