//! A fake Cloudflare v4 API on 127.0.0.1:0 for deploy tests: checks auth,
//! parses the multipart upload and validates its metadata the way the real API
//! does, keeps per-script state (versions, migration tag), records every call,
//! and can be scripted to fail (429 then 200, 500 forever, size limits) or to
//! misbehave (never answer, stall mid-body, send garbage, echo the token).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The token the fake accepts.
pub const TOKEN: &str = "fake-cf-token-5f3a9c1e7b";
/// The account the fake owns.
pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
/// The account's workers.dev subdomain.
pub const SUBDOMAIN: &str = "fake-sub";

/// Binding types the real API accepts (as of the workers-sdk snapshot).
const BINDING_TYPES: &[&str] = &[
    "inherit",
    "plain_text",
    "json",
    "secret_text",
    "secret_key",
    "kv_namespace",
    "send_email",
    "durable_object_namespace",
    "workflow",
    "queue",
    "r2_bucket",
    "d1",
    "vectorize",
    "hyperdrive",
    "secrets_store_secret",
    "ratelimit",
    "vpc_service",
    "service",
    "analytics_engine",
    "dispatch_namespace",
    "mtls_certificate",
    "pipelines",
    "worker_loader",
    "logfwdr",
    "wasm_module",
    "browser",
    "ai",
    "images",
    "version_metadata",
    "assets",
    "text_blob",
    "data_blob",
    "ai_search",
    "ai_search_namespace",
    "media",
    "stream",
    "vpc_network",
    "artifacts",
    "flagship",
    "agent_memory",
    "websearch",
    "unsafe_hello_world",
];

const MODULE_TYPES: &[&str] = &[
    "text/x-python",
    "text/plain",
    "application/octet-stream",
    "application/wasm",
    "application/javascript+module",
    "application/javascript",
    "text/x-python-requirement",
    "application/source-map",
];

/// One multipart part as received.
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub len: usize,
}

/// A parsed upload body.
#[derive(Debug, Clone)]
pub struct Upload {
    pub metadata: Value,
    pub parts: Vec<PartInfo>,
}

/// One file of an assets upload, as received.
#[derive(Debug, Clone)]
pub struct AssetPart {
    /// Part name (bulk) or URL segment (single): the hash.
    pub hash: String,
    pub content_type: Option<String>,
    /// The decoded file content.
    pub content: Vec<u8>,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorized: bool,
    pub headers: BTreeMap<String, String>,
    pub json: Option<Value>,
    pub upload: Option<Upload>,
    /// Files of an assets upload request.
    pub assets: Vec<AssetPart>,
    pub status: u16,
}

impl Call {
    /// `"METHOD /path"` for sequence assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A scripted failure for requests whose path contains `path`.
#[derive(Debug, Clone)]
struct Failure {
    method: Option<String>,
    path: String,
    status: u16,
    code: i64,
    /// `None` = forever.
    remaining: Option<usize>,
}

/// How a misbehaving API answers.
#[derive(Debug, Clone)]
pub enum Misbehave {
    /// Read the request, then never answer (until the fake is dropped).
    NeverAnswer,
    /// Send `200` headers and the start of a body, then stall.
    StallBody,
    /// Answer `200` with these bytes as the body.
    Garbage(Vec<u8>),
    /// Answer normally, but send the body a few bytes at a time with this
    /// pause between pieces (slow but never idle).
    Trickle(std::time::Duration),
}

#[derive(Debug, Clone)]
struct Misbehaviour {
    method: Option<String>,
    path: String,
    how: Misbehave,
}

#[derive(Debug, Default, Clone)]
struct Script {
    migration_tag: Option<String>,
    tags: Vec<String>,
    versions: usize,
    metadata: Value,
}

/// One open assets upload session.
#[derive(Debug, Clone, Default)]
struct AssetSession {
    /// hash -> manifest path (for the extension in the hash).
    paths: HashMap<String, String>,
    /// Hashes still to be uploaded.
    pending: HashSet<String>,
    completion: String,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    scripts: HashMap<String, Script>,
    failures: Vec<Failure>,
    size_limit: Option<usize>,
    accounts: Vec<(String, String)>,
    /// Asset hashes stored on the account (kept across deploys).
    assets_stored: HashSet<String>,
    /// Upload JWT -> its session.
    asset_sessions: HashMap<String, AssetSession>,
    /// Completion tokens handed out and not yet attached to a Worker.
    asset_completions: HashSet<String>,
    /// Upload JWTs ask for one request per file.
    single_asset_uploads: bool,
    /// Most files per bucket.
    bucket_size: usize,
    /// Binding types accepted besides [`BINDING_TYPES`] (a newer API's kinds).
    extra_binding_types: Vec<String>,
    misbehaviours: Vec<Misbehaviour>,
    echo_token: bool,
    /// Assets upload requests being answered now, and the most at once.
    uploads_in_flight: usize,
    max_uploads_in_flight: usize,
    /// Hold each upload request until this many were in flight at once
    /// (at most [`HOLD_LIMIT`]): a client that sends one at a time is seen
    /// as such, whatever the timing.
    hold_uploads_for: usize,
    /// Wait this long before answering each upload request (benchmarks).
    upload_delay: std::time::Duration,
    /// Uploads in flight when each upload request arrived, in order.
    upload_arrivals: Vec<usize>,
    /// Upload JWTs carry this `exp` instead of one far in the future.
    upload_jwt_exp: Option<u64>,
    /// Keep the 2nd to `hold_uploads_for`-th upload requests open until one
    /// more arrives (see [`FakeCf::hold_open_for_a_retry`]).
    hold_open_for_retry: bool,
}

/// Longest an upload request is held waiting for company.
const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A running fake API; shut down when dropped.
pub struct FakeCf {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeCf {
    /// Start the fake on an ephemeral loopback port.
    pub fn start() -> FakeCf {
        let state = Arc::new(Mutex::new(State {
            accounts: vec![(ACCOUNT.to_string(), "Fake Account".to_string())],
            bucket_size: 2,
            ..State::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = Arc::clone(&state);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let st = Arc::clone(&st);
                            tokio::spawn(async move {
                                let svc = service_fn(move |req| handle(Arc::clone(&st), req));
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                            });
                        }
                    }
                }
            });
        });
        FakeCf {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    /// Base URL to put in `CLOUDFLARE_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// `"METHOD /path"` of every call, with the `/client/v4/accounts/<id>` prefix shortened to `/a`.
    pub fn call_lines(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                c.line()
                    .replace(&format!("/client/v4/accounts/{ACCOUNT}"), "/a")
                    .replace("/client/v4", "")
            })
            .collect()
    }

    /// Uploads (PUT script or POST versions) in order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.calls().into_iter().filter_map(|c| c.upload).collect()
    }

    /// Files received by assets upload requests, in order.
    pub fn uploaded_assets(&self) -> Vec<AssetPart> {
        self.calls().into_iter().flat_map(|c| c.assets).collect()
    }

    /// Files per bucket in upload sessions (default 2).
    pub fn set_bucket_size(&self, n: usize) {
        self.lock().bucket_size = n;
    }

    /// Hold upload requests until `n` are in flight at once (see [`State`]).
    pub fn hold_uploads_for(&self, n: usize) {
        self.lock().hold_uploads_for = n;
    }

    /// Delay every upload request's answer by `d`.
    pub fn set_upload_delay(&self, d: std::time::Duration) {
        self.lock().upload_delay = d;
    }

    /// After the first `hold_uploads_for` upload requests have met, answer
    /// the first of them and keep the others open until one more upload
    /// request arrives: with a scripted failure of the first, its retry is
    /// sent while the others are still in flight, whatever the timing.
    pub fn hold_open_for_a_retry(&self) {
        self.lock().hold_open_for_retry = true;
    }

    /// How many uploads were in flight when each upload request arrived
    /// (itself included), in order of arrival.
    pub fn upload_arrivals(&self) -> Vec<usize> {
        self.lock().upload_arrivals.clone()
    }

    /// The most assets upload requests that were in flight at once.
    pub fn max_uploads_in_flight(&self) -> usize {
        self.lock().max_uploads_in_flight
    }

    /// Make upload JWTs expire at `exp` (seconds since the epoch).
    pub fn set_upload_jwt_exp(&self, exp: u64) {
        self.lock().upload_jwt_exp = Some(exp);
    }

    /// Make upload JWTs ask for single-file uploads.
    pub fn set_single_asset_uploads(&self, on: bool) {
        self.lock().single_asset_uploads = on;
    }

    /// Pretend a script already exists (with an optional migration tag).
    pub fn add_script(&self, name: &str, migration_tag: Option<&str>) {
        self.lock().scripts.insert(
            name.to_string(),
            Script {
                migration_tag: migration_tag.map(str::to_string),
                ..Script::default()
            },
        );
    }

    /// The deployed script's migration tag.
    pub fn migration_tag(&self, name: &str) -> Option<String> {
        self.lock()
            .scripts
            .get(name)
            .and_then(|s| s.migration_tag.clone())
    }

    /// Whether a script exists and how many versions it has.
    pub fn versions(&self, name: &str) -> Option<usize> {
        self.lock().scripts.get(name).map(|s| s.versions)
    }

    /// Fail the next `times` requests whose path contains `path` (any method), or forever with `None`.
    pub fn fail(
        &self,
        method: Option<&str>,
        path: &str,
        status: u16,
        code: i64,
        times: Option<usize>,
    ) {
        self.lock().failures.push(Failure {
            method: method.map(str::to_string),
            path: path.to_string(),
            status,
            code,
            remaining: times,
        });
    }

    /// Misbehave on every request whose path contains `path` (any method with `None`).
    pub fn misbehave(&self, method: Option<&str>, path: &str, how: Misbehave) {
        self.lock().misbehaviours.push(Misbehaviour {
            method: method.map(str::to_string),
            path: path.to_string(),
            how,
        });
    }

    /// Echo the caller's credentials in every successful answer: in the
    /// envelope's `messages` and in the workers.dev subdomain.
    pub fn echo_token(&self) {
        self.lock().echo_token = true;
    }

    /// Reject uploads whose parts total more than `bytes` (code 10027).
    pub fn allow_binding_type(&self, ty: &str) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extra_binding_types
            .push(ty.to_string());
    }

    pub fn set_size_limit(&self, bytes: usize) {
        self.lock().size_limit = Some(bytes);
    }

    /// Replace the accounts `GET /memberships` returns.
    pub fn set_accounts(&self, accounts: &[(&str, &str)]) {
        self.lock().accounts = accounts
            .iter()
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect();
    }
}

impl Drop for FakeCf {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

type Resp = Response<BoxBody<Bytes, Infallible>>;

/// `bytes` in 8-byte pieces with `pause` before each.
fn trickled_body(bytes: Vec<u8>, pause: std::time::Duration) -> BoxBody<Bytes, Infallible> {
    let pieces: Vec<Bytes> = bytes.chunks(8).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::unfold(pieces.into_iter(), move |mut rest| async move {
        let piece = rest.next()?;
        tokio::time::sleep(pause).await;
        Some((Ok::<_, Infallible>(hyper::body::Frame::data(piece)), rest))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// A body that sends `head` and then never ends.
fn stalled_body(head: &'static str) -> BoxBody<Bytes, Infallible> {
    use futures_util::StreamExt;
    let first = futures_util::stream::once(async move {
        Ok::<_, Infallible>(hyper::body::Frame::data(Bytes::from_static(
            head.as_bytes(),
        )))
    });
    BodyExt::boxed(StreamBody::new(
        first.chain(futures_util::stream::pending()),
    ))
}

fn envelope(status: u16, result: Value) -> (u16, Value) {
    (
        status,
        json!({"success": true, "errors": [], "messages": [], "result": result}),
    )
}

fn failure(status: u16, code: i64, message: &str) -> (u16, Value) {
    (
        status,
        json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
    )
}

/// Count assets upload requests in flight (holding or delaying them when
/// asked) around [`handle_request`].
async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    if !req.uri().path().contains("/workers/assets/upload") {
        return handle_request(state, req).await;
    }
    let (hold, delay, index, hold_open) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.uploads_in_flight += 1;
        st.max_uploads_in_flight = st.max_uploads_in_flight.max(st.uploads_in_flight);
        let n = st.uploads_in_flight;
        st.upload_arrivals.push(n);
        (
            st.hold_uploads_for,
            st.upload_delay,
            st.upload_arrivals.len() - 1,
            st.hold_open_for_retry,
        )
    };
    let deadline = std::time::Instant::now() + HOLD_LIMIT;
    while hold > 1 && std::time::Instant::now() < deadline {
        if state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .max_uploads_in_flight
            >= hold
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The first request goes on; the others of its group wait for one more.
    while hold_open
        && (1..hold).contains(&index)
        && std::time::Instant::now() < deadline
        && state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upload_arrivals
            .len()
            <= hold
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let reply = handle_request(Arc::clone(&state), req).await;
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .uploads_in_flight -= 1;
    reply
}

async fn handle_request(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "authorization" && k.as_str() != "x-auth-key")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let has_api_key = req.headers().contains_key("x-auth-key");
    let presented = req
        .headers()
        .get("authorization")
        .or_else(|| req.headers().get("x-auth-key"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let authorized = match req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => v == format!("Bearer {TOKEN}"),
        None => {
            req.headers()
                .get("x-auth-key")
                .and_then(|v| v.to_str().ok())
                == Some(TOKEN)
                && req.headers().get("x-auth-email").is_some()
        }
    };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();

    let assets_upload = path.contains("/workers/assets/upload");
    let mut upload = None;
    let mut upload_error = None;
    let mut json_body = None;
    let mut raw_parts = Vec::new();
    if content_type.starts_with("multipart/form-data") {
        match parse_multipart(&content_type, body.clone()).await {
            Ok(parts) if assets_upload => raw_parts = parts,
            Ok(parts) => match to_upload(parts) {
                Ok(u) => upload = Some(u),
                Err(e) => upload_error = Some(e),
            },
            Err(e) => upload_error = Some(e),
        }
    } else if assets_upload {
        raw_parts.push(RawPart {
            name: path.rsplit('/').next().unwrap_or("").to_string(),
            filename: None,
            content_type: Some(content_type.clone()),
            data: body.clone(),
        });
    } else if !body.is_empty() {
        json_body = serde_json::from_slice(&body).ok();
    }
    let mut assets = Vec::new();

    let misbehaviour = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.misbehaviours
            .iter()
            .find(|m| path.contains(&m.path) && m.method.as_deref().is_none_or(|x| x == method))
            .map(|m| m.how.clone())
    };
    let trickle = match misbehaviour {
        Some(Misbehave::Trickle(pause)) => Some(pause),
        _ => None,
    };
    if let Some(how) = misbehaviour.filter(|_| trickle.is_none()) {
        state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .calls
            .push(Call {
                method,
                path,
                query,
                authorized,
                headers,
                json: json_body,
                upload,
                assets: Vec::new(),
                status: 200,
            });
        let body = match how {
            Misbehave::NeverAnswer => std::future::pending().await,
            Misbehave::StallBody => stalled_body("{\"success\": tr"),
            Misbehave::Garbage(bytes) => BodyExt::boxed(Full::new(Bytes::from(bytes))),
            Misbehave::Trickle(_) => unreachable!("answered below"),
        };
        return Ok(Response::new(body));
    }

    let (status, value) = {
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        let scripted = st.failures.iter().position(|f| {
            path.contains(&f.path)
                && f.method.as_deref().is_none_or(|m| m == method)
                && f.remaining != Some(0)
        });
        if assets_upload && scripted.is_none() {
            // Authenticated by the session's upload JWT alone, as the real API.
            match (bearer.as_deref(), has_api_key) {
                (Some(jwt), false) if st.asset_sessions.contains_key(jwt) => {
                    match upload_assets(&mut st, jwt, &query, raw_parts) {
                        Ok((parts, v)) => {
                            assets = parts;
                            v
                        }
                        Err((s, m)) => failure(s, 10021, &m),
                    }
                }
                _ => failure(
                    401,
                    10001,
                    "assets upload needs `Authorization: Bearer <upload JWT>` and no API credentials",
                ),
            }
        } else if !authorized && !assets_upload {
            failure(403, 10000, "Authentication error")
        } else if let Some(i) = scripted {
            let f = &mut st.failures[i];
            if let Some(n) = f.remaining.as_mut() {
                *n -= 1;
            }
            failure(f.status, f.code, "scripted failure")
        } else if let Some(e) = upload_error {
            failure(400, 10021, &e)
        } else {
            route(
                &mut st,
                &method,
                &path,
                &query,
                json_body.as_ref(),
                upload.as_ref(),
            )
        }
    };
    let mut value = value;
    if status < 300 && state.lock().unwrap_or_else(|e| e.into_inner()).echo_token {
        value["messages"] = json!([{"code": 10000, "message": format!("you sent {presented}")}]);
        if let Some(sub) = value.pointer_mut("/result/subdomain") {
            *sub = json!(format!("sub-{}", presented.trim_start_matches("Bearer ")));
        }
    }
    let call = Call {
        method,
        path,
        query,
        authorized,
        headers,
        json: json_body,
        upload,
        assets,
        status,
    };
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .calls
        .push(call);
    let body = match trickle {
        Some(pause) => trickled_body(value.to_string().into_bytes(), pause),
        None => BodyExt::boxed(Full::new(Bytes::from(value.to_string()))),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// One multipart part with its bytes.
struct RawPart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Vec<RawPart>, String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        let ct = field.content_type().map(|m| m.to_string());
        let data = field.bytes().await.map_err(|e| e.to_string())?;
        parts.push(RawPart {
            name,
            filename,
            content_type: ct,
            data,
        });
    }
    Ok(parts)
}

/// A Worker upload: the `metadata` part and the module parts.
fn to_upload(raw: Vec<RawPart>) -> Result<Upload, String> {
    let mut metadata = None;
    let mut parts = Vec::new();
    for p in raw {
        if p.name == "metadata" {
            metadata = Some(
                serde_json::from_slice(&p.data)
                    .map_err(|e| format!("metadata is not JSON: {e}"))?,
            );
        } else {
            parts.push(PartInfo {
                name: p.name,
                filename: p.filename,
                content_type: p.content_type,
                len: p.data.len(),
            });
        }
    }
    Ok(Upload {
        metadata: metadata.ok_or("missing metadata part")?,
        parts,
    })
}

/// wrangler's asset hash: blake3 over base64(content) + extension, 32 hex chars.
pub fn asset_hash(content: &[u8], path: &str) -> String {
    use base64::Engine;
    let ext = std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("");
    let mut h = blake3::Hasher::new();
    h.update(
        base64::engine::general_purpose::STANDARD
            .encode(content)
            .as_bytes(),
    );
    h.update(ext.as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// An upload JWT whose payload names the session and the upload mode.
fn upload_jwt(n: usize, single: bool, exp: Option<u64>) -> String {
    use base64::Engine;
    let exp = exp.unwrap_or(4102444800);
    let payload = json!({"session": n, "exp": exp, "wrangler_single_asset_uploads": single});
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("eyJhbGciOiJIUzI1NiJ9.{b64}.fake-signature-{n}")
}

/// `POST .../assets-upload-session`: the missing hashes in buckets.
fn open_asset_session(st: &mut State, body: Option<&Value>) -> (u16, Value) {
    let Some(manifest) = body
        .and_then(|b| b.get("manifest"))
        .and_then(Value::as_object)
    else {
        return failure(400, 10021, "body must be {\"manifest\": {...}}");
    };
    let mut session = AssetSession::default();
    for (path, entry) in manifest {
        let hash = entry.get("hash").and_then(Value::as_str).unwrap_or("");
        let size_ok = entry.get("size").is_some_and(Value::is_u64);
        if !path.starts_with('/')
            || hash.len() != 32
            || !hash.bytes().all(|b| b.is_ascii_hexdigit())
            || !size_ok
        {
            return failure(
                400,
                10021,
                &format!("invalid manifest entry {path}: {entry}"),
            );
        }
        session.paths.insert(hash.to_string(), path.clone());
        if !st.assets_stored.contains(hash) {
            session.pending.insert(hash.to_string());
        }
    }
    let n = st.asset_sessions.len() + st.asset_completions.len() + 1;
    session.completion = format!("completion-token-{n}");
    if session.pending.is_empty() {
        st.asset_completions.insert(session.completion.clone());
        return envelope(200, json!({"jwt": session.completion, "buckets": []}));
    }
    let mut missing: Vec<String> = session.pending.iter().cloned().collect();
    missing.sort();
    let buckets: Vec<Vec<String>> = missing
        .chunks(st.bucket_size.max(1))
        .map(<[String]>::to_vec)
        .collect();
    let jwt = upload_jwt(n, st.single_asset_uploads, st.upload_jwt_exp);
    st.asset_sessions.insert(jwt.clone(), session);
    envelope(200, json!({"jwt": jwt, "buckets": buckets}))
}

/// A status and JSON body.
type Reply = (u16, Value);

/// `POST /workers/assets/upload[?base64=true|/<hash>]`: check and store files.
fn upload_assets(
    st: &mut State,
    jwt: &str,
    query: &str,
    parts: Vec<RawPart>,
) -> Result<(Vec<AssetPart>, Reply), (u16, String)> {
    use base64::Engine;
    let single = st.single_asset_uploads;
    let base64 = query.split('&').any(|q| q == "base64=true");
    if !single && !base64 {
        return Err((400, "bulk uploads must be sent with ?base64=true".into()));
    }
    let Some(session) = st.asset_sessions.get_mut(jwt) else {
        return Err((401, "unknown upload JWT".into()));
    };
    let mut received = Vec::new();
    for p in parts {
        if !single && p.filename.as_deref() != Some(p.name.as_str()) {
            return Err((
                400,
                format!(
                    "part {} has file name {:?}; it must be the hash",
                    p.name, p.filename
                ),
            ));
        }
        let content = if single {
            p.data.to_vec()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(&p.data)
                .map_err(|e| (400, format!("part {} is not base64: {e}", p.name)))?
        };
        let Some(path) = session.paths.get(&p.name) else {
            return Err((400, format!("{} is not in the session's manifest", p.name)));
        };
        if asset_hash(&content, path) != p.name {
            return Err((
                400,
                format!("the content of {path} does not match its hash {}", p.name),
            ));
        }
        if !session.pending.remove(&p.name) {
            return Err((
                400,
                format!("{} was not requested or was already uploaded", p.name),
            ));
        }
        received.push(AssetPart {
            hash: p.name,
            content_type: p.content_type,
            content,
        });
    }
    for r in &received {
        st.assets_stored.insert(r.hash.clone());
    }
    let session = &st.asset_sessions[jwt];
    if session.pending.is_empty() {
        let completion = session.completion.clone();
        st.asset_completions.insert(completion.clone());
        return Ok((received, envelope(201, json!({"jwt": completion}))));
    }
    Ok((received, envelope(200, json!({}))))
}

/// Validate an upload the way the API does; `Err` is `(code, message)`.
fn validate(st: &State, u: &Upload) -> Result<(), (u16, i64, String)> {
    let m = &u.metadata;
    let main = m.get("main_module").and_then(Value::as_str).ok_or((
        400,
        10021,
        "metadata.main_module is required".to_string(),
    ))?;
    if !u.parts.iter().any(|p| p.name == main) {
        return Err((
            400,
            10021,
            format!("No such module \"{main}\": the main module is not part of the upload"),
        ));
    }
    for p in &u.parts {
        let ct = p.content_type.as_deref().unwrap_or("");
        if !MODULE_TYPES.contains(&ct) {
            return Err((
                400,
                10021,
                format!("part {} has unsupported content type `{ct}`", p.name),
            ));
        }
        if p.filename.as_deref() != Some(p.name.as_str()) {
            return Err((
                400,
                10021,
                format!("part {} has file name {:?}", p.name, p.filename),
            ));
        }
    }
    let flags: Vec<&str> = m
        .get("compatibility_flags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if main.ends_with(".py") && !flags.contains(&"python_workers") {
        return Err((
            400,
            10021,
            "Python Workers require the \"python_workers\" compatibility flag".to_string(),
        ));
    }
    if m.get("compatibility_date")
        .and_then(Value::as_str)
        .is_none()
    {
        return Err((400, 10021, "compatibility_date is required".to_string()));
    }
    let mut names = std::collections::HashSet::new();
    for b in m
        .get("bindings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let ty = b.get("type").and_then(Value::as_str).unwrap_or("");
        let name = b.get("name").and_then(Value::as_str).unwrap_or("");
        if !BINDING_TYPES.contains(&ty) && !st.extra_binding_types.iter().any(|t| t == ty) {
            return Err((
                400,
                10021,
                format!("Unknown binding type \"{ty}\" for binding \"{name}\""),
            ));
        }
        if name.is_empty() || !names.insert(name.to_string()) {
            return Err((
                400,
                10021,
                format!("binding name \"{name}\" is empty or used twice"),
            ));
        }
    }
    let has_assets_binding = m
        .get("bindings")
        .and_then(Value::as_array)
        .is_some_and(|b| {
            b.iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("assets"))
        });
    match m.pointer("/assets/jwt").and_then(Value::as_str) {
        Some(jwt) if !st.asset_completions.contains(jwt) => {
            return Err((
                400,
                10021,
                format!("assets.jwt {jwt:?} is not a completion token of a finished upload"),
            ));
        }
        None if m.get("assets").is_some() || has_assets_binding => {
            return Err((
                400,
                10021,
                "an assets binding or assets config needs metadata.assets.jwt".to_string(),
            ));
        }
        _ => {}
    }
    if let Some(limit) = st.size_limit {
        let total: usize = u.parts.iter().map(|p| p.len).sum();
        if total > limit {
            return Err((
                413,
                10027,
                format!("Script too large: {total} bytes exceeds the {limit} byte limit"),
            ));
        }
    }
    Ok(())
}

fn route(
    st: &mut State,
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    upload: Option<&Upload>,
) -> (u16, Value) {
    let Some(rest) = path.strip_prefix("/client/v4") else {
        return failure(404, 7000, "No route for that URI");
    };
    let seg: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, seg.as_slice()) {
        ("GET", ["memberships"]) => envelope(
            200,
            Value::Array(st.accounts.iter().map(|(id, name)| json!({"id": format!("m-{id}"), "account": {"id": id, "name": name}})).collect()),
        ),
        (_, ["accounts", a, ..]) if *a != ACCOUNT => failure(403, 10000, "Authentication error: account not accessible"),
        ("GET", ["accounts", _, "workers", "services", name]) => match st.scripts.get(*name) {
            None => failure(404, 10090, "This Worker does not exist on your account."),
            Some(s) => envelope(
                200,
                json!({"id": name, "default_environment": {"environment": "production", "script": {
                    "tag": format!("tag-{name}"), "tags": s.tags, "migration_tag": s.migration_tag, "last_deployed_from": "wrangler"}}}),
            ),
        },
        ("PUT", ["accounts", _, "workers", "scripts", name]) => {
            let Some(u) = upload else { return failure(400, 10021, "expected a multipart body") };
            if let Err((s, c, m)) = validate(st, u) {
                return failure(s, c, &m);
            }
            let script = st.scripts.entry(name.to_string()).or_default();
            if let Some(mig) = u.metadata.get("migrations") {
                let old = mig.get("old_tag").and_then(Value::as_str);
                if old != script.migration_tag.as_deref() {
                    return failure(400, 10079, &format!("migration old_tag {old:?} does not match the current tag {:?}", script.migration_tag));
                }
                script.migration_tag = mig.get("new_tag").and_then(Value::as_str).map(str::to_string);
            }
            script.versions += 1;
            script.metadata = u.metadata.clone();
            let id = format!("00000000-0000-4000-8000-{:012}", script.versions);
            envelope(200, json!({"id": name, "etag": "etag", "deployment_id": id, "startup_time_ms": 7}))
        }
        ("POST", ["accounts", _, "workers", "scripts", _, "assets-upload-session"]) => open_asset_session(st, body),
        ("POST", ["accounts", _, "workers", "scripts", name, "versions"]) => {
            let Some(u) = upload else { return failure(400, 10021, "expected a multipart body") };
            if !st.scripts.contains_key(*name) {
                return failure(404, 10007, "This Worker does not exist on your account.");
            }
            if u.metadata.get("migrations").is_some() {
                return failure(400, 10211, "migrations are not supported when uploading versions");
            }
            if let Err((s, c, m)) = validate(st, u) {
                return failure(s, c, &m);
            }
            let script = st.scripts.entry(name.to_string()).or_default();
            script.versions += 1;
            script.metadata = u.metadata.clone();
            let id = format!("00000000-0000-4000-8000-{:012}", script.versions);
            envelope(200, json!({"id": id, "number": script.versions, "resources": {"script": {"etag": "etag"}}, "startup_time_ms": 7}))
        }
        // Resource look-ups wrangler makes before provisioning: everything exists.
        ("GET", ["accounts", _, "r2", "buckets", b]) if b.starts_with("missing") => failure(404, 10006, "The specified bucket does not exist."),
        ("GET", ["accounts", _, "r2", "buckets", b]) => envelope(200, json!({"name": b})),
        ("GET", ["accounts", _, "d1", "database", id]) => envelope(200, json!({"uuid": id, "name": "d"})),
        ("GET", ["accounts", _, "storage", "kv", "namespaces", id]) => envelope(200, json!({"id": id, "title": "kv"})),
        ("GET", ["accounts", _, "workers", "scripts", name, "settings"]) => match st.scripts.get(*name) {
            None => failure(404, 10007, "This Worker does not exist on your account."),
            Some(s) => envelope(200, json!({"bindings": [], "tags": s.tags})),
        },
        ("GET", ["accounts", _, "workers", "scripts"]) => envelope(
            200,
            Value::Array(st.scripts.iter().map(|(n, s)| json!({"id": n, "migration_tag": s.migration_tag, "tags": s.tags})).collect()),
        ),
        ("GET", ["accounts", _, "workers", "scripts", name, "deployments"]) => match st.scripts.get(*name) {
            None => failure(404, 10007, "This Worker does not exist on your account."),
            Some(_) => envelope(200, json!({"deployments": []})),
        },
        ("POST", ["accounts", _, "workers", "scripts", name, "deployments"]) => {
            let ok = body
                .and_then(|b| b.pointer("/versions/0/percentage"))
                .and_then(Value::as_f64)
                == Some(100.0);
            if !ok || !st.scripts.contains_key(*name) {
                return failure(400, 10021, "invalid deployment");
            }
            envelope(200, json!({"id": "dep-1"}))
        }
        ("PATCH", ["accounts", _, "workers", "scripts", name, "script-settings"]) => {
            if let Some(tags) = body.and_then(|b| b.get("tags")).and_then(Value::as_array)
                && let Some(s) = st.scripts.get_mut(*name)
            {
                s.tags = tags.iter().filter_map(Value::as_str).map(str::to_string).collect();
            }
            envelope(200, body.cloned().unwrap_or(Value::Null))
        }
        ("GET", ["accounts", _, "workers", "subdomain"]) => envelope(200, json!({"subdomain": SUBDOMAIN})),
        ("GET", ["accounts", _, "workers", "scripts", _, "subdomain"]) => envelope(200, json!({"enabled": false, "previews_enabled": false})),
        ("POST", ["accounts", _, "workers", "scripts", _, "subdomain"]) => {
            let enabled = body.and_then(|b| b.get("enabled")).cloned().unwrap_or(Value::Bool(false));
            let previews = body.and_then(|b| b.get("previews_enabled")).cloned().unwrap_or(enabled.clone());
            envelope(200, json!({"enabled": enabled, "previews_enabled": previews}))
        }
        ("PUT", ["accounts", _, "workers", "scripts", _, "routes" | "schedules"]) => envelope(200, body.cloned().unwrap_or(Value::Null)),
        ("GET", ["accounts", _, "queues"]) => {
            // Every queue exists but those named `missing…`; several `name=` are an OR.
            let queues: Vec<Value> = query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("name="))
                .filter(|name| !name.starts_with("missing"))
                .map(|name| json!({"queue_id": format!("qid-{name}"), "queue_name": name, "consumers": [], "producers": []}))
                .collect();
            envelope(200, Value::Array(queues))
        }
        ("POST", ["accounts", _, "queues", _, "consumers"]) | ("PUT", ["accounts", _, "queues", _, "consumers", _]) => {
            envelope(200, body.cloned().unwrap_or(Value::Null))
        }
        ("PUT", ["accounts", _, "workflows", name]) => {
            let field = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str).unwrap_or("");
            if field("script_name").is_empty() || field("class_name").is_empty() {
                return failure(400, 10021, "workflow needs script_name and class_name");
            }
            envelope(200, json!({"id": format!("wf-{name}"), "name": name, "script_name": field("script_name"), "class_name": field("class_name")}))
        }
        _ => failure(404, 7003, &format!("No route for {method} {path}")),
    }
}

/// Keys of a value's bindings as `name -> binding` for order-insensitive comparison.
pub fn bindings_by_name(metadata: &Value) -> BTreeMap<String, Value> {
    metadata
        .get("bindings")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|b| {
                    (
                        b.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        b.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
