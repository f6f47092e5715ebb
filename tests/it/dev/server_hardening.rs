//! Regression tests for the dev server's lifecycle and limits (issue 10,
//! items 5–8): graceful shutdown without a panic, header/idle timeouts and
//! accept back-off, the request body limit and bodies left on the connection
//! until the handler reads them, and the sweep of a killed run's temp dirs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Dev, HELLO_CONFIG, client, project};

const WORKER: &str = r#"import hashlib
import time
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("?")[0].split("/", 3)[3]
        if path == "sleep":
            seconds = float(request.url.split("s=")[1])
            print("sleeping", seconds)
            time.sleep(seconds)
            return Response(f"slept {seconds}")
        if path == "ignore":
            return Response("ignored")
        if path == "len":
            data = await request.bytes()
            return Response(f"{len(data)} {hashlib.sha256(data).hexdigest()}")
        return Response("ok")
"#;

fn worker() -> tempfile::TempDir {
    project(&[("wrangler.toml", HELLO_CONFIG), ("src/entry.py", WORKER)])
}

/// A private TMPDIR for one `dev`, so its instance dirs can be inspected.
fn with_tmpdir(cmd: &mut std::process::Command, tmp: &Path) {
    cmd.env("TMPDIR", tmp);
}

/// Instance dirs in `tmp` (whoever owns them).
fn instance_dirs(tmp: &Path) -> Vec<String> {
    let prefix = "pywrangler-tmp-";
    std::fs::read_dir(tmp)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

impl Dev {
    /// Wait (bounded) until `needle` was printed `n` times.
    fn wait_for_log_count(&self, needle: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if log.matches(needle).count() >= n || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn signal(dev: &Dev, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &dev.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Wait (bounded) for `dev` to exit; returns its exit code and how long it took.
fn wait_exit(dev: &mut Dev, within: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    while started.elapsed() < within {
        if let Some(s) = dev.child.try_wait().expect("wait") {
            return (s.code(), started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("dev did not exit within {within:?}:\n{}", dev.log());
}

fn assert_no_panic(log: &str) {
    for bad in [
        "panicked",
        "Tokio 1.x context",
        "backtrace",
        "RUST_BACKTRACE",
    ] {
        assert!(!log.contains(bad), "`{bad}` in stderr:\n{log}");
    }
}

/// Issue 10 item 5: SIGTERM while a handler sleeps printed `A Tokio 1.x
/// context was found, but it is being shutdown` with a backtrace. Now a
/// short in-flight request finishes, a long one is stopped after the grace
/// period, the process exits 0 without a panic and its temp dirs are gone.
#[test]
fn sigterm_mid_request_finishes_in_flight_work_and_exits_without_a_panic() {
    let dir = worker();
    let tmp = crate::support::tempdir();
    let mut cmd = Dev::command(dir.path(), &["--no-reload"]);
    with_tmpdir(&mut cmd, tmp.path());
    let mut dev = Dev::spawn(cmd);
    let pid = dev.child.id();
    let long = {
        let url = dev.url("/sleep?s=60");
        std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
    };
    let short = {
        let url = dev.url("/sleep?s=2");
        std::thread::spawn(move || {
            client()
                .get(url)
                .send()
                .and_then(|r| Ok((r.status().as_u16(), r.text()?)))
        })
    };
    let log = dev.wait_for_log_count("sleeping", 2);
    assert_eq!(log.matches("sleeping").count(), 2, "{log}");
    let dirs = instance_dirs(tmp.path());
    assert!(!dirs.is_empty(), "instances have /tmp dirs");

    signal(&dev, "-TERM");
    let (code, took) = wait_exit(&mut dev, Duration::from_secs(20));
    let log = dev.log();
    assert_eq!(code, Some(0), "{log}");
    assert!(took < Duration::from_secs(12), "took {took:?}:\n{log}");
    assert_no_panic(&log);
    assert!(log.contains("Shutting down local server."), "{log}");
    // The short request finished within the grace period; the long one was cut.
    let short = short
        .join()
        .expect("thread")
        .expect("short request answered");
    assert_eq!(short, (200, "slept 2.0".to_string()), "{log}");
    assert!(long.join().expect("thread").is_err(), "{log}");
    assert!(log.contains("still running"), "{log}");
    assert_eq!(instance_dirs(tmp.path()), Vec::<String>::new());
    // Named after their process, for the sweep at the next start.
    let owned = format!("pywrangler-tmp-{pid}-");
    assert!(dirs.iter().all(|d| d.starts_with(&owned)), "{dirs:?}");
}

/// Issue 10 item 5: a second Ctrl-C during the grace period exits at once.
#[test]
fn second_signal_during_the_grace_period_exits_at_once() {
    let dir = worker();
    let mut dev = Dev::start(dir.path(), &["--no-reload"]);
    let long = {
        let url = dev.url("/sleep?s=60");
        std::thread::spawn(move || client().get(url).send().map(|r| r.status().as_u16()))
    };
    dev.wait_for_log("sleeping");
    signal(&dev, "-INT");
    dev.wait_for_log("Ctrl-C again");
    signal(&dev, "-INT");
    let (code, took) = wait_exit(&mut dev, Duration::from_secs(10));
    let log = dev.log();
    assert_eq!(code, Some(0), "{log}");
    assert!(took < Duration::from_secs(2), "took {took:?}:\n{log}");
    assert_no_panic(&log);
    let _ = long.join();
}

/// Read until the peer closes; returns what was read and whether it closed
/// (rather than the read timing out).
fn read_to_close(s: &mut TcpStream, timeout: Duration) -> (String, bool) {
    s.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&buf).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

/// Issue 10 item 6: a connection that never finishes its headers
/// (slowloris) and an idle keep-alive connection were held forever.
#[test]
fn partial_headers_and_idle_keep_alive_connections_are_closed() {
    let dir = worker();
    let dev = Dev::start(dir.path(), &["--no-reload"]);
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", dev.port)).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: 1\r\n")
        .expect("send");
    let mut idle = TcpStream::connect(("127.0.0.1", dev.port)).expect("connect");
    idle.write_all(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let idle_thread = std::thread::spawn(move || read_to_close(&mut idle, Duration::from_secs(30)));
    let (_, closed) = read_to_close(&mut slow, Duration::from_secs(30));
    assert!(
        closed,
        "a connection with partial headers stayed open for 30 s"
    );
    let (answered, closed) = idle_thread.join().expect("thread");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    assert!(closed, "an idle keep-alive connection stayed open for 30 s");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The server still serves.
    assert_eq!(dev.get("/"), (200, "ok".to_string()));
}

/// Issue 10 item 6: out of file descriptors, the accept loop printed about
/// 100 warnings a second. Now it backs off and warns at most every 5 s.
#[test]
fn accept_failures_back_off_without_flooding_the_terminal() {
    let dir = worker();
    let inner = Dev::command(dir.path(), &["--no-reload"]);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 256 && exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let dev = Dev::spawn(cmd);
    // More connections than the server has descriptors for.
    // (Connecting stops at the first refusal: a full backlog drops SYNs.)
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], dev.port));
    let conns: Vec<TcpStream> = (0..320)
        .map_while(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(conns.len() > 256, "only {} connections", conns.len());
    std::thread::sleep(Duration::from_secs(2));
    let log = dev.log();
    let warnings = log.matches("accept failed").count();
    assert!((1..=2).contains(&warnings), "{warnings} warnings:\n{log}");
    assert!(log.contains("ulimit -n"), "{log}");
    drop(conns);
    // Once descriptors are free again, it serves.
    let (status, _) = dev.wait_for("/", Duration::from_secs(10), |s, _| s == 200);
    assert_eq!(status, 200, "{}", dev.log());
}

/// Send a raw request head (and optionally a body), return the response.
fn raw(dev: &Dev, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", dev.port)).expect("connect");
    s.write_all(head.as_bytes()).expect("send head");
    s.write_all(body).expect("send body");
    read_to_close(&mut s, Duration::from_secs(30)).0
}

fn chunked(data: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Issue 10 item 7: no request body limit (a 1 GB body was buffered on the
/// host). Now Cloudflare's 413 page answers a body over the limit, from
/// `Content-Length` before any of it is read, and while a chunked body is
/// read. A smaller limit (PYWRANGLER_DEV_MAX_REQUEST_BODY) keeps this fast.
#[test]
fn request_body_over_the_limit_gets_cloudflares_413() {
    let dir = worker();
    let mut cmd = Dev::command(dir.path(), &["--no-reload"]);
    cmd.env("PYWRANGLER_DEV_MAX_REQUEST_BODY", "100000");
    let dev = Dev::spawn(cmd);

    // Content-Length over the limit: answered without sending the body.
    let r = raw(
        &dev,
        "POST /len HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 100001\r\n\r\n",
        b"",
    );
    assert!(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{r}");
    assert!(
        r.contains("<title>413 Request Entity Too Large</title>"),
        "{r}"
    );
    assert!(r.contains("<center>cloudflare</center>"), "{r}");

    // A chunked body that goes over the limit while the handler reads it.
    let body = chunked(&vec![b'x'; 150_000], 16 << 10);
    let r = raw(
        &dev,
        "POST /len HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n",
        &body,
    );
    assert!(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{r}");

    // Exactly the limit is fine, chunked or not.
    let data = vec![b'y'; 100_000];
    let r = client()
        .post(dev.url("/len"))
        .body(data.clone())
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().expect("body").starts_with("100000 "));
    let r = raw(
        &dev,
        "POST /len HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        &chunked(&data, 7000),
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("100000 "), "{r}");
    assert_no_panic(&dev.log());
}

/// Issue 10 item 7: a 100 MB body to a handler that ignores it got 503
/// "memory limit" (the body was copied whole into the 128 MiB guest). Now
/// the body stays on the connection unless the handler reads it; one that
/// does read it gets every byte.
#[test]
fn large_request_bodies_reach_the_guest_only_when_read() {
    let dir = worker();
    let dev = Dev::start(dir.path(), &["--no-reload"]);

    // 100 MB of zeros, written from a small buffer (nothing big allocated).
    let total: usize = 100_000_000;
    let mut s = TcpStream::connect(("127.0.0.1", dev.port)).expect("connect");
    write!(
        s,
        "POST /ignore HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n"
    )
    .expect("head");
    let zeros = vec![0u8; 1 << 20];
    let mut sent = 0;
    while sent < total {
        let n = zeros.len().min(total - sent);
        s.write_all(&zeros[..n]).expect("body");
        sent += n;
    }
    let (r, _) = read_to_close(&mut s, Duration::from_secs(60));
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}\n{}", dev.log());
    assert!(r.ends_with("ignored"), "{r}");

    // A handler that reads a 3 MB body (over Content-Length and chunked)
    // sees all of it.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let digest = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&data))
    };
    let r = client()
        .post(dev.url("/len"))
        .body(data.clone())
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("body"), format!("3000000 {digest}"));
    let r = raw(
        &dev,
        "POST /len HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        &chunked(&data, 100_000),
    );
    assert!(r.ends_with(&format!("3000000 {digest}")), "{r}");
    assert!(!dev.log().contains("memory limit"), "{}", dev.log());
}

/// Issue 10 item 8: temp dirs of live instances leaked on `kill -9` and
/// were never swept. Now each is named after its process, and `dev` removes
/// those of processes that are gone at start, never a live one's.
#[test]
fn stale_instance_dirs_of_a_killed_run_are_swept_at_start() {
    let tmp = crate::support::tempdir();
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = gone.id();
    gone.wait().expect("wait");
    let dead = tmp.path().join(format!("pywrangler-tmp-{dead_pid}-AbC123"));
    let live = tmp
        .path()
        .join(format!("pywrangler-tmp-{}-XyZ789", std::process::id()));
    for d in [&dead, &live] {
        std::fs::create_dir_all(d.join("sub")).expect("mkdir");
        std::fs::write(d.join("sub/f"), "x").expect("write");
    }
    let dir = worker();
    let mut cmd = Dev::command(dir.path(), &["--no-reload"]);
    with_tmpdir(&mut cmd, tmp.path());
    let dev = Dev::spawn(cmd);
    assert!(!dead.exists(), "the dead run's dir is swept");
    assert!(live.join("sub/f").exists(), "a live process's dir is kept");
    assert_eq!(dev.get("/"), (200, "ok".to_string()));
}
