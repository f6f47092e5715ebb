//! Runtime APIs production offers Python Workers, under `dev`: sync HTTP
//! clients over the host's fetch, HTMLRewriter on lol_html, `pyodide.ffi`
//! (`run_sync` with `sqlite3`, as a Django database backend uses them) and
//! the synchronous `ctx.storage.kv`. Upstreams are one-thread servers on
//! 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::{Dev, project, serve};

/// Serves `requests` connections with `answer(method, path, headers)` →
/// (status line, content type, body, delay before answering).
fn upstream(
    requests: usize,
    answer: impl Fn(&str, &str, &str) -> (&'static str, &'static str, String, Duration) + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        for _ in 0..requests {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            serve_one(stream, &answer);
        }
    });
    (addr, handle)
}

fn serve_one(
    mut stream: TcpStream,
    answer: &impl Fn(&str, &str, &str) -> (&'static str, &'static str, String, Duration),
) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = String::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push_str(&h.to_ascii_lowercase());
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let (status, ctype, mut text, delay) = answer(&method, &path, &headers);
    if method == "POST" {
        text.push_str(&format!(" body={}", String::from_utf8_lossy(&body)));
    }
    std::thread::sleep(delay);
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

const CLIENTS_CONFIG: &str = r#"name = "clients"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]
"#;

const CLIENTS_PYPROJECT: &str = "[project]\nname = \"w\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = [\"requests>=2.32\", \"urllib3>=2.2\", \"httpx>=0.28\"]\n";

const CLIENTS_WORKER: &str = r#"import json
import urllib.request
from urllib.parse import urlparse, parse_qs

import httpx
import requests
import urllib3
from workers import WorkerEntrypoint, Response


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        url, client = q["url"], q["client"]
        if client == "requests":
            r = requests.post(url, data="hi", headers={"x-test": "requests"}, timeout=10)
            return Response(f"{r.status_code} {r.headers['content-type']} {r.text}")
        if client == "requests-stream":
            with requests.get(url, stream=True, timeout=10) as r:
                parts = list(r.iter_content(chunk_size=3))
            return Response(f"{len(parts)} {b''.join(parts).decode()}")
        if client == "requests-timeout":
            try:
                requests.get(url, timeout=0.5)
            except requests.exceptions.Timeout as e:
                return Response(f"timeout {type(e).__name__}")
            return Response("no timeout")
        if client == "urllib3":
            r = urllib3.PoolManager().request("GET", url, headers={"x-test": "urllib3"})
            return Response(f"{r.status} {r.data.decode()}")
        if client == "httpx":
            with httpx.Client(timeout=10) as c:
                r = c.get(url, headers={"x-test": "httpx"})
            return Response(f"{r.status_code} {r.text}")
        if client == "urllib":
            req = urllib.request.Request(url, headers={"x-test": "urllib"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return Response(f"{r.status} {r.read().decode()}")
        return Response("?", status=400)
"#;

/// `requests`, `urllib3`, `httpx.Client` and `urllib.request` reach a
/// loopback upstream through the host's fetch (the guest has no sockets),
/// with streaming and a timeout that fires.
#[test]
fn sync_http_clients_go_through_the_hosts_fetch() {
    let dir = project(&[
        ("wrangler.toml", CLIENTS_CONFIG),
        ("src/entry.py", CLIENTS_WORKER),
    ]);
    // Real wheels from PyPI, synced by `dev` itself.
    crate::support::write_files(dir.path(), &[("pyproject.toml", CLIENTS_PYPROJECT)]);
    let (addr, server) = upstream(6, |method, path, headers| {
        let test = headers
            .lines()
            .find_map(|l| l.strip_prefix("x-test:"))
            .unwrap_or("")
            .trim()
            .to_string();
        let delay = if path == "/slow" {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        };
        (
            "200 OK",
            "text/plain",
            format!("{method} {path} {test}"),
            delay,
        )
    });
    let dev = Dev::start(dir.path(), &["--no-reload"]);
    let get = |client: &str, path: &str| {
        let (s, body) = dev.get(&format!("/?client={client}&url=http://{addr}{path}"));
        assert_eq!(s, 200, "{client}: {body}\n{}", dev.log());
        body
    };
    assert_eq!(
        get("requests", "/a"),
        "200 text/plain POST /a requests body=hi"
    );
    assert_eq!(get("urllib3", "/b"), "200 GET /b urllib3");
    assert_eq!(get("httpx", "/c"), "200 GET /c httpx");
    assert_eq!(get("urllib", "/d"), "200 GET /d urllib");
    // 9 bytes in 3-byte pieces.
    assert_eq!(get("requests-stream", "/e"), "3 GET /e ");
    assert_eq!(get("requests-timeout", "/slow"), "timeout ReadTimeout");
    drop(dev);
    server.join().expect("upstream");
}

const REWRITER_WORKER: &str = r#"import asyncio
from urllib.parse import urlparse, parse_qs

from js import HTMLRewriter
from pyodide.ffi import create_proxy
from workers import WorkerEntrypoint, Response, fetch


class Scripts:
    def element(self, el):
        el.remove()


class Title:
    def __init__(self):
        self.seen = []

    async def element(self, el):
        await asyncio.sleep(0)
        el.setAttribute("data-seen", el.getAttribute("class"))
        el.prepend("<b>", html=False)
        el.onEndTag(lambda end: end.after("<hr>", {"html": True}))

    def text(self, chunk):
        # Text arrives in chunks: hold them back until the node's last one.
        self.seen.append(chunk.text)
        if chunk.lastInTextNode:
            chunk.replace("".join(self.seen).upper())
        else:
            chunk.remove()


class Body:
    def element(self, el):
        el.append('<p id="injected">injected</p>', {"html": True})

    def comments(self, c):
        c.remove()


class Doc:
    def end(self, end):
        end.append("<!-- end -->", html=True)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        page = await fetch(q["url"])
        rewriter = HTMLRewriter.new()
        rewriter.on("script", create_proxy(Scripts()))
        rewriter.on("h1.t", Title())
        rewriter.on("body", create_proxy(Body()))
        rewriter.onDocument(Doc())
        return rewriter.transform(page.js_object)
"#;

/// HTMLRewriter (lol_html on the host, handlers in the guest) removes and
/// injects tags in a page fetched from a loopback upstream.
#[test]
fn html_rewriter_removes_and_injects_tags_in_a_fetched_page() {
    let dir = project(&[
        ("wrangler.toml", CLIENTS_CONFIG),
        ("src/entry.py", REWRITER_WORKER),
    ]);
    let (addr, server) = upstream(1, |_, _, _| {
        (
            "200 OK",
            "text/html; charset=utf-8",
            "<!DOCTYPE html><html><head><script src=\"a.js\"></script></head>\
             <body><h1 class=\"t\">hello world</h1><!-- secret --><p>kept</p></body></html>"
                .to_string(),
            Duration::ZERO,
        )
    });
    let dev = Dev::start(dir.path(), &["--no-reload"]);
    let (s, body) = dev.get(&format!("/?url=http://{addr}/"));
    assert_eq!(s, 200, "{body}\n{}", dev.log());
    assert_eq!(
        body,
        "<!DOCTYPE html><html><head></head><body><h1 class=\"t\" data-seen=\"t\">&lt;b&gt;HELLO WORLD</h1><hr>\
         <p>kept</p><p id=\"injected\">injected</p></body></html><!-- end -->"
    );
    server.join().expect("upstream");
}

const STREAMING_REWRITER_WORKER: &str = r#"import asyncio
from urllib.parse import urlparse, parse_qs
from js import HTMLRewriter
from workers import WorkerEntrypoint, fetch


class Mark:
    def element(self, el):
        el.setAttribute("data-seen", "sync")


class Later:
    async def element(self, el):
        await asyncio.sleep(0)
        el.append("<i>async</i>", html=True)


class Boom:
    def element(self, el):
        raise ValueError("handler failed mid-stream")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        page = await fetch(q["url"])
        return HTMLRewriter.new().on("h1", Mark()).on("p", Later()).on("blink", Boom()).transform(page)
"#;

const FIRST_HALF: &str = "<html><head><title>t</title></head><body><h1>first</h1><p>one</p>";

/// An upstream that sends [`FIRST_HALF`], then waits (bounded) for the test
/// to say the client has seen rewritten bytes before sending `rest`.
/// Returns whether the signal came before the upstream gave up waiting.
fn half_then_rest(
    listener: TcpListener,
    rest: &'static str,
    go: std::sync::mpsc::Receiver<()>,
) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return false;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{FIRST_HALF}",
            FIRST_HALF.len() + rest.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.flush();
        let signalled = go.recv_timeout(Duration::from_secs(20)).is_ok();
        let _ = stream.write_all(rest.as_bytes());
        signalled
    })
}

/// GETs `path` from `dev` over a raw connection: reads until `until` shows
/// up (then calls `seen`), then to the end. Returns everything received.
fn get_streamed(dev: &Dev, path: &str, until: &str, seen: impl FnOnce()) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", dev.port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(60))).ok();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut seen = Some(seen);
    loop {
        let n = conn.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if seen.is_some() && String::from_utf8_lossy(&got).contains(until) {
            (seen.take().expect("once"))();
        }
    }
    if let Some(seen) = seen {
        seen();
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The body of a chunked HTTP/1.1 response, and whether it ended with the
/// terminating chunk.
fn dechunk(raw: &str) -> (String, bool) {
    let mut rest = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 {
            return (body, true);
        }
        let Some(data) = after.get(..n) else {
            body.push_str(after);
            break;
        };
        body.push_str(data);
        rest = after.get(n + 2..).unwrap_or("");
    }
    (body, false)
}

/// The rewritten page reaches the client while the upstream is still
/// sending it: the upstream holds its second half back until the client has
/// received rewritten bytes of the first (sync and async handlers ran
/// mid-stream). A handler failing mid-stream ends the body, unterminated,
/// and the error is logged.
#[test]
fn html_rewriter_streams_the_page_as_the_upstream_sends_it() {
    let (_dir, dev) = serve(
        &[
            ("wrangler.toml", CLIENTS_CONFIG),
            ("src/entry.py", STREAMING_REWRITER_WORKER),
        ],
        &["--no-reload"],
    );
    let rewritten_first = "<h1 data-seen=\"sync\">first</h1><p>one<i>async</i></p>";

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go, wait) = std::sync::mpsc::channel();
    let upstream = half_then_rest(listener, "<p>two</p></body></html>", wait);
    let raw = get_streamed(
        &dev,
        &format!("/?url=http://{addr}/"),
        rewritten_first,
        || {
            let _ = go.send(());
        },
    );
    assert!(
        upstream.join().expect("upstream"),
        "the client saw no rewritten bytes before the upstream's body ended:\n{raw}\n{}",
        dev.log()
    );
    let (body, complete) = dechunk(&raw);
    assert_eq!(
        (body.as_str(), complete),
        (
            "<html><head><title>t</title></head><body><h1 data-seen=\"sync\">first</h1>\
             <p>one<i>async</i></p><p>two<i>async</i></p></body></html>",
            true
        ),
        "{raw}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (go, wait) = std::sync::mpsc::channel();
    let upstream = half_then_rest(listener, "<blink>x</blink><p>never</p></body></html>", wait);
    let raw = get_streamed(
        &dev,
        &format!("/?url=http://{addr}/"),
        rewritten_first,
        || {
            let _ = go.send(());
        },
    );
    assert!(upstream.join().expect("upstream"), "{raw}\n{}", dev.log());
    let (body, complete) = dechunk(&raw);
    assert!(body.contains(rewritten_first), "{raw}");
    assert!(!body.contains("never") && !complete, "{raw}");
    let log = dev.wait_for_log("handler failed mid-stream");
    assert!(
        log.contains("ValueError: handler failed mid-stream"),
        "{log}"
    );
}

const DJANGO_LIKE_CONFIG: &str = r#"name = "djangoish"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[kv_namespaces]]
binding = "KV"
id = "kv1"
"#;

const DJANGO_LIKE_WORKER: &str = r#"import sqlite3
import asyncio

from pyodide.ffi import can_run_sync, run_sync
from workers import WorkerEntrypoint, Response


class DatabaseWrapper:
    """Shaped like a Django backend over an async store (django-cf's D1
    backend): sync cursor methods that block on coroutines with run_sync."""

    def __init__(self, env):
        self.env = env
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")

    async def _remote_prefix(self):
        await asyncio.sleep(0)
        return await self.env.KV.get("prefix")

    def execute(self, sql, params=()):
        prefix = run_sync(self._remote_prefix())
        params = tuple(f"{prefix}{p}" if isinstance(p, str) else p for p in params)
        return self.conn.execute(sql, params).fetchall()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.KV.put("prefix", "kv:")
        db = DatabaseWrapper(self.env)
        db.execute("INSERT INTO notes (body) VALUES (?)", ("one",))
        db.execute("INSERT INTO notes (body) VALUES (?)", ("two",))
        rows = db.execute("SELECT id, body FROM notes ORDER BY id")
        # A database file too (WASI has no file locks: SQLite is built without them).
        with sqlite3.connect("/tmp/notes.db") as f:
            f.execute("DROP TABLE IF EXISTS t")
            f.execute("CREATE TABLE t (x TEXT)")
            f.execute("INSERT INTO t VALUES ('on disk')")
        on_disk = sqlite3.connect("/tmp/notes.db").execute("SELECT x FROM t").fetchall()
        return Response(f"{can_run_sync()} {sqlite3.sqlite_version_info >= (3, 0)} {rows} {on_disk}")
"#;

/// A Django-style database backend: `sqlite3` in the guest plus `run_sync`
/// blocking on a coroutine that awaits a binding. Both guests have
/// `sqlite3` (this runs on 3.13, and on 3.14 in `scripts/test`'s second pass).
#[test]
fn run_sync_and_sqlite3_serve_a_django_style_backend() {
    let (_dir, dev) = serve(
        &[
            ("wrangler.toml", DJANGO_LIKE_CONFIG),
            ("src/entry.py", DJANGO_LIKE_WORKER),
        ],
        &["--no-reload"],
    );
    let (s, body) = dev.get("/");
    assert_eq!(s, 200, "{body}\n{}", dev.log());
    assert_eq!(
        body,
        "True True [(1, 'kv:one'), (2, 'kv:two')] [('on disk',)]"
    );
}

const KV_CONFIG: &str = r#"name = "synckv"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[durable_objects.bindings]]
name = "STORE"
class_name = "Store"

[[durable_objects.bindings]]
name = "OLD"
class_name = "Old"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Store"]
new_classes = ["Old"]
"#;

const KV_WORKER: &str = r#"import json
from workers import WorkerEntrypoint, DurableObject, Response


class Store(DurableObject):
    async def fill(self):
        kv = self.ctx.storage.kv
        kv.put("b", {"n": 2})
        kv.put("a", [1, "x"])
        kv.put("c", "three")
        deleted = kv.delete("c"), kv.delete("nope")
        # The async API shares the key space.
        await self.ctx.storage.put("d", 4)
        listed = [[k, v] for k, v in kv.list()]
        first = kv.list({"limit": 1})
        kv.list()
        try:
            next(first)
            stale = "usable"
        except Exception as e:
            stale = str(e)
        return {"get": kv.get("b"), "missing": kv.get("zzz"), "deleted": deleted,
                "async": await self.ctx.storage.get("a"), "list": listed, "stale": stale}


class Old(DurableObject):
    async def fill(self):
        try:
            self.ctx.storage.kv.put("a", 1)
        except Exception as e:
            return str(e)
        return "no error"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/old"):
            return Response(await self.env.OLD.getByName("x").fill())
        return Response(json.dumps(await self.env.STORE.getByName("x").fill()))
"#;

/// `ctx.storage.kv`: synchronous get/put/delete/list on the object's SQLite
/// storage, sharing keys with `ctx.storage.get/put`; refused on a class
/// declared key-value backed.
#[test]
fn durable_object_sync_kv_get_put_list() {
    let (_dir, dev) = serve(
        &[("wrangler.toml", KV_CONFIG), ("src/entry.py", KV_WORKER)],
        &["--no-reload"],
    );
    let v = dev.get_json("/");
    assert_eq!(v["get"], serde_json::json!({"n": 2}));
    assert_eq!(v["missing"], serde_json::Value::Null);
    assert_eq!(v["deleted"], serde_json::json!([true, false]));
    assert_eq!(v["async"], serde_json::json!([1, "x"]));
    assert_eq!(
        v["list"],
        serde_json::json!([["a", [1, "x"]], ["b", {"n": 2}], ["d", 4]])
    );
    assert!(
        v["stale"]
            .as_str()
            .is_some_and(|s| s.contains("iterator was invalidated")),
        "{v}"
    );
    let (_, body) = dev.get("/old");
    assert!(
        body.contains("only available for SQLite-backed Durable Objects"),
        "{body}"
    );
}

const DJANGO_PYPROJECT: &str = "[project]\nname = \"w\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = [\"django>=5.2\"]\n";

const DJANGO_BACKEND: &str = r#"# A Django database backend in the manner of django-cf's D1 backend: the
# sync ORM calls into async Worker APIs through `run_sync`. Here the data
# lives in `sqlite3` and every write is also counted in KV.

from django.db.backends.sqlite3 import base
from pyodide.ffi import run_sync

ENV = {}


class CursorWrapper(base.SQLiteCursorWrapper):
    def execute(self, query, params=None):
        if query.lstrip().upper().startswith("INSERT"):
            kv = ENV["env"].KV

            async def count():
                n = int(await kv.get("writes") or 0) + 1
                await kv.put("writes", str(n))
                return n

            run_sync(count())
        return super().execute(query, params)


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)
"#;

const DJANGO_WORKER: &str = r#"import os

import django
from django.conf import settings

# The handler is a coroutine and the ORM is sync: Workers projects running
# Django (django-cf's template too) switch Django's async-context guard off.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

settings.configure(
    DATABASES={"default": {"ENGINE": "kvbackend", "NAME": "/tmp/db.sqlite3"}},
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()

from django.db import connection
from workers import WorkerEntrypoint, Response


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        # The backend (Django's sqlite3 one imports multiprocessing, which
        # draws entropy) loads on first use, in the handler.
        import kvbackend.base

        kvbackend.base.ENV["env"] = self.env
        with connection.cursor() as c:
            c.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)")
            c.execute("INSERT INTO notes (body) VALUES (%s)", ["one"])
            c.execute("INSERT INTO notes (body) VALUES (%s)", ["two"])
            c.execute("SELECT body FROM notes ORDER BY id")
            rows = [r[0] for r in c.fetchall()]
        return Response(f"{connection.vendor} {rows} writes={await self.env.KV.get('writes')}")
"#;

/// A real Django (from PyPI) whose database backend subclasses Django's
/// `sqlite3` backend and calls a KV binding through `run_sync` on every
/// write, on both guests.
#[test]
fn django_with_a_sqlite3_backend_that_uses_run_sync() {
    let dir = project(&[
        ("wrangler.toml", DJANGO_LIKE_CONFIG),
        ("src/entry.py", DJANGO_WORKER),
        ("src/kvbackend/__init__.py", ""),
        ("src/kvbackend/base.py", DJANGO_BACKEND),
    ]);
    crate::support::write_files(dir.path(), &[("pyproject.toml", DJANGO_PYPROJECT)]);
    let dev = Dev::start(dir.path(), &["--no-reload"]);
    let (s, body) = dev.get("/");
    assert_eq!(s, 200, "{body}\n{}", dev.log());
    assert_eq!(body, "sqlite ['one', 'two'] writes=2");
}
