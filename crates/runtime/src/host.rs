//! Per-store host state and the `pywrangler` imports (`host_call`,
//! `host_result`) through which Python reaches bindings, fetch and logs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmtime::{Caller, Extern, Linker, ResourceLimiter};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::envelope;
use crate::logs::{LineWriter, LogStream};

/// Implements the bindings (KV, D1, R2, DOs, queues, services) and outbound
/// `fetch` for an instance. Every guest `host_call` except `log` lands here;
/// the `op` table is in `docs/runtime-abi.md`.
pub trait HostHandler: Send + Sync {
    /// Handles one call: `header` is `{"v":1,"op":…,"binding":…,"args":{…}}`,
    /// `body` the raw bytes that travelled with it.
    fn call(&self, header: Value, body: Vec<u8>) -> HostReply;

    /// Like [`HostHandler::call`], with a handle on the calling instance for
    /// ops it serves itself (a Durable Object or service binding implemented
    /// by the same Worker): `guest.invoke` runs a nested event (the ABI allows
    /// re-entering `pw_invoke` during a host call). Defaults to `call`.
    fn call_reentrant(
        &self,
        header: Value,
        body: Vec<u8>,
        guest: &mut Reentry<'_, '_>,
    ) -> HostReply {
        let _ = guest;
        self.call(header, body)
    }
}

/// The instance that made the current host call; see
/// [`HostHandler::call_reentrant`].
pub struct Reentry<'a, 'b> {
    caller: &'a mut Caller<'b, HostState>,
}

impl Reentry<'_, '_> {
    /// When the calling event reaches its wall-clock limit: a host call that
    /// waits (an outbound fetch) should give up by then; the event fails with
    /// the wall-clock `Timeout` when the call returns past it.
    pub fn deadline(&self) -> Instant {
        self.caller.data().deadline.wall_end()
    }

    /// When the calling event's wall-clock limit runs out (None: too far
    /// to represent): work a host call does for it (a SQL query, say)
    /// should stop by then.
    pub fn wall_deadline(&self) -> Option<Instant> {
        let d = &self.caller.data().deadline;
        d.started.checked_add(d.wall_limit)
    }

    /// Runs one nested event envelope in the calling instance and returns
    /// the reply header and body (a Python error comes back as
    /// [`crate::InvokeError::Python`]).
    pub fn invoke(
        &mut self,
        header: &Value,
        body: &[u8],
    ) -> Result<(Value, Vec<u8>), crate::InvokeError> {
        let trap = |e: wasmtime::Error| crate::InvokeError::Trap(format!("{e:#}"));
        let func = |c: &mut Caller<'_, HostState>, name: &str| match c.get_export(name) {
            Some(Extern::Func(f)) => Ok(f),
            _ => Err(crate::InvokeError::Trap(format!(
                "the guest has no `{name}` export"
            ))),
        };
        let alloc = func(self.caller, "pw_alloc")?
            .typed::<i32, i32>(&*self.caller)
            .map_err(trap)?;
        let free = func(self.caller, "pw_free")?
            .typed::<i32, ()>(&*self.caller)
            .map_err(trap)?;
        let invoke = func(self.caller, "pw_invoke")?
            .typed::<(i32, i32), i64>(&*self.caller)
            .map_err(trap)?;
        let memory = guest_memory(self.caller).map_err(trap)?;
        let input = envelope::encode(header, body);
        let len =
            i32::try_from(input.len()).map_err(|e| crate::InvokeError::Trap(e.to_string()))?;
        let ptr = alloc.call(&mut *self.caller, len).map_err(trap)?;
        memory
            .write(&mut *self.caller, ptr as u32 as usize, &input)
            .map_err(|e| crate::InvokeError::Trap(e.to_string()))?;
        let packed = invoke.call(&mut *self.caller, (ptr, len));
        free.call(&mut *self.caller, ptr).map_err(trap)?;
        let packed = packed.map_err(trap)?;
        let (out_ptr, out_len) = ((packed >> 32) as u32 as usize, packed as u32 as usize);
        let out = memory
            .data(&*self.caller)
            .get(out_ptr..out_ptr.saturating_add(out_len))
            .ok_or_else(|| {
                crate::InvokeError::Trap("pw_invoke returned a range outside memory".into())
            })?
            .to_vec();
        free.call(&mut *self.caller, out_ptr as i32).map_err(trap)?;
        crate::session::reply(&out)
    }
}

/// The answer to a host call.
#[derive(Debug, Clone, PartialEq)]
pub enum HostReply {
    /// Success: a JSON value plus optional raw bytes.
    Ok {
        /// The reply's `value`.
        value: Value,
        /// Raw bytes (KV values, R2 bodies, fetch responses).
        body: Vec<u8>,
    },
    /// Failure, raised in Python as an exception of this type and message.
    Err {
        /// Exception type name.
        r#type: String,
        /// Exception message.
        message: String,
    },
}

impl HostReply {
    /// A successful reply without a body.
    pub fn ok(value: Value) -> Self {
        HostReply::Ok {
            value,
            body: Vec::new(),
        }
    }

    /// A successful reply with raw bytes.
    pub fn ok_with_body(value: Value, body: Vec<u8>) -> Self {
        HostReply::Ok { value, body }
    }

    /// A failed reply.
    pub fn error(r#type: impl Into<String>, message: impl Into<String>) -> Self {
        HostReply::Err {
            r#type: r#type.into(),
            message: message.into(),
        }
    }

    fn into_envelope(self) -> Vec<u8> {
        match self {
            HostReply::Ok { value, body } => {
                envelope::encode(&json!({"v": 1, "ok": true, "value": value}), &body)
            }
            HostReply::Err { r#type, message } => envelope::encode(
                &json!({"v": 1, "ok": false, "error": {"type": r#type, "message": message}}),
                &[],
            ),
        }
    }
}

/// A host call for the handler: the handler, the header and the body.
type PendingCall = (Arc<dyn HostHandler>, Value, Vec<u8>);

/// What the store is doing: taking a snapshot (I/O refused) or serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Snapshot,
    Serving,
}

/// Memory cap for one store; remembers that it was hit so the trap can be
/// reported as [`crate::InvokeError::MemoryLimit`].
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            wasmtime::bail!("memory limit of {} MiB exceeded", self.limit >> 20);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// CPU/wall accounting for the running event, checked on every epoch tick,
/// after every host call and by every WASI wait ([`crate::wait`]).
pub(crate) struct Deadline {
    pub(crate) started: Instant,
    /// Time blocked in host calls and WASI waits: wall time, not CPU time.
    pub(crate) waited: Duration,
    pub(crate) cpu_limit: Duration,
    pub(crate) wall_limit: Duration,
    pub(crate) exceeded: Option<(&'static str, Duration)>,
}

impl Deadline {
    pub(crate) fn new(cpu_limit: Duration, wall_limit: Duration) -> Self {
        Deadline {
            started: Instant::now(),
            waited: Duration::ZERO,
            cpu_limit,
            wall_limit,
            exceeded: None,
        }
    }

    pub(crate) fn restart(&mut self) {
        self.started = Instant::now();
        self.waited = Duration::ZERO;
        self.exceeded = None;
    }

    /// When the running event reaches its wall-clock limit.
    pub(crate) fn wall_end(&self) -> Instant {
        // A limit too far to represent means "a year from now", never a panic.
        self.started
            .checked_add(self.wall_limit)
            .unwrap_or_else(|| self.started + Duration::from_secs(365 * 24 * 3600))
    }

    /// Records that the wall-clock limit was reached.
    pub(crate) fn exceed_wall(&mut self) {
        self.exceeded = Some(("wall-clock", self.wall_limit));
    }

    /// Guest (CPU) time is wall time minus time spent waiting.
    pub(crate) fn check(&mut self) -> bool {
        let wall = self.started.elapsed();
        if wall > self.wall_limit {
            self.exceed_wall();
        } else if wall.saturating_sub(self.waited) > self.cpu_limit {
            self.exceeded = Some(("CPU", self.cpu_limit));
        }
        self.exceeded.is_none()
    }
}

/// Everything a store carries.
pub(crate) struct HostState {
    pub(crate) wasi: WasiP1Ctx,
    pub(crate) memory: MemoryCap,
    pub(crate) deadline: Deadline,
    pub(crate) phase: Phase,
    pub(crate) handler: Option<Arc<dyn HostHandler>>,
    pub(crate) stdout: LineWriter,
    pub(crate) stderr: LineWriter,
    pub(crate) sink: crate::logs::SharedSink,
    pub(crate) pending_reply: Vec<u8>,
    /// The guest's monotonic clock (for absolute WASI clock waits).
    pub(crate) clock: crate::wait::GuestClock,
    /// wasmtime-wasi's `poll_oneoff`, for waits on fds.
    pub(crate) inner_poll: Option<wasmtime::Func>,
    /// The private `/tmp`, removed when the store is dropped.
    pub(crate) _tmp: Option<tempfile::TempDir>,
}

impl HostState {
    pub(crate) fn flush_logs(&self) {
        self.stdout.flush_partial();
        self.stderr.flush_partial();
    }

    /// Handles what the runtime answers itself (bad envelopes, `log`, the
    /// snapshot-time refusal); otherwise returns the call for the handler.
    fn triage(&mut self, request: &[u8]) -> Result<PendingCall, Vec<u8>> {
        let (header, body) = match envelope::decode(request) {
            Ok(parts) => parts,
            Err(e) => {
                return Err(
                    HostReply::error("RuntimeError", format!("bad host call: {e}")).into_envelope(),
                );
            }
        };
        let op = header
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if op == "log" {
            let args = header.get("args").cloned().unwrap_or(Value::Null);
            let level = args
                .get("level")
                .and_then(Value::as_str)
                .unwrap_or("log")
                .to_string();
            let message = args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.flush_logs();
            let sink = self.stdout.sink();
            for line in message.split('\n') {
                sink(crate::LogLine {
                    stream: LogStream::Console(level.clone()),
                    text: line.to_string(),
                });
            }
            return Err(HostReply::ok(Value::Null).into_envelope());
        }
        if self.phase == Phase::Snapshot {
            return Err(HostReply::error(
                "RuntimeError",
                "Disallowed operation called within global scope",
            )
            .into_envelope());
        }
        match self.handler.clone() {
            Some(handler) => Ok((handler, header, body)),
            None => Err(
                HostReply::error("RuntimeError", format!("no host handler for `{op}`"))
                    .into_envelope(),
            ),
        }
    }
}

fn guest_memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => wasmtime::bail!("guest has no exported `memory`"),
    }
}

/// Adds WASI preview 1 and the `pywrangler` imports to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |s: &mut HostState| &mut s.wasi)?;
    crate::wait::add_to_linker(linker)?;
    linker.func_wrap(
        "pywrangler",
        "host_call",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let memory = guest_memory(&mut caller)?;
            let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
            let request = memory
                .data(&caller)
                .get(ptr..ptr.saturating_add(len))
                .ok_or_else(|| {
                    wasmtime::format_err!("host_call: range {ptr}+{len} is outside guest memory")
                })?
                .to_vec();
            let reply = match caller.data_mut().triage(&request) {
                Err(reply) => reply,
                Ok((handler, header, body)) => {
                    let started = Instant::now();
                    let reply = handler.call_reentrant(
                        header,
                        body,
                        &mut Reentry {
                            caller: &mut caller,
                        },
                    );
                    let deadline = &mut caller.data_mut().deadline;
                    deadline.waited += started.elapsed();
                    // A host call that ran into the wall-clock limit (a
                    // fetch cut off at the deadline) ends the event now,
                    // before Python can catch the failed call.
                    if Instant::now() >= deadline.wall_end() {
                        deadline.exceed_wall();
                        wasmtime::bail!(
                            "the event reached its wall-clock limit during a host call"
                        );
                    }
                    reply.into_envelope()
                }
            };
            let len = i32::try_from(reply.len())?;
            caller.data_mut().pending_reply = reply;
            Ok(len)
        },
    )?;
    linker.func_wrap(
        "pywrangler",
        "host_result",
        |mut caller: Caller<'_, HostState>, dst: i32| -> wasmtime::Result<()> {
            let memory = guest_memory(&mut caller)?;
            let reply = std::mem::take(&mut caller.data_mut().pending_reply);
            memory
                .write(&mut caller, dst as u32 as usize, &reply)
                .map_err(|_| {
                    wasmtime::format_err!("host_result: destination {dst} is outside guest memory")
                })?;
            Ok(())
        },
    )?;
    Ok(())
}
