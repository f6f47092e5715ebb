//! Host plumbing against a Python-free ABI fixture (tests/fixtures/mini_reactor.c):
//! snapshots and layers, envelopes, host calls, logs, limits and isolation.

mod support;

use std::time::Duration;

use pywrangler_runtime::{
    InvokeError, LogStream, Request, SnapshotError, SnapshotKind, SnapshotSpec,
};
use support::*;

fn spec(dir: &std::path::Path, main: &str) -> SnapshotSpec {
    SnapshotSpec::new(dir.join("src"), main, dir.join("cache"))
}

#[test]
fn snapshot_layer_then_full_and_cache_hits() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "x = 1\n")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    assert_eq!(snap.kind(), SnapshotKind::Layered);
    assert!(!snap.stats().cache_hit);
    assert!(
        snap.build_log()
            .iter()
            .any(|l| l.text == "mini: init main=" && l.stream == LogStream::Stdout),
        "{:?}",
        snap.build_log()
    );
    assert!(
        snap.build_log()
            .iter()
            .any(|l| l.text == "partial" && l.stream == LogStream::Stderr)
    );
    // The host refused the kv.get made during the snapshot step.
    let (opts, rec, _) = options();
    let mut inst = snap.instantiate(opts.clone()).expect("instantiate layered");
    let r = inst.fetch(Request::get("http://x/")).expect("fetch");
    assert_eq!(r.status, 200);
    assert!(r.headers.contains(&("x-main".into(), "entry".into())));
    assert!(rec.calls.lock().expect("lock").is_empty());

    assert_eq!(
        snap.wait_for_full(Duration::from_secs(120)),
        Ok(SnapshotKind::Full)
    );
    let mut inst = snap.instantiate(opts.clone()).expect("instantiate full");
    let r = inst.fetch(Request::get("http://x/")).expect("fetch");
    assert!(r.headers.contains(&("x-main".into(), "entry".into())));

    let again = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("cache hit");
    assert!(again.stats().cache_hit);
    assert_eq!(again.kind(), SnapshotKind::Full);

    // An edit changes the key: a new layer on the cached base.
    std::fs::write(p.path().join("src/entry.py"), "x = 2\n").expect("edit");
    let edited = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("rebuild");
    assert!(!edited.stats().cache_hit && !edited.stats().base_built);
    assert_eq!(edited.kind(), SnapshotKind::Layered);
}

#[test]
fn request_and_response_round_trip() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    let (opts, _, _) = options();
    let mut a = snap.instantiate(opts.clone()).expect("a");
    let mut b = snap.instantiate(opts).expect("b");
    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let req = Request {
        method: "POST".into(),
        url: "http://x/echo".into(),
        body: body.clone(),
        ..Request::get("")
    };
    let r = a.fetch(req).expect("fetch");
    assert_eq!(r.body, body, "binary body survives both directions");
    let cookies: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    let seed = |r: &pywrangler_runtime::Response| {
        r.headers
            .iter()
            .find(|(k, _)| k == "x-seed")
            .map(|(_, v)| v.clone())
    };
    let sa = seed(&r).expect("seed");
    let sb = seed(&b.fetch(Request::get("http://x/")).expect("fetch")).expect("seed");
    assert_eq!(sa.len(), 64);
    assert_ne!(sa, sb, "each instance gets its own entropy seed");
    // Instance reuse keeps state: the guest's event counter goes up by one.
    let count = |r: &pywrangler_runtime::Response| {
        r.headers
            .iter()
            .find(|(k, _)| k == "x-count")
            .and_then(|(_, v)| v.parse::<u32>().ok())
            .expect("x-count")
    };
    let before = count(&r);
    assert_eq!(
        count(&a.fetch(Request::get("http://x/")).expect("fetch")),
        before + 1
    );
}

#[test]
fn host_calls_and_logs() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    let (opts, rec, lines) = options();
    let mut inst = snap.instantiate(opts).expect("instance");
    let r = inst.fetch(Request::get("http://x/host")).expect("fetch");
    let calls = rec.calls.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0["op"], "kv.get");
    assert_eq!(calls[0].1, b"payload");
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        text.contains("\"ok\":true") && text.ends_with("stored-value"),
        "{text}"
    );

    // A new sink takes over from the next line (dev prefixes per request).
    let second = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = second.clone();
    inst.set_log(std::sync::Arc::new(move |l| {
        s2.lock().expect("lock").push(l)
    }));
    let r = inst.fetch(Request::get("http://x/print")).expect("fetch");
    assert_eq!(r.status, 204);
    assert_eq!(second.lock().expect("lock").len(), 3);
    inst.set_log(std::sync::Arc::new({
        let lines = lines.clone();
        move |l| lines.lock().expect("lock").push(l)
    }));
    let r = inst.fetch(Request::get("http://x/print")).expect("fetch");
    assert_eq!(r.status, 204);
    let lines = lines.lock().expect("lock").clone();
    let texts: Vec<_> = lines
        .iter()
        .map(|l| (l.stream.clone(), l.text.as_str()))
        .collect();
    assert!(
        texts.contains(&(LogStream::Stdout, "line one"))
            && texts.contains(&(LogStream::Stdout, "line two")),
        "{texts:?}"
    );
    assert!(
        texts.contains(&(LogStream::Console("warn".into()), "console says hi")),
        "{texts:?}"
    );
}

#[test]
fn python_error_keeps_instance_usable() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    let (opts, _, _) = options();
    let mut inst = snap.instantiate(opts).expect("instance");
    match inst.fetch(Request::get("http://x/raise")) {
        Err(InvokeError::Python(e)) => {
            assert_eq!(e.r#type, "ValueError");
            assert!(e.traceback.contains("Traceback"));
        }
        other => panic!("expected a Python error, got {other:?}"),
    }
    assert!(inst.is_usable());
    assert_eq!(
        inst.fetch(Request::get("http://x/"))
            .expect("still works")
            .status,
        200
    );
}

#[test]
fn limits_discard_the_instance() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    let (mut opts, _, _) = options();
    opts.cpu_limit = Duration::from_millis(200);
    opts.memory_limit = 64 << 20;

    let mut inst = snap.instantiate(opts.clone()).expect("instance");
    let started = std::time::Instant::now();
    let err = inst
        .fetch(Request::get("http://x/loop"))
        .expect_err("loop must be stopped");
    assert!(
        matches!(err, InvokeError::Timeout { kind: "CPU", .. }),
        "{err:?}"
    );
    assert!(err.is_fatal());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!inst.is_usable());
    assert!(inst.fetch(Request::get("http://x/")).is_err());

    let mut inst = snap
        .instantiate(opts.clone())
        .expect("a new instance works");
    assert_eq!(
        inst.fetch(Request::get("http://x/")).expect("fetch").status,
        200
    );
    let err = inst
        .fetch(Request::get("http://x/grow"))
        .expect_err("memory bomb");
    assert!(matches!(err, InvokeError::MemoryLimit(64)), "{err:?}");

    let mut inst = snap.instantiate(opts).expect("instance");
    let err = inst.fetch(Request::get("http://x/trap")).expect_err("trap");
    assert!(matches!(err, InvokeError::Trap(_)), "{err:?}");
}

#[test]
fn filesystem_isolation() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let snap = rt
        .build_snapshot(&spec(p.path(), "entry"))
        .expect("snapshot");
    let (opts, _, _) = options();
    let mut inst = snap.instantiate(opts).expect("instance");
    assert_eq!(
        inst.fetch(Request::get("http://x/passwd"))
            .expect("fetch")
            .body,
        b"denied"
    );
    assert_eq!(
        inst.fetch(Request::get("http://x/tmp"))
            .expect("fetch")
            .body,
        b"tmp=ok src=readonly"
    );
    assert!(!p.path().join("src/new.txt").exists());
}

#[test]
fn import_errors_and_bad_specs() {
    let rt = mini_runtime();
    let p = project(&[("src/broken.py", "")]);
    match rt.build_snapshot(&spec(p.path(), "broken")) {
        Err(SnapshotError::Python(e)) => assert_eq!(e.message, "cannot import broken"),
        other => panic!("expected a Python error, got {:?}", other.err()),
    }
    assert!(matches!(
        rt.build_snapshot(&spec(p.path(), "no such")),
        Err(SnapshotError::Invalid(_))
    ));
    let missing = SnapshotSpec::new(p.path().join("nope"), "entry", p.path().join("cache"));
    assert!(matches!(
        rt.build_snapshot(&missing),
        Err(SnapshotError::Invalid(_))
    ));
}

#[test]
fn non_layered_spec_returns_full() {
    let rt = mini_runtime();
    let p = project(&[("src/entry.py", "")]);
    let mut s = spec(p.path(), "entry");
    s.layered = false;
    let snap = rt.build_snapshot(&s).expect("snapshot");
    assert_eq!(snap.kind(), SnapshotKind::Full);
    assert_eq!(
        snap.entrypoints()["refused"],
        true,
        "host calls are refused during the snapshot"
    );
    let (opts, _, _) = options();
    assert_eq!(
        snap.instantiate(opts)
            .expect("instance")
            .fetch(Request::get("http://x/"))
            .expect("fetch")
            .status,
        200
    );
}
