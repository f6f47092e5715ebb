//! Outbound `fetch` from the worker, performed by the host with reqwest's
//! blocking client (instances run on their own OS threads, never inside the
//! async server, so blocking here is fine).

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::Reply;
use super::error::{OpError, OpResult};

/// Two clients, since the redirect policy is fixed per client.
pub struct Outbound {
    follow: Client,
    manual: Client,
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
        })
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
        if let Some(deadline) = deadline {
            req = req.timeout(deadline.saturating_duration_since(Instant::now()));
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
        let resp = req
            .send()
            .map_err(|e| OpError::failed(format!("fetch to {url} failed: {e}")))?;
        let status = resp.status();
        let headers: Vec<Value> = resp
            .headers()
            .iter()
            .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        let final_url = resp.url().to_string();
        let bytes = resp
            .bytes()
            .map_err(|e| OpError::failed(format!("reading the response from {url} failed: {e}")))?;
        Ok(Reply::with_body(
            json!({
                "status": status.as_u16(),
                "status_text": status.canonical_reason().unwrap_or(""),
                "headers": headers,
                "url": final_url,
            }),
            bytes.to_vec(),
        ))
    }
}
