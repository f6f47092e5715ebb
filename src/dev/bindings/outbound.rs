//! Outbound `fetch` from the worker, performed by the host with reqwest's
//! blocking client (instances run on their own OS threads, never inside the
//! async server, so blocking here is fine). A fetch asked to `stream` leaves
//! its body on the host for `fetch.read` to pull chunk by chunk (the sync
//! HTTP clients' `stream=True`); `timeout_ms` bounds one request.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::Reply;
use super::error::{OpError, OpResult};

/// Most response bodies left open for `fetch.read` at once; past it the
/// oldest is dropped (a Worker that never finishes reading cannot hold
/// connections forever).
const MAX_OPEN_STREAMS: usize = 64;
/// Largest chunk one `fetch.read` returns.
const READ_CHUNK: usize = 64 * 1024;

/// A body left on the host for `fetch.read`, with the bytes its
/// `content-length` says are still to come (when it says).
struct Streamed {
    resp: reqwest::blocking::Response,
    left: Option<u64>,
}

/// Two clients, since the redirect policy is fixed per client, and the
/// bodies being streamed.
pub struct Outbound {
    follow: Client,
    manual: Client,
    streams: Mutex<BTreeMap<u64, Streamed>>,
    next_stream: AtomicU64,
}

impl Outbound {
    /// Build the clients (no request is made).
    pub fn new() -> OpResult<Outbound> {
        let build = |policy: Policy| {
            Client::builder()
                .redirect(policy)
                .timeout(Duration::from_secs(60))
                .user_agent(concat!("pywrangler-rs/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| OpError::failed(format!("cannot create the HTTP client: {e}")))
        };
        Ok(Outbound {
            follow: build(Policy::limited(20))?,
            manual: build(Policy::none())?,
            streams: Mutex::new(BTreeMap::new()),
            next_stream: AtomicU64::new(1),
        })
    }

    /// Dispatch `fetch` (`rest` empty), `fetch.read` and `fetch.close`.
    pub fn handle(
        &self,
        rest: &str,
        args: &Value,
        body: Vec<u8>,
        deadline: Option<Instant>,
    ) -> OpResult<Reply> {
        match rest {
            "" => self.fetch(args, body, deadline),
            "read" => self.read(args),
            "close" => {
                let id = args.get("id").and_then(Value::as_u64).unwrap_or(0);
                self.lock_streams().remove(&id);
                Ok(Reply::null())
            }
            other => Err(OpError::UnknownOp(format!("fetch.{other}"))),
        }
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Streamed>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next chunk (up to 64 KiB) of a streamed body: `{"done"}` + bytes
    /// (`done` comes with the last bytes when the length was announced).
    fn read(&self, args: &Value) -> OpResult<Reply> {
        let id = args
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| OpError::invalid("fetch.read needs `id`"))?;
        // Taken out while reading, so other streams are not held up.
        let mut body = self
            .lock_streams()
            .remove(&id)
            .ok_or_else(|| OpError::failed("the response body was already read or closed"))?;
        let mut chunk = vec![0u8; READ_CHUNK];
        let n = body.resp.read(&mut chunk).map_err(|e| {
            if is_timeout(&e) {
                OpError::Timeout("reading the response body timed out".into())
            } else {
                OpError::failed(format!("reading the response body failed: {e}"))
            }
        })?;
        chunk.truncate(n);
        if let Some(left) = body.left.as_mut() {
            *left = left.saturating_sub(n as u64);
        }
        let done = n == 0 || body.left == Some(0);
        if !done {
            self.lock_streams().insert(id, body);
        }
        Ok(Reply::with_body(json!({ "done": done }), chunk))
    }

    /// Perform one request: `{"method","url","headers","redirect"}` + body,
    /// abandoned at `deadline` (the calling event's wall-clock limit).
    pub fn fetch(&self, args: &Value, body: Vec<u8>, deadline: Option<Instant>) -> OpResult<Reply> {
        let url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::invalid("fetch needs a URL"))?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| OpError::invalid(format!("Fetch API cannot load: {url} ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OpError::invalid(format!(
                "Fetch API cannot load: {url} (only http and https are supported)"
            )));
        }
        let method = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| OpError::invalid(format!("invalid HTTP method `{method}`")))?;
        let client = match args.get("redirect").and_then(Value::as_str) {
            Some("manual") => &self.manual,
            _ => &self.follow,
        };
        let mut req = client.request(method, parsed);
        // The caller's own timeout (a sync HTTP client's) and the event's
        // wall-clock limit: whichever comes first.
        let timeout = args
            .get("timeout_ms")
            .and_then(Value::as_f64)
            .filter(|ms| ms.is_finite())
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match (timeout, left) {
            (Some(t), Some(l)) => req = req.timeout(t.min(l)),
            (Some(t), None) => req = req.timeout(t),
            (None, Some(l)) => req = req.timeout(l),
            (None, None) => {}
        }
        if let Some(headers) = args.get("headers").and_then(Value::as_array) {
            for pair in headers {
                if let (Some(k), Some(v)) = (
                    pair.get(0).and_then(Value::as_str),
                    pair.get(1).and_then(Value::as_str),
                ) {
                    req = req.header(k, v);
                }
            }
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        let resp = req.send().map_err(|e| {
            if e.is_timeout() && timeout.is_some() {
                OpError::Timeout(format!("fetch to {url} timed out"))
            } else {
                OpError::failed(format!("fetch to {url} failed: {e}"))
            }
        })?;
        let status = resp.status();
        let headers: Vec<Value> = resp
            .headers()
            .iter()
            .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        let final_url = resp.url().to_string();
        let head = json!({
            "status": status.as_u16(),
            "status_text": status.canonical_reason().unwrap_or(""),
            "headers": headers,
            "url": final_url,
        });
        if args.get("stream").and_then(Value::as_bool) == Some(true) {
            let left = resp.content_length();
            if left == Some(0) {
                // Nothing to read: no stream to leave open.
                return Ok(Reply::value(head));
            }
            let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
            let mut streams = self.lock_streams();
            while streams.len() >= MAX_OPEN_STREAMS {
                streams.pop_first();
            }
            streams.insert(id, Streamed { resp, left });
            let mut head = head;
            head["stream"] = json!(id);
            return Ok(Reply::value(head));
        }
        let bytes = resp.bytes().map_err(|e| {
            if e.is_timeout() && timeout.is_some() {
                OpError::Timeout(format!("reading the response from {url} timed out"))
            } else {
                OpError::failed(format!("reading the response from {url} failed: {e}"))
            }
        })?;
        Ok(Reply::with_body(head, bytes.to_vec()))
    }
}

/// Whether an I/O error from a response body is reqwest's timeout.
fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut source = e.get_ref().map(|s| s as &(dyn std::error::Error + 'static));
    while let Some(s) = source {
        if s.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        source = s.source();
    }
    false
}
