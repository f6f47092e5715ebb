//! Outbound WebSockets: `new WebSocket(url)` and `fetch(url, {Upgrade:
//! websocket})` connect from the event's blocking thread (tokio-tungstenite,
//! rustls with the webpki roots), then the connection is pumped like a
//! server socket's.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Caller, MAX_MESSAGE, Owner, Receiver, Sockets, pump};
use crate::dev::bindings::{OpError, OpResult, Reply};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

impl Sockets {
    /// `new WebSocket(url)` or `fetch(url, {Upgrade: websocket})`: connect
    /// from this (blocking) thread, then pump the connection in the background.
    pub(super) fn connect(&self, caller: &Caller, args: &Value) -> OpResult<Reply> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;

        let url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::invalid("ws.connect needs `url`"))?;
        let fetched = args.get("fetch").and_then(Value::as_bool).unwrap_or(false);
        let url = match url.split_once("://") {
            Some(("http", rest)) => format!("ws://{rest}"),
            Some(("https", rest)) => format!("wss://{rest}"),
            Some(("ws" | "wss", _)) => url.to_string(),
            _ => {
                return Err(OpError::failed(format!(
                    "Failed to construct 'WebSocket': The URL's scheme must be either 'http', 'https', 'ws', or 'wss'. `{url}` is not."
                )));
            }
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| OpError::failed(format!("invalid WebSocket URL `{url}`: {e}")))?;
        for pair in args
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(k), Some(v)) = (
                pair.get(0).and_then(Value::as_str),
                pair.get(1).and_then(Value::as_str),
            ) else {
                continue;
            };
            let lower = k.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "upgrade" | "connection" | "sec-websocket-key" | "sec-websocket-version" | "host"
            ) {
                continue;
            }
            if let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(k.as_bytes()),
                hyper::header::HeaderValue::from_str(v),
            ) {
                request.headers_mut().append(name, value);
            }
        }
        let protocols: Vec<String> = args
            .get("protocols")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        if !protocols.is_empty()
            && let Ok(v) = hyper::header::HeaderValue::from_str(&protocols.join(", "))
        {
            request.headers_mut().insert("sec-websocket-protocol", v);
        }
        // Events run on the server's blocking threads, inside its runtime.
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
            .ok_or_else(|| OpError::failed("outbound WebSockets need the dev server's runtime"))?;
        let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE));
        let connected = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async_with_config(request, Some(config), false),
            )
            .await
        });
        let (stream, response) = match connected {
            Err(_) => {
                return Err(OpError::failed(format!(
                    "WebSocket connection to {url} timed out"
                )));
            }
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
                return Err(OpError::failed(format!(
                    "Failed to establish the WebSocket connection: expected server to reply with HTTP status code 101 (switching protocols), but received {} instead.",
                    resp.status().as_u16()
                )));
            }
            Ok(Err(e)) => {
                return Err(OpError::failed(format!(
                    "WebSocket connection to {url} failed: {e}"
                )));
            }
            Ok(Ok(c)) => c,
        };
        let owner = match &caller.object {
            Some((class, oid)) => Owner::Object {
                class: class.clone(),
                id: oid.clone(),
                hibernatable: false,
            },
            None => Owner::Instance(caller.instance),
        };
        let id = self.add(owner, !fetched);
        let rx = {
            let mut st = self.lock();
            let s = Self::socket(&mut st, id)?;
            s.pending.take()
        };
        if let (Some(rx), Some(generation)) = (rx, self.generation.get()) {
            runtime.spawn(pump(generation.clone(), id, stream, Receiver(rx)));
        }
        let headers: Vec<[String; 2]> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                [
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                ]
            })
            .collect();
        let protocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(Reply::value(json!({
            "socket": id, "status": 101, "headers": headers, "url": url, "protocol": protocol,
        })))
    }
}
