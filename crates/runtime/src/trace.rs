//! Step timings on stderr when `PYWRANGLER_RUNTIME_TRACE` is set: how the
//! snapshot numbers in docs/benchmarks.md were broken down.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("PYWRANGLER_RUNTIME_TRACE").is_some_and(|v| !v.is_empty()))
}

/// Runs `f`, printing how long it took when tracing is on.
pub(crate) fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let out = f();
    eprintln!(
        "[pywrangler-runtime] {what}: {:.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    out
}

/// Prints the time from `new` to drop when tracing is on.
pub(crate) struct Timer(&'static str, Instant);

impl Timer {
    pub(crate) fn new(what: &'static str) -> Self {
        Timer(what, Instant::now())
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if enabled() {
            eprintln!(
                "[pywrangler-runtime] {}: {:.1} ms",
                self.0,
                self.1.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}
