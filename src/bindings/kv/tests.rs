//! Workers KV: round trips through the real SQLite-backed store, driven by the
//! same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::dev::bindings::test_support::*;

#[test]
fn kv_round_trip_with_metadata_and_persistence() {
    let f = fixture();
    ok(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"a","metadata":{"m":1}}),
        b"hello",
    );
    let r = ok(&f.b, "kv.get", "KV", json!({"key":"a","type":"text"}), b"");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.value, json!({"metadata":{"m":1}}));
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"missing"}), b"").value,
        Value::Null
    );
    // Binary values survive unchanged.
    ok(&f.b, "kv.put", "KV", json!({"key":"bin"}), &[0, 255, 1, 2]);
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"bin"}), b"").body,
        vec![0, 255, 1, 2]
    );
    // A second process opening the same state sees the values.
    let again = open_at(f.b.state_dir(), f.now.clone());
    assert_eq!(
        ok(&again, "kv.get", "KV", json!({"key":"a"}), b"").body,
        b"hello"
    );
    ok(&f.b, "kv.delete", "KV", json!({"key":"a"}), b"");
    assert_eq!(
        ok(&again, "kv.get", "KV", json!({"key":"a"}), b"").value,
        Value::Null
    );
}

#[test]
fn kv_expiration_ttl_and_absolute() {
    let f = fixture();
    ok(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"ttl","expiration_ttl":60}),
        b"x",
    );
    let secs = T0 / 1000;
    ok(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"abs","expiration":secs + 120}),
        b"y",
    );
    let listed = ok(&f.b, "kv.list", "KV", json!({}), b"").value;
    assert_eq!(
        listed["keys"][0],
        json!({"name":"abs","expiration":secs + 120})
    );
    assert_eq!(
        listed["keys"][1],
        json!({"name":"ttl","expiration":secs + 60})
    );
    f.now.fetch_add(61_000, Ordering::SeqCst);
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"ttl"}), b"").value,
        Value::Null
    );
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"abs"}), b"").body,
        b"y"
    );
    f.now.fetch_add(60_000, Ordering::SeqCst);
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"abs"}), b"").value,
        Value::Null
    );
    let listed = ok(&f.b, "kv.list", "KV", json!({}), b"").value;
    assert_eq!(listed["keys"], json!([]));
}

#[test]
fn kv_rejects_bad_input_like_cloudflare() {
    let f = fixture();
    let e = call(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"k","expiration_ttl":10}),
        b"v",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("Expiration TTL must be at least 60"),
        "{e}"
    );
    let e = call(&f.b, "kv.put", "KV", json!({"key":""}), b"v").unwrap_err();
    assert!(e.to_string().contains("must not be empty"), "{e}");
    let long = "k".repeat(513);
    let e = call(&f.b, "kv.put", "KV", json!({"key":long}), b"v").unwrap_err();
    assert!(e.to_string().contains("414"), "{e}");
    let e = call(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"m","metadata":"x".repeat(2000)}),
        b"v",
    )
    .unwrap_err();
    assert!(e.to_string().contains("Metadata length"), "{e}");
    let e = call(&f.b, "kv.get", "NOPE", json!({"key":"k"}), b"").unwrap_err();
    assert!(
        e.to_string()
            .contains("no KV namespace binding named `NOPE`"),
        "{e}"
    );
}

#[test]
fn kv_list_prefix_limit_cursor() {
    let f = fixture();
    for i in 0..25 {
        ok(
            &f.b,
            "kv.put",
            "KV",
            json!({"key":format!("user:{i:02}")}),
            b"v",
        );
    }
    ok(&f.b, "kv.put", "KV", json!({"key":"other"}), b"v");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut args = json!({"prefix":"user:","limit":10});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = ok(&f.b, "kv.list", "KV", args, b"").value;
        for k in page["keys"].as_array().expect("keys") {
            seen.push(k["name"].as_str().expect("name").to_string());
        }
        if page["list_complete"] == json!(true) {
            assert!(page.get("cursor").is_none());
            break;
        }
        cursor = Some(page["cursor"].as_str().expect("cursor").to_string());
    }
    let expected: Vec<String> = (0..25).map(|i| format!("user:{i:02}")).collect();
    assert_eq!(seen, expected);
    let e = call(&f.b, "kv.list", "KV", json!({"limit":0}), b"").unwrap_err();
    assert!(e.to_string().contains("key_count_limit"), "{e}");
}

#[test]
fn kv_cache_ttl_limits_and_bulk_get() {
    let f = fixture();
    ok(
        &f.b,
        "kv.put",
        "KV",
        json!({"key":"a","metadata":{"m":1}}),
        b"1",
    );
    ok(&f.b, "kv.put", "KV", json!({"key":"j"}), b"{\"x\":[1]}");
    ok(&f.b, "kv.put", "KV", json!({"key":"t"}), b"not json");
    assert_eq!(
        ok(&f.b, "kv.get", "KV", json!({"key":"a","cache_ttl":30}), b"").body,
        b"1"
    );
    assert_eq!(
        err(&f.b, "kv.get", json!({"key":"a","cache_ttl":29}), b""),
        "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30."
    );
    let now = T0 / 1000;
    assert_eq!(
        err(&f.b, "kv.put", json!({"key":"a","expiration_ttl":0}), b"v"),
        "KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0."
    );
    assert_eq!(
        err(&f.b, "kv.put", json!({"key":"a","expiration_ttl":59}), b"v"),
        "KV PUT failed: 400 Invalid expiration_ttl of 59. Expiration TTL must be at least 60."
    );
    assert_eq!(
        err(
            &f.b,
            "kv.put",
            json!({"key":"a","expiration":now - 1}),
            b"v"
        ),
        format!(
            "KV PUT failed: 400 Invalid expiration of {}. Please specify integer greater than the current number of seconds since the UNIX epoch.",
            now - 1
        )
    );
    assert_eq!(
        err(
            &f.b,
            "kv.put",
            json!({"key":"a","expiration":now + 30}),
            b"v"
        ),
        format!(
            "KV PUT failed: 400 Invalid expiration of {}. Expiration times must be at least 60 seconds in the future.",
            now + 30
        )
    );
    assert_eq!(
        err(&f.b, "kv.put", json!({"key":"k".repeat(513)}), b"v"),
        "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."
    );
    assert_eq!(
        err(
            &f.b,
            "kv.put",
            json!({"key":"a","metadata":{"m":"x".repeat(1020)}}),
            b"v"
        ),
        "KV PUT failed: 413 Metadata length of 1028 exceeds limit of 1024."
    );
    let huge = vec![0u8; 25 * 1024 * 1024 + 1];
    assert_eq!(
        err(&f.b, "kv.put", json!({"key":"a"}), &huge),
        "KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400."
    );
    assert_eq!(
        err(&f.b, "kv.list", json!({"limit":1001}), b""),
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."
    );

    // Bulk get: a map of every requested key.
    let v = ok(
        &f.b,
        "kv.get",
        "KV",
        json!({"keys":["a","zz"],"type":"text"}),
        b"",
    )
    .value;
    assert_eq!(v, json!({"values":{"a":"1","zz":null}}));
    let v = ok(
        &f.b,
        "kv.get",
        "KV",
        json!({"keys":["j"],"type":"json","with_metadata":true}),
        b"",
    )
    .value;
    assert_eq!(
        v,
        json!({"values":{"j":{"value":{"x":[1]},"metadata":null}}})
    );
    assert_eq!(
        err(&f.b, "kv.get", json!({"keys":["a","t"],"type":"json"}), b""),
        "KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value"
    );
    let too_many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    assert_eq!(
        err(&f.b, "kv.get", json!({"keys":too_many}), b""),
        "KV GET_BULK failed: 400 You can request a maximum of 100 keys"
    );
    assert_eq!(
        err(&f.b, "kv.get", json!({"keys":[]}), b""),
        "KV GET_BULK failed: 400 You must request a minimum of 1 key"
    );
    assert_eq!(
        err(
            &f.b,
            "kv.get",
            json!({"keys":["a"],"type":"arrayBuffer"}),
            b""
        ),
        "KV GET_BULK failed: 400 \"arrayBuffer\" is not a valid type. Use \"json\" or \"text\""
    );
}

#[test]
fn kv_namespace_from_an_earlier_layout_is_imported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("v3/kv/ns1.sqlite");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expiration INTEGER, metadata TEXT);
             INSERT INTO kv VALUES ('kept', x'6869', NULL, '{\"m\":1}');",
        )
        .unwrap();
    }
    let now = Arc::new(AtomicI64::new(T0));
    let b = open_at(dir.path(), now.clone());
    let r = ok(
        &b,
        "kv.get",
        "KV",
        json!({"key":"kept","with_metadata":true}),
        b"",
    );
    assert_eq!(r.body, b"hi");
    assert_eq!(r.value["metadata"]["m"], 1);
    assert!(!old.exists());
    drop(b);
    let again = open_at(dir.path(), now);
    assert_eq!(
        ok(&again, "kv.get", "KV", json!({"key":"kept"}), b"").body,
        b"hi"
    );
}
