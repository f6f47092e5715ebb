//! CPython compiled to WebAssembly, hosted in wasmtime, with a memory snapshot
//! taken after the Worker's top-level code. Used by `dev` and `deploy`.
//!
//! The flow is `Runtime::new` (once per process) → [`Runtime::build_snapshot`]
//! (once per source change; cached on disk) → [`Snapshot::instantiate`] (per
//! isolate; copy-on-write, sub-millisecond) → [`Instance::fetch`] and the other
//! events. The host↔guest ABI is described in `docs/runtime-abi.md`, the
//! design and the measurements that chose it in `docs/runtime.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pywrangler_runtime::*;
//!
//! struct NoBindings;
//! impl HostHandler for NoBindings {
//!     fn call(&self, header: serde_json::Value, _body: Vec<u8>) -> HostReply {
//!         HostReply::error("Error", format!("no binding for {}", header["op"]))
//!     }
//! }
//!
//! # fn main() -> anyhow::Result<()> {
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let snapshot = runtime.build_snapshot(&SnapshotSpec::new("src", "entry", ".wrangler/cache"))?;
//! let mut instance = snapshot.instantiate(InstanceOptions::new(Arc::new(NoBindings)))?;
//! let response = instance.fetch(Request::get("http://localhost/"))?;
//! println!("{} {}", response.status, String::from_utf8_lossy(&response.body));
//! # Ok(()) }
//! ```

mod builder;
mod cache;
pub mod cache_dir;
mod clif_cache;
mod cold;
mod cpu;
mod embedded;
mod envelope;
mod error;
mod guest;
mod host;
mod imports;
mod instance;
mod layers;
mod link;
mod logs;
mod native;
mod progress;
mod runtime;
mod session;
mod snapshot;
pub mod tmpdirs;
mod trace;
mod wait;
mod wasi_env;
mod wizer_state;

pub use cpu::{cpu_timed, thread_cpu_time};
pub use error::{InvokeError, PythonError, RuntimeError, SnapshotError};
pub use host::{HostHandler, HostReply, Reentry};
pub use instance::{Instance, InstanceOptions, Request, Response, status_and_headers};
pub use logs::{LogLine, LogSink, LogStream};
pub use native::{NativePackage, scan_native_modules};
pub use progress::{Progress, ProgressSink};
pub use runtime::{Runtime, RuntimeConfig};
pub use snapshot::{Snapshot, SnapshotKind, SnapshotSpec, SnapshotStats};

/// Version of the runtime crate; part of every snapshot cache key.
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod thread_safety {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}

    /// `dev` moves instances to worker threads and shares snapshots.
    #[test]
    fn public_types_cross_threads() {
        send::<crate::Instance>();
        send_sync::<crate::Snapshot>();
        send_sync::<crate::Runtime>();
        send_sync::<crate::InstanceOptions>();
    }
}
