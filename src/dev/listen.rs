//! The accept loop and connection lifecycle of `dev`: per-connection
//! timeouts, a bounded back-off when accepting fails (e.g. out of file
//! descriptors), and graceful shutdown like `wasmtime serve`: stop accepting,
//! let in-flight requests finish for a bounded time, then stop the guests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::builder::Shared;

/// A connection must deliver a request's headers within this time, and an
/// idle keep-alive connection is closed after it (hyper runs one timer for
/// both: it starts whenever the connection waits for a request head). Node's
/// http server keeps idle connections for 5 s too.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long in-flight requests may finish after Ctrl-C / SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The longest pause between accept attempts after repeated failures.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// At most one "accept failed" warning per this period.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(5);

/// Guest events running now (requests, queue batches, alarms, reload
/// builds): shutdown waits for them, within [`SHUTDOWN_GRACE`].
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// Counts one running guest event while alive.
pub struct Busy(());

impl Busy {
    /// Start counting.
    pub fn enter() -> Busy {
        BUSY.fetch_add(1, Ordering::SeqCst);
        Busy(())
    }

    /// Events running now.
    pub fn count() -> usize {
        BUSY.load(Ordering::SeqCst)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every request and guest event finished: the async runtime can shut down.
    Clean,
    /// Guests were still running when the grace period ended (or on a second
    /// Ctrl-C). The async runtime must outlive them (shutting it down under a
    /// sleeping guest panics in its timer): the process exits instead.
    Abandoned,
}

/// Serve connections from `listener` until Ctrl-C / SIGTERM, then shut down
/// gracefully. `background` tasks are stopped when shutdown starts.
pub async fn serve_until_signal(
    listener: TcpListener,
    shared: Arc<Shared>,
    background: Vec<tokio::task::JoinHandle<()>>,
) -> Stopped {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut backoff = AcceptBackoff::default();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    backoff.succeeded();
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, remote, shared.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    if let Some(line) = backoff.failed(&e, Instant::now()) {
                        crate::printer::warn(line);
                    }
                    tokio::time::sleep(backoff.delay()).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    crate::printer::info("Shutting down local server.");
    drop(listener);
    drop(stop_rx);
    for task in background {
        task.abort();
    }
    let _ = stop_tx.send(true);
    drain(stop_tx).await
}

/// Wait for open connections and running guests, at most [`SHUTDOWN_GRACE`]
/// and only until a second signal.
async fn drain(stop_tx: watch::Sender<bool>) -> Stopped {
    let settled = async {
        // Every connection task holds a receiver: all closed = all done.
        stop_tx.closed().await;
        while Busy::count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::pin!(settled);
    // Quick exit when nothing is running (the usual case).
    if tokio::time::timeout(Duration::from_millis(50), &mut settled)
        .await
        .is_ok()
    {
        return Stopped::Clean;
    }
    crate::printer::info(format!(
        "Waiting up to {}s for requests in flight (press Ctrl-C again to stop now)…",
        SHUTDOWN_GRACE.as_secs()
    ));
    tokio::select! {
        r = tokio::time::timeout(SHUTDOWN_GRACE, &mut settled) => {
            if r.is_ok() {
                return Stopped::Clean;
            }
        }
        _ = shutdown_signal() => {}
    }
    crate::printer::warn(format!(
        "stopped with {} Worker event(s) still running and {} connection(s) open",
        Busy::count(),
        stop_tx.receiver_count()
    ));
    Stopped::Abandoned
}

/// Serve one connection; on shutdown let its current request finish, then close.
async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| super::server::handle(shared.clone(), req, remote));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Pauses between failed accepts (doubling up to [`MAX_ACCEPT_BACKOFF`]) and
/// rate-limits their warnings, so running out of file descriptors neither
/// spins nor floods the terminal.
#[derive(Debug, Default)]
struct AcceptBackoff {
    delay: Duration,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl AcceptBackoff {
    fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
    }

    /// Record a failure; returns the warning to print, if one is due.
    fn failed(&mut self, e: &std::io::Error, now: Instant) -> Option<String> {
        self.delay = (self.delay * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_EVERY);
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last_log = Some(now);
        let more = std::mem::take(&mut self.suppressed);
        let hint = if is_out_of_fds(e) {
            OUT_OF_FDS_HINT
        } else {
            ""
        };
        Some(if more > 0 {
            format!("accept failed: {e}{hint}; {more} more since the last warning")
        } else {
            format!("accept failed: {e}{hint}")
        })
    }

    fn delay(&self) -> Duration {
        self.delay
    }
}

/// EMFILE / ENFILE (the same numbers on Linux and macOS).
#[cfg(unix)]
fn is_out_of_fds(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

#[cfg(unix)]
const OUT_OF_FDS_HINT: &str =
    " (too many open connections or files; raise the limit with `ulimit -n`)";

/// WSAEMFILE: Windows sockets have no per-process limit to raise.
#[cfg(windows)]
fn is_out_of_fds(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(10024)
}

#[cfg(windows)]
const OUT_OF_FDS_HINT: &str = " (too many open connections)";

#[cfg(not(any(unix, windows)))]
fn is_out_of_fds(_e: &std::io::Error) -> bool {
    false
}

#[cfg(not(any(unix, windows)))]
const OUT_OF_FDS_HINT: &str = "";

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_and_log_sparingly() {
        let mut b = AcceptBackoff::default();
        let emfile = std::io::Error::from_raw_os_error(if cfg!(windows) { 10024 } else { 24 });
        let t0 = Instant::now();
        let first = b.failed(&emfile, t0).expect("first failure is logged");
        assert!(first.contains(OUT_OF_FDS_HINT), "{first}");
        assert_eq!(b.delay(), Duration::from_millis(10));
        // A flood within the period prints nothing and the pause grows to the cap.
        for i in 1..100 {
            assert_eq!(b.failed(&emfile, t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(b.delay(), MAX_ACCEPT_BACKOFF);
        let next = b
            .failed(&emfile, t0 + ACCEPT_LOG_EVERY)
            .expect("logged again after the period");
        assert!(next.contains("99 more"), "{next}");
        b.succeeded();
        assert_eq!(b.delay(), Duration::ZERO);
    }
}
