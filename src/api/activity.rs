//! Progress of one API request: every upload chunk taken by the connection
//! and every response chunk received counts, so the client's watchdog can
//! tell a stalled request from a slow one.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

/// Upload chunk size: progress is seen at least this often.
const CHUNK: usize = 64 << 10;

/// Progress of one attempt, shared with its upload body and its watchdog.
#[derive(Clone)]
pub struct Activity(Arc<ActivityState>);

struct ActivityState {
    start: Instant,
    /// Milliseconds after `start` of the last progress.
    last_ms: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    /// HTTP status + 1 once the response head arrived, else 0.
    status: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Activity {
        Activity(Arc::new(ActivityState {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            status: AtomicU64::new(0),
        }))
    }

    pub(super) fn touch(&self) {
        let now = self.0.start.elapsed().as_millis() as u64;
        self.0.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    pub(super) fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed));
        self.0.start.elapsed().saturating_sub(last)
    }

    pub(super) fn responded(&self, status: u16) {
        self.0
            .status
            .store(u64::from(status) + 1, Ordering::Relaxed);
        self.touch();
    }

    pub(super) fn got(&self, n: usize) {
        self.0.received.fetch_add(n as u64, Ordering::Relaxed);
        self.touch();
    }

    pub(super) fn status(&self) -> Option<u16> {
        match self.0.status.load(Ordering::Relaxed) {
            0 => None,
            s => u16::try_from(s - 1).ok(),
        }
    }

    pub(super) fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    pub(super) fn received(&self) -> u64 {
        self.0.received.load(Ordering::Relaxed)
    }

    /// A request body streaming `data` in chunks; each chunk taken by the
    /// connection counts as progress and is reported to `on_chunk`.
    pub fn body(
        &self,
        data: Arc<[u8]>,
        on_chunk: impl Fn(u64) + Send + Sync + 'static,
    ) -> reqwest::Body {
        reqwest::Body::wrap(TrackedBody {
            data,
            pos: 0,
            activity: self.clone(),
            on_chunk: Box::new(on_chunk),
        })
    }
}

/// The upload side of [`Activity`].
struct TrackedBody {
    data: Arc<[u8]>,
    pos: usize,
    activity: Activity,
    on_chunk: Box<dyn Fn(u64) + Send + Sync>,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.pos >= this.data.len() {
            return Poll::Ready(None);
        }
        let end = (this.pos + CHUNK).min(this.data.len());
        let chunk = Bytes::copy_from_slice(&this.data[this.pos..end]);
        let n = (end - this.pos) as u64;
        this.pos = end;
        this.activity.0.sent.fetch_add(n, Ordering::Relaxed);
        this.activity.touch();
        (this.on_chunk)(n);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.data.len() - self.pos) as u64)
    }
}
