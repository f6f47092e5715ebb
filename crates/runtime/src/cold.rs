//! The slow path that snapshots avoid: start CPython and import the Worker
//! at instantiation. Kept for comparison (benchmarks) and diagnosis.

use crate::builder::{choose_guest, init_guest, instrumented_guest, mounts_for};
use crate::error::SnapshotError;
use crate::host::Phase;
use crate::instance::{Instance, InstanceOptions};
use crate::runtime::Runtime;
use crate::snapshot::{SnapshotSpec, map_invoke, status_error};

impl Runtime {
    /// Creates an instance without any snapshot: CPython starts and imports
    /// the main module now (hundreds of ms), then `configure` runs.
    pub fn cold_instance(
        &self,
        spec: &SnapshotSpec,
        options: InstanceOptions,
    ) -> Result<Instance, SnapshotError> {
        let mounts = mounts_for(self, spec)?;
        let files = crate::cache::list_tree(&mounts.python_modules, &[])?;
        let guest = choose_guest(&self.inner, &mounts.python_modules, &files)?;
        let (_, module) = instrumented_guest(&self.inner, &guest)?;
        let (mut session, status) = init_guest(
            self,
            &module,
            &mounts,
            &spec.main_module,
            options.log.clone(),
        )?;
        if let Some(e) = status_error(&status, &guest.refused) {
            return Err(e);
        }
        let data = session.store.data_mut();
        data.phase = Phase::Serving;
        data.handler = Some(options.handler.clone());
        data.memory.limit = usize::try_from(options.memory_limit).unwrap_or(usize::MAX);
        data.deadline.cpu_limit = options.cpu_limit;
        data.deadline.wall_limit = options.wall_limit;
        Instance::configure(session, &options).map_err(map_invoke)
    }
}
