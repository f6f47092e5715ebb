//! Streamed responses: the guest's `response.start` / `response.write` host
//! calls, made on the blocking thread running a top-level `fetch` event, feed
//! a bounded channel that the HTTP server turns into a chunked body. Events
//! nested in that one (Durable Object / service `fetch` through stubs) are
//! never asked to stream, so their replies stay buffered.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Chunks buffered between the guest and a slow client before `write` blocks.
const CHANNEL_CHUNKS: usize = 8;
/// How long a write may wait for a client that reads nothing.
const STALLED_CLIENT: std::time::Duration = std::time::Duration::from_secs(60);

/// Status and headers sent by `response.start`.
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
}

/// The guest-facing end, installed on the event's thread.
pub struct Sink {
    head: Option<oneshot::Sender<Head>>,
    chunks: mpsc::Sender<Result<Bytes, std::io::Error>>,
    gone: Arc<AtomicBool>,
}

/// The server-facing end.
pub struct Source {
    /// Resolves when the guest starts the response.
    pub head: oneshot::Receiver<Head>,
    /// The body, for hyper.
    pub body: ChannelBody,
    /// Set when the client went away mid-stream.
    pub gone: Arc<AtomicBool>,
    /// Sends a terminal error into the body (an exception after the start).
    pub abort: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// A new linked (sink, source) pair.
pub fn channel() -> (Sink, Source) {
    let (head_tx, head_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let gone = Arc::new(AtomicBool::new(false));
    (
        Sink {
            head: Some(head_tx),
            chunks: tx.clone(),
            gone: gone.clone(),
        },
        Source {
            head: head_rx,
            body: ChannelBody { rx },
            gone,
            abort: tx,
        },
    )
}

thread_local! {
    static CURRENT: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Run `f` with `sink` receiving this thread's `response.*` host calls.
pub fn with_sink<T>(sink: Sink, f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| *c.borrow_mut() = Some(sink));
    let r = f();
    CURRENT.with(|c| c.borrow_mut().take());
    r
}

/// Handle a `response.start` or `response.write` host call.
pub fn host_op(op: &str, args: &Value, body: Vec<u8>) -> Result<(), String> {
    CURRENT.with(|c| {
        let mut cur = c.borrow_mut();
        let sink = cur
            .as_mut()
            .ok_or_else(|| format!("{op}: this event does not stream its response"))?;
        match op {
            "response.start" => {
                let head = sink
                    .head
                    .take()
                    .ok_or("response.start: the response was already started")?;
                let (status, headers) = pywrangler_runtime::status_and_headers(args);
                head.send(Head { status, headers }).map_err(|_| {
                    sink.gone.store(true, Ordering::SeqCst);
                    "Network connection lost (the client disconnected)".to_string()
                })
            }
            "response.write" => {
                if sink.head.is_some() {
                    return Err("response.write before response.start".into());
                }
                if body.is_empty() {
                    return Ok(());
                }
                let send = sink.chunks.send(Ok(Bytes::from(body)));
                // Backpressure: wait while the client is slow, but not
                // forever (a stalled client must not pin the instance).
                let sent = match tokio::runtime::Handle::try_current() {
                    Ok(rt) => rt
                        .block_on(tokio::time::timeout(STALLED_CLIENT, send))
                        .map_err(|_| ())
                        .and_then(|r| r.map_err(|_| ())),
                    Err(_) => Err(()),
                };
                sent.map_err(|_| {
                    sink.gone.store(true, Ordering::SeqCst);
                    "Network connection lost (the client disconnected or stopped reading)"
                        .to_string()
                })
            }
            _ => Err(format!("unknown op {op}")),
        }
    })
}

/// A response body fed by the guest through a bounded channel.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}
