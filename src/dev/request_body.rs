//! Request bodies: Cloudflare's size limit (413 above it, from
//! `Content-Length` up front and while a chunked body is read), and bodies
//! past a few KiB left on the connection for the guest to pull with the
//! `request.read` host call, so a handler that ignores its body never has it
//! copied into the guest nor buffered on the host.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Body, Incoming};
use serde_json::Value;

/// Cloudflare's request body limit on the Free and Pro plans (100 MB).
pub const DEFAULT_LIMIT: u64 = 100 << 20;
/// Environment variable overriding [`DEFAULT_LIMIT`] (bytes), e.g. to match
/// a Business (200 MB) or Enterprise (500 MB) zone.
pub use crate::env_vars::PYWRANGLER_DEV_MAX_REQUEST_BODY as LIMIT_ENV;
/// Bodies up to this size (by `Content-Length`) travel inside the event
/// envelope: cheaper than a host call per chunk.
const INLINE_MAX: u64 = 64 << 10;
/// How long reading the body may wait for a client that sends nothing.
const STALLED_CLIENT: Duration = Duration::from_secs(30);
/// After a 413, how much more of the body is read (and dropped) so the
/// client sees the response instead of a reset connection.
const DRAIN_AFTER_REJECT: u64 = 1 << 20;

/// The 413 page Cloudflare's edge sends (status and text as in production).
pub const TOO_LARGE_PAGE: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";

/// How a request's body reaches the guest.
pub enum Prepared {
    /// Read whole (small or empty): sent in the event envelope.
    Inline(Vec<u8>),
    /// Left on the connection: the guest pulls it.
    Pulled(Pull),
    /// Over the limit before anything was read (`Content-Length`).
    TooLarge,
}

/// Decide how to deliver `body`; `id` tells this request's reads apart.
pub async fn prepare(
    body: Incoming,
    headers: &HeaderMap,
    limit: u64,
    id: u64,
) -> Result<Prepared, String> {
    let length = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n > limit) {
        return Ok(Prepared::TooLarge);
    }
    if body.is_end_stream() {
        return Ok(Prepared::Inline(Vec::new()));
    }
    if length.is_some_and(|n| n <= INLINE_MAX) {
        return match tokio::time::timeout(STALLED_CLIENT, body.collect()).await {
            Ok(Ok(b)) => Ok(Prepared::Inline(b.to_bytes().to_vec())),
            Ok(Err(e)) => Err(format!("could not read the request body: {e}")),
            Err(_) => Err("the client stopped sending the request body".into()),
        };
    }
    Ok(Prepared::Pulled(Pull {
        body: Some(body),
        id,
        read: 0,
        limit,
        exceeded: Arc::new(AtomicBool::new(false)),
    }))
}

/// A body the guest reads chunk by chunk on the event's thread.
pub struct Pull {
    body: Option<Incoming>,
    id: u64,
    read: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl Pull {
    /// The request id the guest must name in `request.read`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Set once the body went past the limit (the reply becomes a 413).
    pub fn exceeded(&self) -> Arc<AtomicBool> {
        self.exceeded.clone()
    }

    /// The next chunk; `None` at the end.
    fn next(&mut self) -> Result<Option<Bytes>, String> {
        if self.exceeded.load(Ordering::SeqCst) {
            return Err(self.too_large());
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| "the request body can no longer be read".to_string())?;
        loop {
            let frame = rt
                .block_on(tokio::time::timeout(STALLED_CLIENT, body.frame()))
                .map_err(
                    |_| "Network connection lost (the client stopped sending the request body)",
                )?;
            let Some(frame) = frame else {
                self.body = None;
                return Ok(None);
            };
            let frame = frame.map_err(|e| format!("Network connection lost ({e})"))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            self.read += data.len() as u64;
            if self.read > self.limit {
                self.exceeded.store(true, Ordering::SeqCst);
                return Err(self.too_large());
            }
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }

    fn too_large(&self) -> String {
        format!(
            "Request entity too large: the body is over {} bytes (Cloudflare's limit; {LIMIT_ENV} changes it locally)",
            self.limit
        )
    }

    /// After the event: read (and drop) what the guest left unread, so the
    /// connection stays usable and the client sees the response rather
    /// than a reset. Bounded by the limit and by a stalled client.
    pub async fn drain(mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        let budget = if self.exceeded.load(Ordering::SeqCst) {
            DRAIN_AFTER_REJECT
        } else {
            self.limit.saturating_sub(self.read)
        };
        let mut drained = 0u64;
        while drained <= budget {
            match tokio::time::timeout(STALLED_CLIENT, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    drained += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                _ => return,
            }
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Pull>> = const { RefCell::new(None) };
}

/// Run `f` with `pull` answering this thread's `request.read` host calls;
/// returns what is left of it for [`Pull::drain`].
pub fn with_pull<T>(pull: Option<Pull>, f: impl FnOnce() -> T) -> (T, Option<Pull>) {
    let previous = CURRENT.with(|c| c.replace(pull));
    let r = f();
    let left = CURRENT.with(|c| c.replace(previous));
    (r, left)
}

/// Handle a `request.read` host call: `(done, chunk)`.
pub fn host_read(args: &Value) -> Result<(bool, Vec<u8>), String> {
    let id = args.get("id").and_then(Value::as_u64);
    CURRENT.with(|c| {
        let mut cur = c.borrow_mut();
        let pull = cur
            .as_mut()
            .filter(|p| Some(p.id) == id)
            .ok_or("the request body can only be read while its request is being handled")?;
        match pull.next()? {
            Some(chunk) => Ok((false, chunk.to_vec())),
            None => Ok((true, Vec::new())),
        }
    })
}
