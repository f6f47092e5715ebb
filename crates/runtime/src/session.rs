//! One live guest: a store with our host state plus the ABI exports, used
//! both while building a snapshot and while serving.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasmtime::{Instance as WasmInstance, Memory, Store, TypedFunc, UpdateDeadline};

use crate::envelope;
use crate::error::{InvokeError, PythonError, RuntimeError};
use crate::host::{Deadline, HostHandler, HostState, MemoryCap, Phase};
use crate::logs::{LineWriter, LogSink, LogStream, SharedSink};
use crate::runtime::Inner;
use crate::wasi_env::{self, Mounts};

/// How to set up a store.
pub(crate) struct StoreSpec<'a> {
    pub(crate) mounts: &'a Mounts,
    pub(crate) main_module: &'a str,
    pub(crate) phase: Phase,
    pub(crate) handler: Option<Arc<dyn HostHandler>>,
    pub(crate) sink: LogSink,
    pub(crate) memory_limit: u64,
    pub(crate) cpu_limit: Duration,
    pub(crate) wall_limit: Duration,
}

/// Creates a store with a fresh private `/tmp`, the WASI world, the memory
/// cap and the epoch-deadline accounting.
pub(crate) fn new_store(rt: &Inner, spec: StoreSpec<'_>) -> Result<Store<HostState>, RuntimeError> {
    let tmp = crate::tmpdirs::create().map_err(|source| RuntimeError::Io {
        action: "creating",
        path: std::env::temp_dir(),
        source,
    })?;
    let sink = SharedSink::new(spec.sink);
    let stdout = LineWriter::new(LogStream::Stdout, sink.clone());
    let stderr = LineWriter::new(LogStream::Stderr, sink.clone());
    let clock = crate::wait::GuestClock {
        origin: std::time::Instant::now(),
    };
    let wasi = wasi_env::build(
        spec.mounts,
        spec.main_module,
        tmp.path(),
        clock,
        stdout.clone(),
        stderr.clone(),
    )?;
    let state = HostState {
        wasi,
        memory: MemoryCap {
            limit: usize::try_from(spec.memory_limit).unwrap_or(usize::MAX),
            hit: false,
        },
        deadline: Deadline::new(spec.cpu_limit, spec.wall_limit),
        phase: spec.phase,
        handler: spec.handler,
        stdout,
        stderr,
        sink,
        pending_reply: Vec::new(),
        clock,
        inner_poll: None,
        _tmp: Some(tmp),
    };
    let mut store = Store::new(&rt.engine, state);
    let inner_poll = crate::wait::inner_poll(&rt.linker, &mut store)
        .map_err(|e| RuntimeError::Wasm(e.into()))?;
    store.data_mut().inner_poll = Some(inner_poll);
    store.limiter(|s| &mut s.memory);
    store.epoch_deadline_callback(|mut ctx| {
        if ctx.data_mut().deadline.check() {
            Ok(UpdateDeadline::Continue(1))
        } else {
            Ok(UpdateDeadline::Interrupt)
        }
    });
    store.set_epoch_deadline(1);
    Ok(store)
}

/// A guest instance with its ABI exports resolved.
pub(crate) struct Session {
    pub(crate) store: Store<HostState>,
    pub(crate) instance: WasmInstance,
    pub(crate) memory: Memory,
    alloc: TypedFunc<i32, i32>,
    free: TypedFunc<i32, ()>,
    invoke: TypedFunc<(i32, i32), i64>,
}

impl Session {
    pub(crate) fn new(mut store: Store<HostState>, instance: WasmInstance) -> Result<Self, String> {
        let missing = |what: &str, e: wasmtime::Error| {
            format!("the guest does not export `{what}` as the ABI requires: {e}")
        };
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or("the guest does not export `memory`")?;
        let alloc = instance
            .get_typed_func(&mut store, "pw_alloc")
            .map_err(|e| missing("pw_alloc", e))?;
        let free = instance
            .get_typed_func(&mut store, "pw_free")
            .map_err(|e| missing("pw_free", e))?;
        let invoke = instance
            .get_typed_func(&mut store, "pw_invoke")
            .map_err(|e| missing("pw_invoke", e))?;
        Ok(Session {
            store,
            instance,
            memory,
            alloc,
            free,
            invoke,
        })
    }

    /// Arms the time limit for the next call into the guest.
    fn arm(&mut self) {
        let data = self.store.data_mut();
        data.deadline.restart();
        data.memory.hit = false;
        self.store.set_epoch_deadline(1);
    }

    /// Runs one `pw_invoke` and returns the decoded reply envelope.
    pub(crate) fn invoke(
        &mut self,
        header: &Value,
        body: &[u8],
    ) -> Result<(Value, Vec<u8>), InvokeError> {
        self.arm();
        let input = envelope::encode(header, body);
        let result = self.call_invoke(&input);
        self.store.data().flush_logs();
        let output = result.map_err(|e| self.classify(e))?;
        reply(&output)
    }

    fn call_invoke(&mut self, input: &[u8]) -> wasmtime::Result<Vec<u8>> {
        let len = i32::try_from(input.len())?;
        let ptr = self.alloc.call(&mut self.store, len)?;
        if ptr == 0 {
            wasmtime::bail!("pw_alloc({len}) returned NULL");
        }
        self.memory
            .write(&mut self.store, ptr as u32 as usize, input)?;
        let packed = self.invoke.call(&mut self.store, (ptr, len));
        // The host owns the input buffer (see docs/runtime.md, host section).
        let freed = self.free.call(&mut self.store, ptr);
        let packed = packed?;
        freed?;
        let (out_ptr, out_len) = ((packed >> 32) as u32 as usize, packed as u32 as usize);
        let out = self
            .memory
            .data(&self.store)
            .get(out_ptr..out_ptr.saturating_add(out_len))
            .ok_or_else(|| {
                wasmtime::format_err!("pw_invoke returned {out_ptr}+{out_len}, outside memory")
            })?
            .to_vec();
        self.free.call(&mut self.store, out_ptr as i32)?;
        Ok(out)
    }

    /// Turns a wasmtime error into the matching [`InvokeError`].
    pub(crate) fn classify(&self, e: wasmtime::Error) -> InvokeError {
        let data = self.store.data();
        if let Some((kind, limit)) = data.deadline.exceeded {
            return InvokeError::Timeout { kind, limit };
        }
        if data.memory.hit {
            return InvokeError::MemoryLimit((data.memory.limit >> 20) as u64);
        }
        InvokeError::Trap(format!("{e:#}"))
    }

    /// Calls a `() -> ()` export (used for `_initialize`, `wizer-initialize`).
    pub(crate) fn call_void(&mut self, name: &str) -> Result<(), InvokeError> {
        let f = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, name)
            .map_err(|e| InvokeError::Trap(format!("the guest has no `{name}` export: {e}")))?;
        self.arm();
        let r = f.call(&mut self.store, ());
        self.store.data().flush_logs();
        r.map_err(|e| self.classify(e))
    }

    /// Reads the JSON written by `pw_init_status`.
    pub(crate) fn init_status(&mut self) -> Result<Value, InvokeError> {
        let f = self
            .instance
            .get_typed_func::<i32, i32>(&mut self.store, "pw_init_status")
            .map_err(|e| {
                InvokeError::Trap(format!("the guest has no `pw_init_status` export: {e}"))
            })?;
        let slot = self
            .alloc
            .call(&mut self.store, 4)
            .map_err(|e| self.classify(e))?;
        let ptr = f
            .call(&mut self.store, slot)
            .map_err(|e| self.classify(e))?;
        let mut len = [0u8; 4];
        self.memory
            .read(&self.store, slot as u32 as usize, &mut len)
            .map_err(|e| InvokeError::Trap(e.to_string()))?;
        let _ = self.free.call(&mut self.store, slot);
        let len = u32::from_le_bytes(len) as usize;
        let bytes = self
            .memory
            .data(&self.store)
            .get(ptr as u32 as usize..(ptr as u32 as usize).saturating_add(len))
            .ok_or_else(|| InvokeError::Trap("pw_init_status points outside memory".into()))?;
        serde_json::from_slice(bytes)
            .map_err(|e| InvokeError::Trap(format!("pw_init_status is not JSON: {e}")))
    }
}

/// Decodes a reply envelope; `ok: false` becomes [`InvokeError::Python`].
pub(crate) fn reply(output: &[u8]) -> Result<(Value, Vec<u8>), InvokeError> {
    let (header, body) = envelope::decode(output)
        .map_err(|e| InvokeError::Trap(format!("bad reply from the guest: {e}")))?;
    if header.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok((header, body));
    }
    let error = header.get("error").cloned().unwrap_or(Value::Null);
    let error: PythonError = serde_json::from_value(error).unwrap_or_else(|_| PythonError {
        r#type: "RuntimeError".into(),
        message: format!("the guest replied without an error description: {header}"),
        traceback: String::new(),
    });
    Err(InvokeError::Python(error))
}
