//! HTTP plumbing: base URL, auth headers, the response envelope and bounded
//! retries with backoff on 429, 5xx and dropped connections.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::multipart::Form;
use serde_json::Value;

use super::auth::Credentials;
use super::error::{ApiError, ApiMessage};
use crate::printer;

/// Attempts per request (the first try plus retries).
const MAX_ATTEMPTS: u32 = 4;
/// First backoff; doubles on each retry.
const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait we honour from `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A request body; multipart bodies are rebuilt for each attempt.
pub enum RequestBody<'a> {
    None,
    Json(Value),
    Multipart(&'a dyn Fn() -> Form),
    /// Raw bytes with their Content-Type.
    Bytes(&'a str, &'a [u8]),
}

/// An authenticated API client.
pub struct Client {
    base: String,
    creds: Credentials,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `base` (e.g. `https://api.cloudflare.com/client/v4`).
    pub fn new(base: &str, creds: Credentials) -> Result<Client, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .user_agent(concat!("pywrangler-rs/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| ApiError {
                method: "-".into(),
                path: "-".into(),
                status: None,
                errors: vec![],
                detail: Some(e.to_string()),
                attempts: 0,
            })?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            creds,
            http,
        })
    }

    /// The credentials in use (for redaction by callers).
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// `GET path` and return the envelope's `result`.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.send(Method::GET, path, query, &[], RequestBody::None)
    }

    /// Send a request and return the envelope's `result`, retrying transient failures.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
    ) -> Result<Value, ApiError> {
        self.send_auth(method, path, query, headers, body, None)
    }

    /// [`send`](Self::send) authenticated with `bearer` instead of the
    /// account credentials (the assets upload's session JWT: wrangler sends
    /// no API token along with it).
    pub fn send_bearer(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: RequestBody<'_>,
    ) -> Result<Value, ApiError> {
        self.send_auth(method, path, query, &[], body, Some(bearer))
    }

    fn send_auth(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        bearer: Option<&str>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), &url).query(query);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req = match &body {
                RequestBody::None => req,
                RequestBody::Json(v) => req
                    .header("Content-Type", "application/json")
                    .body(v.to_string()),
                RequestBody::Multipart(build) => req.multipart(build()),
                RequestBody::Bytes(content_type, data) => req
                    .header("Content-Type", *content_type)
                    .body(data.to_vec()),
            };
            req = match bearer {
                Some(token) => req.bearer_auth(token),
                None => self.creds.apply(req),
            };
            let outcome = req.send();
            let (retry, err) = match outcome {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().unwrap_or_default();
                    printer::verbose(format!("{method} {path} -> HTTP {status}"));
                    match parse_envelope(status, &text) {
                        Ok(result) => return Ok(result),
                        Err((errors, detail)) => {
                            let transient = status == 429 || status >= 500;
                            let err =
                                self.error(&method, path, Some(status), errors, detail, attempt);
                            (transient.then_some(retry_after.unwrap_or_default()), err)
                        }
                    }
                }
                Err(e) => {
                    let transient =
                        e.is_connect() || e.is_timeout() || e.is_request() || e.is_body();
                    printer::verbose(format!("{method} {path} -> {e}"));
                    let err = self.error(&method, path, None, vec![], Some(e.to_string()), attempt);
                    (transient.then_some(Duration::ZERO), err)
                }
            };
            match retry {
                Some(after) if attempt < MAX_ATTEMPTS => {
                    let backoff = BASE_BACKOFF * 2u32.pow(attempt - 1);
                    let wait = backoff.max(after.min(MAX_RETRY_AFTER));
                    printer::verbose(format!(
                        "retrying {method} {path} in {} ms (attempt {} of {MAX_ATTEMPTS})",
                        wait.as_millis(),
                        attempt + 1
                    ));
                    std::thread::sleep(wait);
                }
                _ => return Err(err),
            }
        }
    }

    fn error(
        &self,
        method: &Method,
        path: &str,
        status: Option<u16>,
        errors: Vec<ApiMessage>,
        detail: Option<String>,
        attempts: u32,
    ) -> ApiError {
        ApiError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            errors: errors
                .into_iter()
                .map(|e| ApiMessage {
                    code: e.code,
                    message: self.creds.redact(&e.message),
                })
                .collect(),
            detail: detail.map(|d| self.creds.redact(&d)),
            attempts,
        }
    }
}

/// `Ok(result)` for a successful envelope, else its errors and a body excerpt.
fn parse_envelope(status: u16, text: &str) -> Result<Value, (Vec<ApiMessage>, Option<String>)> {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let ok_status = (200..300).contains(&status);
    if let Some(v) = &parsed {
        let success = v
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(ok_status);
        if success && ok_status {
            return Ok(v.get("result").cloned().unwrap_or(Value::Null));
        }
        let errors: Vec<ApiMessage> = v
            .get("errors")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or_default();
        return Err((errors, Some(excerpt(text))));
    }
    Err((vec![], Some(excerpt(text))))
}

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
