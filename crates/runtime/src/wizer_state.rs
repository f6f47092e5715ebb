//! Glue to wasmtime-wizer's snapshot step without its async wasmtime
//! integration: we run the guest ourselves (synchronously, through our own
//! linker and phases) and only borrow wizer's state capture and rewrite.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use wasmtime::{Instance, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType};

use crate::host::HostState;

/// A live instance seen through wizer's [`InstanceState`].
pub(crate) struct LiveInstance<'a> {
    pub(crate) store: &'a mut Store<HostState>,
    pub(crate) instance: Instance,
}

impl InstanceState for LiveInstance<'_> {
    fn global_get(
        &mut self,
        name: &str,
        _type_hint: ValType,
    ) -> impl Future<Output = SnapshotVal> + Send {
        let val = match self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store))
        {
            Some(Val::I32(x)) => SnapshotVal::I32(x),
            Some(Val::I64(x)) => SnapshotVal::I64(x),
            Some(Val::F32(x)) => SnapshotVal::F32(x),
            Some(Val::F64(x)) => SnapshotVal::F64(x),
            Some(Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            // wizer only asks for the mutable numeric globals it exported.
            _ => SnapshotVal::I32(0),
        };
        std::future::ready(val)
    }

    fn memory_contents(
        &mut self,
        name: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(m) => contents(m.data(&*self.store)),
            None => contents(&[]),
        }
        std::future::ready(())
    }
}

/// Drives a future that never waits (wizer's snapshot over [`LiveInstance`]).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
