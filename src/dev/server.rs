//! The HTTP side of `dev`: hyper on tokio. Each request goes to a warm
//! instance of the current generation; `/cdn-cgi/local/scheduled` runs the
//! cron handler; `/cdn-cgi/local/explorer/api` is the local explorer API
//! (`explorer.rs`). One access-log line per request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use pywrangler_runtime::{InvokeError, Request as WorkerRequest};
use serde_json::{Value, json};

use super::builder::{Current, Shared};
use super::error_page::{self, ErrorInfo};
use super::pool::EventError;
use super::request_body::{self, Prepared};

type Reply = Response<BoxBody<Bytes, std::io::Error>>;

fn full(bytes: impl Into<Bytes>) -> BoxBody<Bytes, std::io::Error> {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Serve one request (never fails: errors become error pages).
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let n = shared.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let response = if req.uri().path() == "/cdn-cgi/local/scheduled"
        || req.uri().path() == "/cdn-cgi/handler/scheduled"
    {
        scheduled(&shared, req.uri().query().unwrap_or(""), n).await
    } else if super::explorer::is_explorer(req.uri().path()) && remote.ip().is_loopback() {
        // The local explorer API is for tools on this machine only.
        explorer(&shared, req).await
    } else {
        let (response, done) = fetch(&shared, req, remote, n).await;
        if let Some(done) = done {
            // Streamed: the access line is printed once the body is finished.
            let status = response.status();
            tokio::spawn(async move {
                let _ = done.await;
                access_line(&method, &path, status, started);
            });
            return Ok(response);
        }
        response
    };
    access_line(&method, &path, response.status(), started);
    Ok(response)
}

fn access_line(method: &impl std::fmt::Display, path: &str, status: StatusCode, started: Instant) {
    crate::printer::info(format!(
        "{method} {path} {} {} ({:.0}ms)",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        started.elapsed().as_secs_f64() * 1000.0
    ));
}

/// Serve one request; the second value is set when the body streams, and
/// resolves when the event has finished.
async fn fetch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    remote: SocketAddr,
    n: u64,
) -> (Reply, Option<tokio::sync::oneshot::Receiver<()>>) {
    (fetch_inner(shared, req, remote, n).await).into()
}

enum Outcome {
    Done(Reply),
    Streaming(Reply, tokio::sync::oneshot::Receiver<()>),
}

impl From<Outcome> for (Reply, Option<tokio::sync::oneshot::Receiver<()>>) {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Done(r) => (r, None),
            Outcome::Streaming(r, d) => (r, Some(d)),
        }
    }
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Done(r)
    }
}

async fn fetch_inner(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
    n: u64,
) -> Outcome {
    let accept = req
        .headers()
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json_errors = error_page::wants_json(accept.as_deref());
    let generation = match shared.current() {
        Current::Ready(g) => g,
        Current::Broken(info) => return error_response(&info, json_errors).into(),
    };
    if let Some(opts) = generation.settings.bindings.assets.clone()
        && let Some(reply) = assets_first(opts, &req).await
    {
        return reply.into();
    }
    let upgrade = websocket_upgrade(&mut req);
    let (parts, body) = req.into_parts();
    let limit = shared.flags.max_request_body;
    let (body, pull) = match request_body::prepare(body, &parts.headers, limit, n).await {
        Ok(Prepared::Inline(bytes)) => (bytes, None),
        Ok(Prepared::Pulled(pull)) => (Vec::new(), Some(pull)),
        Ok(Prepared::TooLarge) => return too_large().into(),
        Err(e) => return plain(StatusCode::BAD_REQUEST, e).into(),
    };
    let pulled_id = pull.as_ref().map(request_body::Pull::id);
    let exceeded = pull.as_ref().map(request_body::Pull::exceeded);
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut headers: Vec<(String, String)> = Vec::with_capacity(parts.headers.len() + 1);
    for (name, value) in &parts.headers {
        headers.push((
            name.as_str().to_string(),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    let ip = remote.ip().to_string();
    if !parts.headers.contains_key("cf-connecting-ip") {
        headers.push(("cf-connecting-ip".into(), ip.clone()));
    }
    let request = WorkerRequest {
        method: parts.method.as_str().to_string(),
        url: format!("http://{host}{path}"),
        headers,
        body,
        cf: cf_object(&parts),
    };
    let label = format!("[#{n} {} {}] ", parts.method, parts.uri.path());
    let (sink, source) = super::stream::channel();
    let owner = generation.clone();
    let mut task = tokio::spawn(async move {
        generation
            .run(label, move |inst| {
                let (result, left) = request_body::with_pull(pull, || {
                    super::stream::with_sink(sink, || inst.fetch_streaming(request, pulled_id))
                });
                if let Some(left) = left {
                    tokio::runtime::Handle::current().spawn(left.drain());
                }
                result
            })
            .await
    });
    let super::stream::Source {
        head,
        body,
        gone,
        abort,
    } = source;
    let mut head = head;
    let (head, finished) = tokio::select! {
        joined = &mut task => match head.try_recv() {
            Ok(h) => (h, Some(joined)),
            // Past the limit while the guest read it: Cloudflare's edge
            // answers instead of the Worker.
            Err(_) if exceeded.as_ref().is_some_and(|e| e.load(Ordering::SeqCst)) => {
                return Outcome::Done(too_large());
            }
            Err(_) => return Outcome::Done(finish_buffered(joined, json_errors, upgrade, &owner)),
        },
        Ok(h) = &mut head => (h, None),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let joined = match finished {
            Some(j) => j,
            None => task.await,
        };
        let result = joined.unwrap_or_else(|e| Err(EventError::Lost(e.to_string())));
        if let Err(e) = result {
            if gone.load(Ordering::SeqCst) {
                crate::printer::warn(
                    "the client disconnected while the response was streaming; the handler was stopped",
                );
            } else {
                // Headers are out: the page can't be sent, so the terminal
                // gets the traceback and the client a broken body.
                let info = event_error_info(&e);
                report_to_terminal(&info);
                let _ = abort.send(Err(std::io::Error::other(info.title))).await;
            }
        }
        drop(abort);
        let _ = done_tx.send(());
    });
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(head.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    append_headers(&mut builder, &head.headers);
    Outcome::Streaming(
        builder
            .body(body.boxed())
            .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        done_rx,
    )
}

/// The router in front of the Worker: the assets' answer, if they take the
/// request (file reads run off the async threads).
async fn assets_first(
    opts: Arc<crate::assets::AssetsOptions>,
    req: &Request<Incoming>,
) -> Option<Reply> {
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let headers = req.headers().clone();
    let reply = tokio::task::spawn_blocking(move || {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        super::assets::route(
            &opts,
            &super::assets::AssetRequest {
                method: &method,
                path_and_query: &path,
                header: &header,
            },
        )
    })
    .await
    .ok()??;
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    append_headers(&mut builder, &reply.headers);
    Some(
        builder
            .body(full(reply.body))
            .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    )
}

fn append_headers(builder: &mut hyper::http::response::Builder, headers: &[(String, String)]) {
    if let Some(h) = builder.headers_mut() {
        for (k, v) in headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                h.append(name, value);
            }
        }
    }
}

/// The connection's upgrade and its `Sec-WebSocket-Key`, when the request
/// asks for a WebSocket.
fn websocket_upgrade(req: &mut Request<Incoming>) -> Option<(hyper::upgrade::OnUpgrade, String)> {
    let h = req.headers();
    let wants = h
        .get(hyper::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = h
        .get(hyper::header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())?
        .to_string();
    wants.then(|| (hyper::upgrade::on(req), key))
}

/// Answer 101 and hand the upgraded connection to socket `id`'s pump.
fn websocket_reply(
    generation: &Arc<super::pool::Generation>,
    resp: &pywrangler_runtime::Response,
    id: u64,
    upgrade: Option<(hyper::upgrade::OnUpgrade, String)>,
) -> Result<Reply, String> {
    let Some((on_upgrade, key)) = upgrade else {
        return Err("Worker tried to return a WebSocket in a response to a request which did not contain the header \"Upgrade: websocket\".".into());
    };
    let rx = generation.sockets.take_for_response(id)?;
    let mut builder = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    let own: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter(|(k, _)| {
            ![
                "upgrade",
                "connection",
                "sec-websocket-accept",
                "content-length",
            ]
            .contains(&k.to_ascii_lowercase().as_str())
        })
        .cloned()
        .collect();
    append_headers(&mut builder, &own);
    let builder = builder
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(
            hyper::header::SEC_WEBSOCKET_ACCEPT,
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()),
        );
    let owner = Arc::downgrade(generation);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            hyper_util::rt::TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            Some(super::websocket::server_config()),
        )
        .await;
        super::websocket::pump(owner, id, ws, rx).await;
    });
    builder.body(full(Bytes::new())).map_err(|e| e.to_string())
}

fn finish_buffered(
    joined: Result<Result<pywrangler_runtime::Response, EventError>, tokio::task::JoinError>,
    json_errors: bool,
    upgrade: Option<(hyper::upgrade::OnUpgrade, String)>,
    generation: &Arc<super::pool::Generation>,
) -> Reply {
    let result = joined.unwrap_or_else(|e| Err(EventError::Lost(e.to_string())));
    match result {
        Ok(resp) if resp.web_socket.is_some() || resp.status == 101 => {
            let reply = match resp.web_socket {
                Some(id) if resp.status == 101 => websocket_reply(generation, &resp, id, upgrade),
                Some(_) => Err(format!(
                    "Worker returned a WebSocket in a response with status {}; a WebSocket response must have status 101",
                    resp.status
                )),
                None => Err("Worker returned status 101 without a WebSocket (Response(None, status=101, web_socket=client))".into()),
            };
            reply.unwrap_or_else(|e| {
                crate::printer::warn(&e);
                plain(StatusCode::INTERNAL_SERVER_ERROR, e)
            })
        }
        Ok(resp) => {
            let mut builder = Response::builder().status(
                StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            );
            append_headers(&mut builder, &resp.headers);
            builder
                .body(full(resp.body))
                .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        }
        Err(e) => {
            let info = event_error_info(&e);
            report_to_terminal(&info);
            error_response(&info, json_errors)
        }
    }
}

async fn explorer(shared: &Arc<Shared>, req: Request<Incoming>) -> Reply {
    let answer = super::explorer::handle(shared, req).await;
    let mut r = Response::new(full(answer.body.to_string()));
    *r.status_mut() = answer.status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn scheduled(shared: &Arc<Shared>, query: &str, n: u64) -> Reply {
    let mut cron = String::new();
    let mut time = None;
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "cron" => cron = v,
            "time" => time = v.parse::<f64>().ok().map(|t| t as i64),
            _ => {}
        }
    }
    let time = time.unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
    let generation = match shared.current() {
        Current::Ready(g) => g,
        Current::Broken(info) => return error_response(&info, false),
    };
    let label = format!("[#{n} scheduled {cron}] ");
    match generation
        .run(label, move |inst| inst.scheduled(&cron, time))
        .await
    {
        Ok(_) => plain(StatusCode::OK, "Ran scheduled event".into()),
        Err(e) => {
            let info = event_error_info(&e);
            report_to_terminal(&info);
            error_response(&info, false)
        }
    }
}

/// Decode `a=b&c=d` with percent- and plus-decoding.
pub(super) fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let decoded = (b == b'%' && i + 2 < bytes.len())
            .then(|| {
                std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .flatten();
        match (b, decoded) {
            (_, Some(d)) => {
                out.push(d);
                i += 3;
                continue;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plausible `request.cf` for a local request (the shape Cloudflare sends).
fn cf_object(parts: &hyper::http::request::Parts) -> Value {
    let accept_encoding = parts
        .headers
        .get(hyper::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    json!({
        "asn": 395747,
        "asOrganization": "Local Development",
        "colo": "LCL",
        "country": "US",
        "city": "Austin",
        "continent": "NA",
        "region": "Texas",
        "regionCode": "TX",
        "postalCode": "78701",
        "metroCode": "635",
        "latitude": "30.27130",
        "longitude": "-97.74260",
        "timezone": "America/Chicago",
        "httpProtocol": format!("{:?}", parts.version),
        "tlsVersion": "",
        "tlsCipher": "",
        "clientTcpRtt": 0,
        "clientAcceptEncoding": accept_encoding,
        "requestPriority": "",
        "edgeRequestKeepAliveStatus": 1,
        "verifiedBotCategory": "",
    })
}

/// Turn a failed event into what the page and terminal show.
pub fn event_error_info(e: &EventError) -> ErrorInfo {
    match e {
        EventError::Invoke(InvokeError::Python(p)) => ErrorInfo {
            status: 500,
            title: p.to_string(),
            r#type: p.r#type.clone(),
            message: p.message.clone(),
            detail: if p.traceback.is_empty() {
                p.to_string()
            } else {
                p.traceback.clone()
            },
        },
        EventError::Invoke(err @ InvokeError::Timeout { .. }) => ErrorInfo {
            status: 503,
            title: "Worker exceeded its time limit".into(),
            r#type: "TimeoutError".into(),
            message: err.to_string(),
            detail: format!(
                "{err}; the instance was discarded and the next request gets a fresh one.\nRaise `limits.cpu_ms` in the wrangler config if this work is expected."
            ),
        },
        EventError::Invoke(err @ InvokeError::MemoryLimit(_)) => ErrorInfo {
            status: 503,
            title: "Worker exceeded its memory limit".into(),
            r#type: "MemoryError".into(),
            message: err.to_string(),
            detail: format!("{err}; the instance was discarded."),
        },
        EventError::Invoke(err) => ErrorInfo {
            status: 503,
            title: "The Worker instance failed".into(),
            r#type: "Error".into(),
            message: err.to_string(),
            detail: format!("{err}; the instance was discarded."),
        },
        EventError::Lost(why) => ErrorInfo {
            status: 500,
            title: "The Worker thread was lost".into(),
            r#type: "Error".into(),
            message: why.clone(),
            detail: why.clone(),
        },
    }
}

/// Print an error's title and traceback on the terminal.
pub fn report_to_terminal(info: &ErrorInfo) {
    crate::printer::error(format!("{}\n{}", info.title, info.detail.trim_end()), &[]);
}

fn error_response(info: &ErrorInfo, json: bool) -> Reply {
    let (body, content_type) = error_page::render(info, json);
    Response::builder()
        .status(StatusCode::from_u16(info.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full(Bytes::from_static(b"error"))))
}

/// Cloudflare's 413 page; the connection is closed after it, as the edge does.
fn too_large() -> Reply {
    Response::builder()
        .status(StatusCode::PAYLOAD_TOO_LARGE)
        .header(hyper::header::CONTENT_TYPE, "text/html")
        .header(hyper::header::CONNECTION, "close")
        .body(full(request_body::TOO_LARGE_PAGE))
        .unwrap_or_else(|e| plain(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
}

fn plain(status: StatusCode, text: String) -> Reply {
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            form_pairs("cron=*%2F5+*+*+*+*&time=1700000000000&x"),
            vec![
                ("cron".into(), "*/5 * * * *".into()),
                ("time".into(), "1700000000000".into()),
                ("x".into(), "".into()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
