//! HTTP plumbing: base URL, auth headers, the response envelope and bounded
//! retries with backoff on 429, 5xx, dropped connections and timeouts.
//!
//! A request is bounded by how long it goes without progress (no byte sent or
//! received), not by its total time: a large upload on a slow link still
//! finishes, while an API that never answers or stalls mid-body fails with a
//! "timeout" within about a minute. Server text is redacted and its control
//! bytes escaped before anything can print it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::Value;

use super::activity::Activity;
use super::auth::Credentials;
use super::error::{ApiError, ApiMessage};
use super::timeouts::Timeouts;
use crate::printer::{self, escape_control};

/// Attempts per request (the first try plus retries), within the retry budget.
const MAX_ATTEMPTS: u32 = 4;
/// First backoff; doubles on each retry.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait we honour from `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Largest response body read (API envelopes are far smaller).
const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// A request body; multipart bodies are rebuilt for each attempt, streaming
/// their files through the attempt's [`Activity`] so stalls are seen.
pub enum RequestBody<'a> {
    None,
    Json(Value),
    Multipart(&'a dyn Fn(&Activity) -> Form),
    /// Raw bytes with their Content-Type.
    Bytes(&'a str, &'a [u8]),
}

/// How a request is authenticated, and who retries it.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// The account credentials; the client retries transient failures.
    Account,
    /// A bearer token; one attempt, the caller retries.
    BearerOnce(&'a str),
}

/// An authenticated API client.
pub struct Client {
    base: String,
    creds: Credentials,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
    timeouts: Timeouts,
    /// Time spent so far on failed attempts and backoff (the retry budget's
    /// meter), shared by the threads that send through this client at once.
    lost: Mutex<Duration>,
}

impl Client {
    /// A client for `base` (e.g. `https://api.cloudflare.com/client/v4`).
    pub fn new(base: &str, creds: Credentials, timeouts: Timeouts) -> Result<Client, ApiError> {
        let setup_error = |e: String| ApiError {
            method: "-".into(),
            path: "-".into(),
            status: None,
            errors: vec![],
            detail: Some(e),
            attempts: 0,
            timed_out: false,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| setup_error(e.to_string()))?;
        // The connector's timers belong to this runtime.
        let _entered = rt.enter();
        let http = reqwest::Client::builder()
            .user_agent(concat!("pywrangler-rs/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeouts.connect)
            .build()
            .map_err(|e| setup_error(e.to_string()))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            creds,
            http,
            rt,
            timeouts,
            lost: Mutex::new(Duration::ZERO),
        })
    }

    /// `GET path` and return the envelope's `result`.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.send(Method::GET, path, query, &[], RequestBody::None)
    }

    /// Send a request and return the envelope's `result` (credentials
    /// redacted from every string), retrying transient failures.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
    ) -> Result<Value, ApiError> {
        self.send_auth(method, path, query, headers, body, Auth::Account)
    }

    /// One attempt of a request authenticated with `bearer` instead of the
    /// account credentials (the assets upload's session JWT: wrangler sends
    /// no API token along with it). No retry here: the assets upload retries
    /// each bucket itself, with wrangler's schedule (`deploy::assets::queue`),
    /// and its failures do not use up the retry budget of later requests.
    pub fn send_bearer_once(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: RequestBody<'_>,
    ) -> Result<Value, ApiError> {
        self.send_auth(method, path, query, &[], body, Auth::BearerOnce(bearer))
    }

    fn send_auth(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        auth: Auth<'_>,
    ) -> Result<Value, ApiError> {
        let max_attempts = match auth {
            Auth::Account => MAX_ATTEMPTS,
            Auth::BearerOnce(_) => 1,
        };
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let activity = Activity::new();
            let mut req = self.http.request(method.clone(), &url).query(query);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req = match &body {
                RequestBody::None => req,
                RequestBody::Json(v) => req
                    .header("Content-Type", "application/json")
                    .body(v.to_string()),
                RequestBody::Multipart(build) => req.multipart(build(&activity)),
                RequestBody::Bytes(content_type, data) => req
                    .header("Content-Type", *content_type)
                    .body(data.to_vec()),
            };
            req = match auth {
                Auth::BearerOnce(token) => req.bearer_auth(token),
                Auth::Account => self.creds.apply(req),
            };
            let outcome = self.rt.block_on(self.watch(req, &activity));
            let (retry, err) = match outcome {
                Ok(reply) => {
                    let status = reply.status;
                    printer::verbose(format!("{method} {path} -> HTTP {status}"));
                    let text = String::from_utf8_lossy(&reply.body);
                    match parse_envelope(status, &text) {
                        Ok(Success { result, messages }) => {
                            for m in messages {
                                printer::verbose(format!(
                                    "  API message [code {}] {}",
                                    m.code,
                                    self.clean(&m.message)
                                ));
                            }
                            return Ok(self.redact_value(result));
                        }
                        Err((errors, detail)) => {
                            let transient = status == 429 || status >= 500;
                            let err = self.error(
                                &method,
                                path,
                                Some(status),
                                errors,
                                detail,
                                attempt,
                                false,
                            );
                            let after = reply.retry_after.unwrap_or_default();
                            (transient.then_some(after), err)
                        }
                    }
                }
                Err(failure) => {
                    let detail = failure.describe(&self.timeouts);
                    printer::verbose(format!("{method} {path} -> {}", self.clean(&detail)));
                    let err = self.error(
                        &method,
                        path,
                        failure.status(),
                        vec![],
                        Some(detail),
                        attempt,
                        failure.is_timeout(),
                    );
                    (failure.is_transient().then_some(Duration::ZERO), err)
                }
            };
            if max_attempts == 1 {
                return Err(err);
            }
            self.add_lost(started.elapsed());
            match retry {
                Some(after)
                    if attempt < max_attempts
                        && self.add_lost(Duration::ZERO) < self.timeouts.retry_budget =>
                {
                    let backoff = BASE_BACKOFF * 2u32.pow(attempt - 1);
                    let wait = backoff.max(after.min(MAX_RETRY_AFTER));
                    printer::verbose(format!(
                        "retrying {method} {path} in {} ms (attempt {} of {MAX_ATTEMPTS})",
                        wait.as_millis(),
                        attempt + 1
                    ));
                    std::thread::sleep(wait);
                    self.add_lost(wait);
                }
                _ => return Err(err),
            }
        }
    }

    /// Add `d` to the retry budget's meter; returns the new total.
    fn add_lost(&self, d: Duration) -> Duration {
        let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        *lost += d;
        *lost
    }

    /// Run one attempt, failing it once it has made no progress for `idle`.
    async fn watch(
        &self,
        req: reqwest::RequestBuilder,
        activity: &Activity,
    ) -> Result<Reply, Failure> {
        let work = exchange(req, activity);
        tokio::pin!(work);
        loop {
            let quiet = activity.quiet_for();
            if quiet >= self.timeouts.idle {
                return Err(Failure::Stalled {
                    status: activity.status(),
                    sent: activity.sent(),
                    received: activity.received(),
                });
            }
            tokio::select! {
                done = &mut work => return done,
                _ = tokio::time::sleep(self.timeouts.idle - quiet) => {}
            }
        }
    }

    /// Server text as it may be shown: credentials redacted, control bytes escaped.
    fn clean(&self, text: &str) -> String {
        escape_control(&self.creds.redact(text))
    }

    /// Redact the credentials from every string (and key) of a result.
    fn redact_value(&self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.creds.redact(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.redact_value(x)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, x)| (self.creds.redact(&k), self.redact_value(x)))
                    .collect(),
            ),
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn error(
        &self,
        method: &Method,
        path: &str,
        status: Option<u16>,
        errors: Vec<ApiMessage>,
        detail: Option<String>,
        attempts: u32,
        timed_out: bool,
    ) -> ApiError {
        ApiError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            errors: errors
                .into_iter()
                .map(|e| ApiMessage {
                    code: e.code,
                    message: self.clean(&e.message),
                })
                .collect(),
            detail: detail.map(|d| self.clean(&d)),
            attempts,
            timed_out,
        }
    }
}

/// A complete response.
struct Reply {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// Why an attempt produced no complete response.
enum Failure {
    /// No progress for the idle timeout.
    Stalled {
        status: Option<u16>,
        sent: u64,
        received: u64,
    },
    /// The connection failed (refused, reset, connect timeout, bad body …).
    Transport {
        status: Option<u16>,
        received: u64,
        error: reqwest::Error,
    },
    /// The response body was larger than any API envelope.
    TooLarge { status: u16 },
}

impl Failure {
    fn status(&self) -> Option<u16> {
        match self {
            Failure::Stalled { status, .. } | Failure::Transport { status, .. } => *status,
            Failure::TooLarge { status } => Some(*status),
        }
    }

    fn is_timeout(&self) -> bool {
        match self {
            Failure::Stalled { .. } => true,
            Failure::Transport { error, .. } => error.is_timeout(),
            Failure::TooLarge { .. } => false,
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            Failure::Stalled { .. } => true,
            Failure::Transport { error: e, .. } => {
                e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
            }
            Failure::TooLarge { .. } => false,
        }
    }

    /// One line for the error message; timeouts say "timeout" and for how long.
    fn describe(&self, t: &Timeouts) -> String {
        match self {
            Failure::Stalled {
                status: None, sent, ..
            } => {
                let after = if *sent > 0 {
                    format!(" after sending {sent} bytes")
                } else {
                    String::new()
                };
                format!("timeout: no response within {}{after}", secs(t.idle))
            }
            Failure::Stalled {
                status: Some(s),
                received,
                ..
            } => format!(
                "timeout: the response body (HTTP {s}) stalled for {} after {received} bytes",
                secs(t.idle)
            ),
            Failure::Transport { error, .. } if error.is_connect() && error.is_timeout() => {
                format!("timeout: could not connect within {}", secs(t.connect))
            }
            Failure::Transport {
                status: Some(s),
                received,
                error,
            } => format!(
                "the response body (HTTP {s}) broke off after {received} bytes: {}",
                chain(error)
            ),
            Failure::Transport { error, .. } if error.is_timeout() => {
                format!("timeout: {}", chain(error))
            }
            Failure::Transport { error, .. } => chain(error),
            Failure::TooLarge { status } => format!(
                "the response body (HTTP {status}) is larger than {} MiB",
                MAX_RESPONSE_BYTES >> 20
            ),
        }
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// An error with its sources (reqwest's own message hides the cause).
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Send the request and read the whole response, noting progress.
async fn exchange(req: reqwest::RequestBuilder, activity: &Activity) -> Result<Reply, Failure> {
    let mut resp = req.send().await.map_err(|error| Failure::Transport {
        status: None,
        received: 0,
        error,
    })?;
    let status = resp.status().as_u16();
    activity.responded(status);
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(Failure::TooLarge { status });
                }
                body.extend_from_slice(&chunk);
                activity.got(chunk.len());
            }
            Ok(None) => break,
            Err(error) => {
                return Err(Failure::Transport {
                    status: Some(status),
                    received: body.len() as u64,
                    error,
                });
            }
        }
    }
    Ok(Reply {
        status,
        retry_after,
        body,
    })
}

/// A successful envelope's `result` and `messages`.
#[derive(Debug)]
struct Success {
    result: Value,
    messages: Vec<ApiMessage>,
}

/// A failed envelope's `errors` and a body excerpt.
type Rejection = (Vec<ApiMessage>, Option<String>);

/// Split a response into its envelope's success or failure.
fn parse_envelope(status: u16, text: &str) -> Result<Success, Rejection> {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let ok_status = (200..300).contains(&status);
    if let Some(v) = &parsed {
        let success = v
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(ok_status);
        if success && ok_status {
            let messages = v
                .get("messages")
                .and_then(|m| serde_json::from_value(m.clone()).ok())
                .unwrap_or_default();
            return Ok(Success {
                result: v.get("result").cloned().unwrap_or(Value::Null),
                messages,
            });
        }
        let errors: Vec<ApiMessage> = v
            .get("errors")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        return Err((errors, Some(excerpt(text))));
    }
    Err((vec![], Some(excerpt(text))))
}

/// The start of a body for an error message (escaped later with the rest).
fn excerpt(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty response body)".into();
    }
    let cut: String = t.chars().take(300).collect();
    if cut.len() < t.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_and_connect_timeouts_say_timeout() {
        let t = Timeouts::with_idle(Duration::from_secs(30));
        let waiting = Failure::Stalled {
            status: None,
            sent: 0,
            received: 0,
        };
        assert_eq!(waiting.describe(&t), "timeout: no response within 30 s");
        assert!(waiting.is_timeout() && waiting.is_transient());
        let mid_body = Failure::Stalled {
            status: Some(200),
            sent: 10,
            received: 12,
        };
        assert_eq!(
            mid_body.describe(&t),
            "timeout: the response body (HTTP 200) stalled for 30 s after 12 bytes"
        );
        assert_eq!(
            secs(Duration::from_millis(1500)),
            "1.5 s",
            "fractions from the env var stay readable"
        );
    }

    #[test]
    fn a_successful_envelope_returns_its_messages() {
        let Success { result, messages } = parse_envelope(
            200,
            r#"{"success":true,"errors":[],"messages":[{"code":1,"message":"m"}],"result":{"a":1}}"#,
        )
        .expect("ok");
        assert_eq!(result, serde_json::json!({"a": 1}));
        assert_eq!(messages[0].message, "m");
        let (_, detail) = parse_envelope(200, "").expect_err("empty is an error");
        assert_eq!(detail.as_deref(), Some("(empty response body)"));
    }

    #[test]
    fn results_and_errors_are_redacted_and_escaped() {
        let c = Client::new(
            "http://127.0.0.1:9",
            Credentials::Token("sekrit-token-123".into()),
            Timeouts::default(),
        )
        .expect("client");
        let v = c.redact_value(serde_json::json!({
            "subdomain": "x-sekrit-token-123",
            "list": ["Bearer sekrit-token-123"],
            "sekrit-token-123": 1,
        }));
        assert!(!v.to_string().contains("sekrit"), "{v}");
        let e = c.error(
            &Method::GET,
            "/p",
            Some(200),
            vec![ApiMessage {
                code: 1,
                message: "\u{1b}[2Jsekrit-token-123".into(),
            }],
            Some("\u{7}\0".into()),
            1,
            false,
        );
        let shown = e.to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains("sekrit"),
            "{shown}"
        );
        assert!(shown.contains("\\u{1b}[2J<redacted>"), "{shown}");
    }
}
