//! A restored Worker isolate: send it events (`fetch`, `scheduled`, `queue`,
//! RPC, alarms) one at a time. A fatal error poisons it; make a new one.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::InvokeError;
use crate::host::HostHandler;
use crate::logs::{LogLine, LogSink};
use crate::session::Session;

/// Per-instance settings for [`crate::Snapshot::instantiate`].
#[derive(Clone)]
pub struct InstanceOptions {
    /// Linear-memory cap in bytes (default 128 MiB).
    pub memory_limit: u64,
    /// Guest CPU time per event (wall time minus time in host calls).
    pub cpu_limit: Duration,
    /// Wall-clock time per event, host calls included.
    pub wall_limit: Duration,
    /// Implements bindings and outbound fetch.
    pub handler: Arc<dyn HostHandler>,
    /// Receives the instance's output, line by line.
    pub log: LogSink,
    /// Bindings for `configure`: `{NAME: {"type": …}, …}` (docs/runtime-abi.md).
    pub env: Value,
}

impl InstanceOptions {
    /// Defaults: 128 MiB, 30 s CPU, 60 s wall, no bindings, output to stderr.
    pub fn new(handler: Arc<dyn HostHandler>) -> Self {
        InstanceOptions {
            memory_limit: 128 << 20,
            cpu_limit: Duration::from_secs(30),
            wall_limit: Duration::from_secs(60),
            handler,
            log: Arc::new(|line: LogLine| eprintln!("{}", line.text)),
            env: json!({}),
        }
    }
}

/// An HTTP request for [`Instance::fetch`].
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Headers in order; names may repeat.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The `request.cf` object.
    pub cf: Value,
}

impl Request {
    /// A `GET` without headers or body.
    pub fn get(url: impl Into<String>) -> Self {
        Request {
            method: "GET".into(),
            url: url.into(),
            cf: json!({}),
            ..Default::default()
        }
    }

    fn header_json(&self, kind: &str, extra: Value) -> Value {
        let mut h = json!({
            "v": 1,
            "kind": kind,
            "method": self.method,
            "url": self.url,
            "headers": self.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "cf": if self.cf.is_null() { json!({}) } else { self.cf.clone() },
        });
        if let (Some(h), Value::Object(extra)) = (h.as_object_mut(), extra) {
            h.extend(extra);
        }
        h
    }
}

/// An HTTP response from the Worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order; names may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
    /// The host's id of the WebSocket a 101 response hands to the client
    /// (`Response(None, status=101, web_socket=client)`), if any.
    pub web_socket: Option<u64>,
}

/// One restored guest.
pub struct Instance {
    session: Session,
    dead: Option<String>,
}

impl Instance {
    pub(crate) fn configure(
        session: Session,
        options: &InstanceOptions,
    ) -> Result<Instance, InvokeError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| InvokeError::Instantiate(format!("no host entropy: {e}")))?;
        let mut instance = Instance {
            session,
            dead: None,
        };
        instance.invoke(&json!({"v": 1, "kind": "configure", "env": options.env, "entropy_seed": crate::guest::hex(&seed)}), &[])?;
        Ok(instance)
    }

    /// Sends any event envelope and returns the reply header and body.
    pub fn invoke(&mut self, header: &Value, body: &[u8]) -> Result<(Value, Vec<u8>), InvokeError> {
        if let Some(why) = &self.dead {
            return Err(InvokeError::Trap(format!(
                "this instance was discarded after an earlier failure ({why})"
            )));
        }
        let r = self.session.invoke(header, body);
        if let Err(e) = &r
            && e.is_fatal()
        {
            self.dead = Some(e.to_string());
        }
        r
    }

    /// Sends this instance's output to another sink from the next line on
    /// (e.g. one that prefixes the current request).
    pub fn set_log(&mut self, sink: LogSink) {
        self.session.store.data().flush_logs();
        self.session.store.data().sink.set(sink);
    }

    /// False once a fatal error happened.
    pub fn is_usable(&self) -> bool {
        self.dead.is_none()
    }

    /// Dispatches a request to the `Default` entrypoint (or `on_fetch`).
    pub fn fetch(&mut self, request: Request) -> Result<Response, InvokeError> {
        self.fetch_entrypoint("Default", request)
    }

    /// Like [`Instance::fetch`], but asks the guest to stream its body through
    /// the `response.start` / `response.write` host calls when the handler
    /// returns a streaming body; then the returned `Response` is empty and
    /// `streamed` is reported by the host handler that saw those calls.
    /// With `pulled_body` set, `request.body` is not sent: the guest pulls
    /// the body with `request.read` host calls naming that id, if it reads
    /// it at all (docs/runtime-abi.md, Streamed request bodies).
    pub fn fetch_streaming(
        &mut self,
        request: Request,
        pulled_body: Option<u64>,
    ) -> Result<Response, InvokeError> {
        let mut extra = json!({"entrypoint": "Default", "stream": true});
        if let Some(id) = pulled_body {
            extra["body_stream"] = json!(id);
        }
        let header = request.header_json("fetch", extra);
        let (reply, body) = self.invoke(&header, &request.body)?;
        response(&reply, body)
    }

    /// Dispatches a request to a named `WorkerEntrypoint` class.
    pub fn fetch_entrypoint(
        &mut self,
        entrypoint: &str,
        request: Request,
    ) -> Result<Response, InvokeError> {
        let header = request.header_json("fetch", json!({"entrypoint": entrypoint}));
        let (reply, body) = self.invoke(&header, &request.body)?;
        response(&reply, body)
    }

    /// Runs `scheduled(controller, env, ctx)`.
    pub fn scheduled(&mut self, cron: &str, scheduled_time_ms: i64) -> Result<Value, InvokeError> {
        self.result(&json!({"v": 1, "kind": "scheduled", "cron": cron, "scheduled_time": scheduled_time_ms}))
    }

    /// Runs `queue(batch, env, ctx)`; `messages` as in docs/runtime-abi.md.
    /// Returns `{"acks": [...], "retries": [...]}`.
    pub fn queue(&mut self, queue: &str, messages: Value) -> Result<Value, InvokeError> {
        self.result(&json!({"v": 1, "kind": "queue", "queue": queue, "messages": messages}))
    }

    /// Calls a method on a Durable Object or a named entrypoint (RPC).
    pub fn rpc(
        &mut self,
        class: &str,
        id: Option<&str>,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, InvokeError> {
        self.result(&json!({"v": 1, "kind": "rpc", "class": class, "id": id, "method": method, "args": args}))
    }

    /// Sends a request to a Durable Object's (or a named entrypoint's)
    /// `fetch`: an `rpc` event with `method: "fetch"` and the request under
    /// `request`, its body as the envelope body.
    pub fn rpc_fetch(
        &mut self,
        class: &str,
        id: Option<&str>,
        request: Request,
    ) -> Result<Response, InvokeError> {
        let req = request.header_json("fetch", json!({}));
        let header = json!({
            "v": 1,
            "kind": "rpc",
            "class": class,
            "id": id,
            "method": "fetch",
            "args": [],
            "request": {"method": req["method"], "url": req["url"], "headers": req["headers"], "cf": req["cf"]},
        });
        let (reply, body) = self.invoke(&header, &request.body)?;
        response(&reply, body)
    }

    /// Runs a Durable Object's `alarm()`.
    pub fn alarm(&mut self, class: &str, id: &str) -> Result<Value, InvokeError> {
        self.result(&json!({"v": 1, "kind": "alarm", "class": class, "id": id}))
    }

    fn result(&mut self, header: &Value) -> Result<Value, InvokeError> {
        let (reply, _) = self.invoke(header, &[])?;
        Ok(reply.get("result").cloned().unwrap_or(Value::Null))
    }
}

/// The `status` (default 200) and `headers` (`[[name, value]…]`) of a
/// fetch-shaped reply or `response.start` call.
pub fn status_and_headers(reply: &Value) -> (u16, Vec<(String, String)>) {
    let status = reply
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let headers = reply
        .get("headers")
        .and_then(Value::as_array)
        .map(|hs| {
            hs.iter()
                .filter_map(|h| {
                    Some((
                        h.get(0)?.as_str()?.to_string(),
                        h.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    (status, headers)
}

fn response(reply: &Value, body: Vec<u8>) -> Result<Response, InvokeError> {
    let (status, headers) = status_and_headers(reply);
    Ok(Response {
        status,
        headers,
        body,
        web_socket: reply.get("webSocket").and_then(Value::as_u64),
    })
}
