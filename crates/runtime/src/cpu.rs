//! CPU time of the calling thread: what a figure meant to match Cloudflare's
//! CPU-based startup limits is measured in. Guest code runs on the thread
//! that calls into wasmtime, and waits (`time.sleep`, host calls) block that
//! thread without using CPU, so this counts neither waiting nor the time a
//! busy machine keeps the thread descheduled.

use std::time::Duration;

/// CPU time the calling thread has used so far, or `None` where the platform
/// has no per-thread CPU clock.
pub fn thread_cpu_time() -> Option<Duration> {
    imp::now()
}

/// Runs `f` and returns its result with the CPU time the calling thread spent
/// in it (`None` where there is no per-thread CPU clock).
pub fn cpu_timed<T>(f: impl FnOnce() -> T) -> (T, Option<Duration>) {
    let before = thread_cpu_time();
    let out = f();
    let spent = match (before, thread_cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    (out, spent)
}

#[cfg(unix)]
mod imp {
    use std::time::Duration;

    pub(super) fn now() -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call's duration.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc != 0 {
            return None;
        }
        Some(Duration::new(
            u64::try_from(ts.tv_sec).ok()?,
            u32::try_from(ts.tv_nsec).ok()?,
        ))
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn now() -> Option<std::time::Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn busy_work_counts_and_sleeping_does_not() {
        let (_, busy) = cpu_timed(|| {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(150) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        let (_, slept) = cpu_timed(|| std::thread::sleep(Duration::from_millis(150)));
        let (busy, slept) = (busy.expect("clock"), slept.expect("clock"));
        // Busy work is CPU (a loaded machine can deschedule part of it).
        assert!(busy >= Duration::from_millis(20), "busy: {busy:?}");
        assert!(slept < Duration::from_millis(20), "slept: {slept:?}");
    }
}
