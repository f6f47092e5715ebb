//! Waiting inside the guest under the event's deadline. `time.sleep` and the
//! shim's event loop block in WASI `poll_oneoff`, where no epoch tick can
//! interrupt them; this replacement never waits past the wall-clock limit
//! (the event then fails with the usual `Timeout`) and books the time slept
//! as waiting, not CPU, as Cloudflare counts it.

use std::time::{Duration, Instant, SystemTime};

use wasmtime::{Caller, Extern, Func, Linker, Memory};

use crate::host::HostState;

const WASI: &str = "wasi_snapshot_preview1";
/// Where wasmtime-wasi's own `poll_oneoff` stays reachable (fd subscriptions).
const INNER: &str = "pywrangler-wasi-inner";

/// Sizes and offsets of the p1 `subscription` and `event` records.
const SUB_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const TAG_CLOCK: u8 = 0;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const ABSTIME: u16 = 1;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

/// The guest's monotonic clock: nanoseconds since the store was created
/// (as wasmtime-wasi's default), with the origin kept so absolute clock
/// subscriptions can be turned into host instants.
#[derive(Clone, Copy)]
pub(crate) struct GuestClock {
    pub(crate) origin: Instant,
}

impl wasmtime_wasi::HostMonotonicClock for GuestClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Replaces WASI's `poll_oneoff` in `linker` (which already holds the
/// wasmtime-wasi one, kept under another name for fd subscriptions).
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.alias(WASI, "poll_oneoff", INNER, "poll_oneoff")?;
    linker.allow_shadowing(true);
    linker.func_wrap(WASI, "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// wasmtime-wasi's `poll_oneoff` bound to `store`, for [`HostState::inner_poll`].
pub(crate) fn inner_poll(
    linker: &Linker<HostState>,
    store: &mut wasmtime::Store<HostState>,
) -> wasmtime::Result<Func> {
    match linker.get(store, INNER, "poll_oneoff")? {
        Extern::Func(f) => Ok(f),
        _ => wasmtime::bail!("WASI's poll_oneoff is not a function"),
    }
}

/// One clock subscription: its userdata and when it fires.
struct Sub {
    userdata: u64,
    fires: Instant,
}

fn poll_oneoff(
    mut caller: Caller<'_, HostState>,
    subs: i32,
    events: i32,
    nsubs: i32,
    nevents: i32,
) -> wasmtime::Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("guest has no exported `memory`");
    };
    let origin = caller.data().clock.origin;
    let parsed = match parse(memory.data(&caller), subs, nsubs, origin) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            // An fd subscription: files and stdio are always ready, so
            // wasmtime-wasi's implementation answers without blocking.
            let Some(inner) = caller.data().inner_poll else {
                wasmtime::bail!("poll_oneoff called before the store was set up");
            };
            let inner = inner.typed::<(i32, i32, i32, i32), i32>(&caller)?;
            return inner.call(&mut caller, (subs, events, nsubs, nevents));
        }
        Err(errno) => return Ok(errno),
    };
    let Some(first) = parsed.iter().map(|s| s.fires).min() else {
        return Ok(ERRNO_INVAL);
    };
    let wall_end = caller.data().deadline.wall_end();
    let started = Instant::now();
    let wake = first.min(wall_end);
    if let Some(d) = wake.checked_duration_since(started) {
        std::thread::sleep(d);
    }
    let deadline = &mut caller.data_mut().deadline;
    deadline.waited += started.elapsed();
    if first > wall_end {
        deadline.exceed_wall();
        wasmtime::bail!("the event reached its wall-clock limit while the guest was waiting");
    }
    let now = Instant::now();
    let fired: Vec<u64> = parsed
        .iter()
        .filter(|s| s.fires <= now)
        .map(|s| s.userdata)
        .collect();
    write_events(&memory, &mut caller, events, nevents, &fired)
}

/// Reads the subscriptions: `Ok(None)` when any waits on an fd, an errno
/// for a malformed request.
fn parse(mem: &[u8], subs: i32, nsubs: i32, origin: Instant) -> Result<Option<Vec<Sub>>, i32> {
    let n = usize::try_from(nsubs).map_err(|_| ERRNO_INVAL)?;
    if n == 0 {
        return Err(ERRNO_INVAL);
    }
    let start = subs as u32 as usize;
    let bytes = mem
        .get(start..start.saturating_add(n.saturating_mul(SUB_SIZE)))
        .ok_or(ERRNO_FAULT)?;
    let now = Instant::now();
    let mut out = Vec::with_capacity(n);
    for sub in bytes.chunks_exact(SUB_SIZE) {
        let u64_at = |o: usize| u64::from_le_bytes(sub[o..o + 8].try_into().unwrap_or_default());
        if sub[8] != TAG_CLOCK {
            return Ok(None);
        }
        let id = u32::from_le_bytes(sub[16..20].try_into().unwrap_or_default());
        let timeout = u64_at(24);
        let flags = u16::from_le_bytes(sub[40..42].try_into().unwrap_or_default());
        let fires = if flags & ABSTIME == 0 {
            match id {
                CLOCK_REALTIME | CLOCK_MONOTONIC => now + Duration::from_nanos(timeout),
                _ => return Err(ERRNO_INVAL),
            }
        } else {
            match id {
                CLOCK_MONOTONIC => origin + Duration::from_nanos(timeout),
                CLOCK_REALTIME => {
                    let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(timeout);
                    now + at.duration_since(SystemTime::now()).unwrap_or_default()
                }
                _ => return Err(ERRNO_INVAL),
            }
        };
        out.push(Sub {
            userdata: u64_at(0),
            fires,
        });
    }
    Ok(Some(out))
}

/// Writes one clock event per fired subscription and their count.
fn write_events(
    memory: &Memory,
    caller: &mut Caller<'_, HostState>,
    events: i32,
    nevents: i32,
    fired: &[u64],
) -> wasmtime::Result<i32> {
    let mut buf = vec![0u8; fired.len() * EVENT_SIZE];
    for (event, userdata) in buf.chunks_exact_mut(EVENT_SIZE).zip(fired) {
        // error 0 (success) and type 0 (clock): the rest stays zero.
        event[..8].copy_from_slice(&userdata.to_le_bytes());
    }
    let count = u32::try_from(fired.len())?.to_le_bytes();
    if memory
        .write(&mut *caller, events as u32 as usize, &buf)
        .and_then(|()| memory.write(&mut *caller, nevents as u32 as usize, &count))
        .is_err()
    {
        return Ok(ERRNO_FAULT);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_sub(userdata: u64, id: u32, timeout: u64, flags: u16) -> [u8; SUB_SIZE] {
        let mut s = [0u8; SUB_SIZE];
        s[..8].copy_from_slice(&userdata.to_le_bytes());
        s[8] = TAG_CLOCK;
        s[16..20].copy_from_slice(&id.to_le_bytes());
        s[24..32].copy_from_slice(&timeout.to_le_bytes());
        s[40..42].copy_from_slice(&flags.to_le_bytes());
        s
    }

    #[test]
    fn clock_subscriptions_become_instants() {
        let origin = Instant::now() - Duration::from_secs(10);
        let mut mem = vec![0u8; 16];
        mem.extend(clock_sub(7, CLOCK_MONOTONIC, 2_000_000_000, 0));
        mem.extend(clock_sub(8, CLOCK_MONOTONIC, 11_000_000_000, ABSTIME));
        let before = Instant::now();
        let subs = parse(&mem, 16, 2, origin)
            .expect("valid")
            .expect("clocks only");
        assert_eq!(subs[0].userdata, 7);
        let rel = subs[0].fires - before;
        assert!(rel >= Duration::from_secs(2) && rel < Duration::from_secs(3));
        // Absolute: 11 s after an origin 10 s ago is about 1 s from now.
        assert_eq!(subs[1].fires, origin + Duration::from_secs(11));
    }

    #[test]
    fn fd_subscriptions_and_bad_requests() {
        let mut mem = clock_sub(1, CLOCK_MONOTONIC, 5, 0).to_vec();
        let mut fd = [0u8; SUB_SIZE];
        fd[8] = 1;
        mem.extend(fd);
        let now = Instant::now();
        assert!(matches!(parse(&mem, 0, 2, now), Ok(None)));
        assert_eq!(parse(&mem, 0, 0, now).err(), Some(ERRNO_INVAL));
        assert_eq!(parse(&mem, 0, 3, now).err(), Some(ERRNO_FAULT));
        let cputime = clock_sub(1, 2, 5, 0);
        assert_eq!(parse(&cputime, 0, 1, now).err(), Some(ERRNO_INVAL));
    }
}
