//! R2: round trips through the real SQLite-backed store, driven by the
//! same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use serde_json::{Value, json};

use crate::dev::bindings::test_support::*;
use crate::dev::bindings::{miniflare, sqlite};

#[test]
fn r2_put_get_head_range_list_delete() {
    let f = fixture();
    let meta = ok(&f.b, "r2.put", "BUCKET", json!({"key":"dir/a.txt","http_metadata":{"contentType":"text/plain"},"custom_metadata":{"owner":"me"}}), b"hello world").value;
    assert_eq!(meta["size"], json!(11));
    assert_eq!(meta["etag"], json!("5eb63bbbe01eeed093cb22bb8f5acdc3"));
    assert_eq!(
        meta["httpEtag"],
        json!("\"5eb63bbbe01eeed093cb22bb8f5acdc3\"")
    );
    let got = ok(&f.b, "r2.get", "BUCKET", json!({"key":"dir/a.txt"}), b"");
    assert_eq!(got.body, b"hello world");
    assert_eq!(
        got.value["httpMetadata"]["contentType"],
        json!("text/plain")
    );
    assert_eq!(got.value["customMetadata"], json!({"owner":"me"}));
    let part = ok(
        &f.b,
        "r2.get",
        "BUCKET",
        json!({"key":"dir/a.txt","range":{"offset":6,"length":3}}),
        b"",
    );
    assert_eq!(part.body, b"wor");
    assert_eq!(part.value["range"], json!({"offset":6,"length":3}));
    let tail = ok(
        &f.b,
        "r2.get",
        "BUCKET",
        json!({"key":"dir/a.txt","range":{"suffix":5}}),
        b"",
    );
    assert_eq!(tail.body, b"world");
    let head = ok(&f.b, "r2.head", "BUCKET", json!({"key":"dir/a.txt"}), b"");
    assert!(head.body.is_empty());
    assert_eq!(head.value["key"], json!("dir/a.txt"));
    assert_eq!(
        ok(&f.b, "r2.get", "BUCKET", json!({"key":"nope"}), b"").value,
        Value::Null
    );

    ok(&f.b, "r2.put", "BUCKET", json!({"key":"dir/b.txt"}), b"b");
    ok(
        &f.b,
        "r2.put",
        "BUCKET",
        json!({"key":"dir/sub/c.txt"}),
        b"c",
    );
    ok(&f.b, "r2.put", "BUCKET", json!({"key":"top.txt"}), b"t");
    let l = ok(
        &f.b,
        "r2.list",
        "BUCKET",
        json!({"prefix":"dir/","delimiter":"/"}),
        b"",
    )
    .value;
    let keys: Vec<&str> = l["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["dir/a.txt", "dir/b.txt"]);
    assert_eq!(l["delimited_prefixes"], json!(["dir/sub/"]));
    assert_eq!(l["truncated"], json!(false));
    let p1 = ok(&f.b, "r2.list", "BUCKET", json!({"limit":2}), b"").value;
    assert_eq!(p1["truncated"], json!(true));
    let p2 = ok(
        &f.b,
        "r2.list",
        "BUCKET",
        json!({"limit":2,"cursor":p1["cursor"]}),
        b"",
    )
    .value;
    let keys: Vec<&str> = p2["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["dir/sub/c.txt", "top.txt"]);
    assert_eq!(p2["truncated"], json!(false));

    // Overwrite replaces the body; delete removes it.
    ok(&f.b, "r2.put", "BUCKET", json!({"key":"top.txt"}), b"new");
    assert_eq!(
        ok(&f.b, "r2.get", "BUCKET", json!({"key":"top.txt"}), b"").body,
        b"new"
    );
    ok(
        &f.b,
        "r2.delete",
        "BUCKET",
        json!({"keys":["top.txt","dir/b.txt"]}),
        b"",
    );
    assert_eq!(
        ok(&f.b, "r2.head", "BUCKET", json!({"key":"top.txt"}), b"").value,
        Value::Null
    );
    let blobs = std::fs::read_dir(f.b.state_dir().join("v3/r2/b/blobs"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, 2, "old and deleted bodies are removed from disk");
}

#[test]
fn r2_multipart_upload_complete_persist_and_errors() {
    use md5::{Digest, Md5};
    let f = fixture();
    let big = vec![b'a'; crate::bindings::r2::multipart::MIN_PART_BYTES as usize];
    let create = |key: &str| {
        ok(&f.b, "r2.mpu.create", "BUCKET", json!({"key":key,"http_metadata":{"contentType":"application/x-big"},"custom_metadata":{"n":"2"}}), b"")
            .value["upload_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let part = |key: &str, id: &str, n: i64, body: &[u8]| {
        call(
            &f.b,
            "r2.mpu.part",
            "BUCKET",
            json!({"key":key,"upload_id":id,"part_number":n}),
            body,
        )
    };
    let id = create("big.bin");
    let p1 = part("big.bin", &id, 1, &big).unwrap().value;
    let p2 = part("big.bin", &id, 2, b"tail").unwrap().value;
    assert_eq!(p1["partNumber"], json!(1));
    // Nothing is visible before completion.
    assert_eq!(
        ok(&f.b, "r2.head", "BUCKET", json!({"key":"big.bin"}), b"").value,
        Value::Null
    );
    assert_eq!(
        ok(&f.b, "r2.list", "BUCKET", json!({}), b"").value["objects"],
        json!([])
    );

    // Part numbers and the upload id are checked like R2 does.
    let e = part("big.bin", &id, 0, b"x").unwrap_err();
    assert_eq!(e.py_type(), "TypeError");
    assert_eq!(
        e.to_string(),
        "Part number must be between 1 and 10000 (inclusive). Actual value was: 0"
    );
    assert_eq!(
        part("big.bin", "nope", 1, b"x").unwrap_err().to_string(),
        "uploadPart: The specified multipart upload does not exist. (10024)"
    );
    assert_eq!(
        part("other-key", &id, 1, b"x").unwrap_err().to_string(),
        "uploadPart: The specified multipart upload does not exist. (10024)"
    );
    let complete = |id: &str, parts: Value| {
        call(
            &f.b,
            "r2.mpu.complete",
            "BUCKET",
            json!({"key":"big.bin","upload_id":id,"parts":parts}),
            b"",
        )
    };
    assert_eq!(
        complete(&id, json!([{"partNumber":1,"etag":"wrong"}]))
            .unwrap_err()
            .to_string(),
        "completeMultipartUpload: One or more of the specified parts could not be found. (10025)"
    );
    assert_eq!(
        complete(&id, json!([p1, p1])).unwrap_err().to_string(),
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    );
    assert_eq!(
        complete(&id, json!([p2, p1])).unwrap_err().to_string(),
        "completeMultipartUpload: Your proposed upload is smaller than the minimum allowed object size. (10011)"
    );
    assert_eq!(
        complete("unknown", json!([p1])).unwrap_err().to_string(),
        "completeMultipartUpload: We encountered an internal error. Please try again. (10001)"
    );

    let meta = complete(&id, json!([p1, p2])).unwrap().value;
    let mut md5s = Md5::digest(&big).to_vec();
    md5s.extend(Md5::digest(b"tail"));
    let etag = format!("{}-2", sqlite::hex(&Md5::digest(&md5s)));
    assert_eq!(meta["etag"], json!(etag));
    assert_eq!(meta["size"], json!(big.len() + 4));
    assert_eq!(
        meta["httpMetadata"]["contentType"],
        json!("application/x-big")
    );
    assert_eq!(meta["customMetadata"], json!({"n":"2"}));
    // The parts are the body now (as miniflare keeps them): nothing is copied.
    let blobs_dir = f.b.state_dir().join("v3/r2/b/blobs");
    assert_eq!(
        std::fs::read_dir(&blobs_dir).unwrap().count(),
        2,
        "the two parts' blobs, nothing else"
    );

    // A completed upload is gone for parts and completion, a no-op to abort.
    assert_eq!(
        part("big.bin", &id, 3, b"x").unwrap_err().to_string(),
        "uploadPart: The specified multipart upload does not exist. (10024)"
    );
    assert_eq!(
        complete(&id, json!([p1, p2])).unwrap_err().to_string(),
        "completeMultipartUpload: The specified multipart upload does not exist. (10024)"
    );
    ok(
        &f.b,
        "r2.mpu.abort",
        "BUCKET",
        json!({"key":"big.bin","upload_id":id}),
        b"",
    );
    assert_eq!(
        err(
            &f.b,
            "r2.mpu.abort",
            json!({"key":"big.bin","upload_id":"unknown"}),
            b""
        ),
        "abortMultipartUpload: We encountered an internal error. Please try again. (10001)"
    );

    // Persisted: a fresh process reads the assembled object.
    let again = open_at(f.b.state_dir(), f.now.clone());
    let got = ok(&again, "r2.get", "BUCKET", json!({"key":"big.bin"}), b"");
    assert_eq!(got.body.len(), big.len() + 4);
    assert!(got.body.ends_with(b"atail"));
    assert_eq!(
        got.value["range"],
        json!({"offset":0,"length":big.len() + 4})
    );
    assert_eq!(got.value["etag"], json!(etag));
    let tail = ok(
        &again,
        "r2.get",
        "BUCKET",
        json!({"key":"big.bin","range":{"suffix":6}}),
        b"",
    );
    assert_eq!(tail.body, b"aatail");
    for bad in [
        json!({"suffix":0}),
        json!({"offset":big.len() + 5}),
        json!({"offset":0,"length":0}),
    ] {
        assert_eq!(
            err(&again, "r2.get", json!({"key":"big.bin","range":bad}), b""),
            "get: The requested range is not satisfiable (10039)"
        );
    }

    // Abort drops the parts; the upload cannot be used afterwards.
    let id2 = create("x.bin");
    part("x.bin", &id2, 1, b"p").unwrap();
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 3);
    ok(
        &f.b,
        "r2.mpu.abort",
        "BUCKET",
        json!({"key":"x.bin","upload_id":id2}),
        b"",
    );
    assert_eq!(std::fs::read_dir(&blobs_dir).unwrap().count(), 2);
    assert_eq!(
        part("x.bin", &id2, 1, b"p").unwrap_err().to_string(),
        "uploadPart: The specified multipart upload does not exist. (10024)"
    );

    // Unequal middle parts are a bad upload, as in R2.
    let id3 = create("big.bin");
    let mut bigger = big.clone();
    bigger.push(b'b');
    let q1 = part("big.bin", &id3, 1, &bigger).unwrap().value;
    let q2 = part("big.bin", &id3, 2, &big).unwrap().value;
    let q3 = part("big.bin", &id3, 3, b"z").unwrap().value;
    assert_eq!(
        complete(&id3, json!([q1, q2, q3])).unwrap_err().to_string(),
        "completeMultipartUpload: There was a problem with the multipart upload. (10048)"
    );

    // A part missing on disk fails the completion without publishing anything.
    let id4 = create("big.bin");
    let r1 = part("big.bin", &id4, 1, &big).unwrap().value;
    let r2 = part("big.bin", &id4, 2, b"new").unwrap().value;
    for entry in std::fs::read_dir(&blobs_dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::metadata(&path).unwrap().len() == 3 {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(complete(&id4, json!([r1, r2])).is_err());
    let still = ok(&f.b, "r2.head", "BUCKET", json!({"key":"big.bin"}), b"").value;
    assert_eq!(still["etag"], json!(etag), "the old object stays visible");
    assert_eq!(
        ok(&f.b, "r2.get", "BUCKET", json!({"key":"big.bin"}), b"")
            .body
            .len(),
        big.len() + 4
    );
    assert_eq!(
        r2_unindexed_blobs(f.b.state_dir()),
        Vec::<String>::new(),
        "no blob is left behind unindexed"
    );
}

/// The R2 index of bucket `b` under `state`.
fn r2_index(state: &std::path::Path) -> rusqlite::Connection {
    let path = miniflare::r2_path(&state.join("v3"), "b");
    rusqlite::Connection::open(path).expect("r2 index")
}

/// Blob files of bucket `b` no index row names.
fn r2_unindexed_blobs(state: &std::path::Path) -> Vec<String> {
    let conn = r2_index(state);
    let mut stmt = conn
        .prepare(
            "SELECT blob_id FROM _mf_objects WHERE blob_id IS NOT NULL
             UNION SELECT blob_id FROM _mf_multipart_parts",
        )
        .unwrap();
    let live: std::collections::HashSet<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    std::fs::read_dir(state.join("v3/r2/b/blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !live.contains(n))
        .collect()
}

#[test]
fn r2_only_if_checksums_and_list_options() {
    let f = fixture();
    let put = |args: Value, body: &[u8]| ok(&f.b, "r2.put", "BUCKET", args, body).value;
    let meta = put(
        json!({"key":"a","custom_metadata":{"c":"1"},"http_metadata":{"contentType":"text/plain"}}),
        b"one",
    );
    let etag = meta["etag"].as_str().unwrap().to_string();
    let get = |only_if: Value| {
        ok(
            &f.b,
            "r2.get",
            "BUCKET",
            json!({"key":"a","only_if":only_if}),
            b"",
        )
    };

    let failed = get(json!({"etag_matches":[{"type":"strong","value":"nope"}]}));
    assert_eq!(failed.value["precondition_failed"], json!(true));
    assert_eq!(failed.value["key"], json!("a"));
    assert!(failed.body.is_empty());
    assert_eq!(
        get(json!({"etag_matches":[{"type":"strong","value":etag}]})).body,
        b"one"
    );
    assert_eq!(
        get(json!({"etag_matches":[{"type":"wildcard"}]})).body,
        b"one"
    );
    assert_eq!(
        get(json!({"etag_does_not_match":[{"type":"strong","value":etag}]})).value["precondition_failed"],
        json!(true)
    );
    // If-None-Match compares weakly, If-Match strongly.
    assert_eq!(
        get(json!({"etag_does_not_match":[{"type":"weak","value":etag}]})).value["precondition_failed"],
        json!(true)
    );
    assert_eq!(
        get(json!({"etag_matches":[{"type":"weak","value":etag}]})).value["precondition_failed"],
        json!(true)
    );
    assert_eq!(
        get(json!({"uploaded_before": T0})).value["precondition_failed"],
        json!(true)
    );
    assert_eq!(get(json!({"uploaded_before": T0 + 1})).body, b"one");
    assert_eq!(get(json!({"uploaded_after": T0 - 1})).body, b"one");
    assert_eq!(
        get(json!({"uploaded_after": T0})).value["precondition_failed"],
        json!(true)
    );
    // Seconds granularity (HTTP dates): T0 + 500 ms is the same second as T0.
    assert_eq!(
        get(json!({"uploaded_after": T0 - 500, "seconds_granularity": true})).body,
        b"one"
    );
    assert_eq!(
        get(json!({"uploaded_before": T0 + 500, "seconds_granularity": true})).value["precondition_failed"],
        json!(true)
    );
    // A missing object is null whatever the condition.
    assert_eq!(
        ok(
            &f.b,
            "r2.get",
            "BUCKET",
            json!({"key":"zz","only_if":{"etag_matches":"x"}}),
            b""
        )
        .value,
        Value::Null
    );

    // Conditional put: null when the precondition fails, and nothing changes.
    let r = put(
        json!({"key":"a","only_if":{"etag_matches":[{"type":"strong","value":"nope"}]}}),
        b"two",
    );
    assert_eq!(r, Value::Null);
    assert_eq!(
        ok(&f.b, "r2.get", "BUCKET", json!({"key":"a"}), b"").body,
        b"one"
    );
    let r = put(
        json!({"key":"a","only_if":{"etag_matches":[{"type":"strong","value":etag}]}}),
        b"two",
    );
    assert_eq!(r["size"], json!(3));
    assert_eq!(
        ok(&f.b, "r2.get", "BUCKET", json!({"key":"a"}), b"").body,
        b"two"
    );
    // Create-only: If-None-Match: * succeeds once.
    let create_only = json!({"key":"new","only_if":{"etag_does_not_match":[{"type":"wildcard"}]}});
    assert_eq!(put(create_only.clone(), b"1")["key"], json!("new"));
    assert_eq!(put(create_only, b"2"), Value::Null);
    assert_eq!(
        put(
            json!({"key":"missing","only_if":{"etag_matches":[{"type":"wildcard"}]}}),
            b"1"
        ),
        Value::Null
    );
    let blobs = std::fs::read_dir(f.b.state_dir().join("v3/r2/b/blobs"))
        .unwrap()
        .count();
    assert_eq!(blobs, 2, "refused puts leave no body behind");

    // Checksums: a mismatch is R2's BadDigest; a match is returned.
    let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let ok_sum = put(json!({"key":"e","sha256":sha}), b"");
    assert_eq!(ok_sum["checksums"]["sha256"], json!(sha));
    assert_eq!(
        ok_sum["checksums"]["md5"],
        json!("d41d8cd98f00b204e9800998ecf8427e")
    );
    let e = err(
        &f.b,
        "r2.put",
        json!({"key":"e","md5":"00000000000000000000000000000000"}),
        b"",
    );
    assert_eq!(
        e,
        "put: The MD5 checksum you specified did not match what we received.\nYou provided a MD5 checksum with value: 00000000000000000000000000000000\nActual MD5 was: d41d8cd98f00b204e9800998ecf8427e (10037)"
    );
    let long_key = "k".repeat(1025);
    assert_eq!(
        err(&f.b, "r2.put", json!({"key":long_key}), b""),
        "put: The specified object name is not valid. (10020)"
    );
    let fat = json!({"key":"m","custom_metadata":{"k":"v".repeat(2048)}});
    assert_eq!(
        err(&f.b, "r2.put", fat, b""),
        "put: Your metadata headers exceed the maximum allowed metadata size. (10012)"
    );

    // list: metadata only with `include`, `startAfter` honoured.
    let plain = ok(&f.b, "r2.list", "BUCKET", json!({}), b"").value;
    let first = &plain["objects"][0];
    assert_eq!(
        (
            first["key"].clone(),
            first["customMetadata"].clone(),
            first["httpMetadata"].clone()
        ),
        (json!("a"), json!({}), json!({}))
    );
    let inc = ok(
        &f.b,
        "r2.list",
        "BUCKET",
        json!({"include":["customMetadata"]}),
        b"",
    )
    .value;
    assert_eq!(
        inc["objects"][0]["customMetadata"],
        json!({}),
        "the conditional put replaced the metadata"
    );
    put(
        json!({"key":"a","custom_metadata":{"c":"2"},"http_metadata":{"contentType":"x/y"}}),
        b"3",
    );
    let inc = ok(
        &f.b,
        "r2.list",
        "BUCKET",
        json!({"include":["customMetadata"]}),
        b"",
    )
    .value;
    assert_eq!(inc["objects"][0]["customMetadata"], json!({"c":"2"}));
    assert_eq!(
        inc["objects"][0]["httpMetadata"],
        Value::Null,
        "not included: unknown"
    );
    let after = ok(&f.b, "r2.list", "BUCKET", json!({"startAfter":"a"}), b"").value;
    let keys: Vec<&str> = after["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["e", "new"]);
    assert_eq!(
        err(&f.b, "r2.list", json!({"limit":0}), b""),
        "list: MaxKeys params must be positive integer <= 1000. (10022)"
    );
}

#[test]
fn r2_open_sweeps_files_a_crash_left_unindexed() {
    let f = fixture();
    ok(&f.b, "r2.put", "BUCKET", json!({"key":"kept"}), b"body");
    let id =
        ok(&f.b, "r2.mpu.create", "BUCKET", json!({"key":"m"}), b"").value["upload_id"].clone();
    let part = ok(
        &f.b,
        "r2.mpu.part",
        "BUCKET",
        json!({"key":"m","upload_id":id,"part_number":1}),
        b"p",
    )
    .value;
    let root = f.b.state_dir().join("v3/r2/b");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in ["orphan-old", "orphan-old-2", "orphan-new"] {
        let path = root.join("blobs").join(name);
        std::fs::write(&path, b"x").unwrap();
        if name.contains("old") {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    // Make the indexed files old too: they must survive because they are referenced.
    for dir in ["blobs"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("orphan")
            {
                continue;
            }
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
    }
    let again = open_at(f.b.state_dir(), f.now.clone());
    let names = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    // The object's body and the uploaded part stay, the old orphans go.
    assert_eq!(names("blobs").len(), 3, "{:?}", names("blobs"));
    assert!(
        names("blobs").contains(&"orphan-new".to_string()),
        "young files are left alone"
    );
    assert_eq!(
        ok(&again, "r2.get", "BUCKET", json!({"key":"kept"}), b"").body,
        b"body"
    );
    ok(
        &again,
        "r2.mpu.complete",
        "BUCKET",
        json!({"key":"m","upload_id":id,"parts":[part]}),
        b"",
    );
    assert_eq!(
        ok(&again, "r2.get", "BUCKET", json!({"key":"m"}), b"").body,
        b"p"
    );
}

/// What `dev` writes is what miniflare (wrangler 4.86.0) reads: the rows and
/// blob files it expects, a multipart object as its linked parts.
#[test]
fn r2_objects_are_stored_as_miniflare_stores_them() {
    let f = fixture();
    ok(
        &f.b,
        "r2.put",
        "BUCKET",
        json!({"key":"dir/f.txt","http_metadata":{"contentType":"text/plain"}}),
        b"abc",
    );
    let state = f.b.state_dir();
    let blobs = state.join("v3/r2/b/blobs");
    let conn = r2_index(state);
    let (blob, version, size, etag, checksums, http, custom): (
        String,
        String,
        i64,
        String,
        String,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT blob_id, version, size, etag, checksums, http_metadata, custom_metadata
             FROM _mf_objects WHERE key = 'dir/f.txt'",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(blob.len(), 80);
    assert_eq!(version.len(), 32);
    assert_eq!(
        (size, etag.as_str()),
        (3, "900150983cd24fb0d6963f7d28e17f72")
    );
    assert_eq!(
        (checksums.as_str(), http.as_str(), custom.as_str()),
        ("{}", r#"{"contentType":"text/plain"}"#, "{}")
    );
    assert_eq!(std::fs::read(blobs.join(&blob)).unwrap(), b"abc");

    // Multipart: the object row has no blob; its parts are linked to it.
    let id = ok(&f.b, "r2.mpu.create", "BUCKET", json!({"key":"mp"}), b"").value["upload_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 171, "128 random bytes in base64url, as miniflare");
    let big = vec![b'x'; crate::bindings::r2::multipart::MIN_PART_BYTES as usize];
    let mut parts = Vec::new();
    for (n, body) in [(1, &big[..]), (2, b"tail"), (3, b"unused")] {
        parts.push(
            ok(
                &f.b,
                "r2.mpu.part",
                "BUCKET",
                json!({"key":"mp","upload_id":id,"part_number":n}),
                body,
            )
            .value,
        );
    }
    ok(
        &f.b,
        "r2.mpu.complete",
        "BUCKET",
        json!({"key":"mp","upload_id":id,"parts":[parts[0], parts[1]]}),
        b"",
    );
    let (blob, size, checksums): (Option<String>, i64, String) = conn
        .query_row(
            "SELECT blob_id, size, checksums FROM _mf_objects WHERE key = 'mp'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (blob, size, checksums.as_str()),
        (None, big.len() as i64 + 4, "{}")
    );
    let state_of = |id: &str| -> i64 {
        conn.query_row(
            "SELECT state FROM _mf_multipart_uploads WHERE upload_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(state_of(&id), 1);
    // Read it as miniflare does: the linked parts' blobs in part order.
    let mut stmt = conn
        .prepare(
            "SELECT blob_id FROM _mf_multipart_parts WHERE object_key = 'mp' ORDER BY part_number",
        )
        .unwrap();
    let linked: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(linked.len(), 2, "the unused part is dropped");
    let mut body = Vec::new();
    for b in &linked {
        body.extend(std::fs::read(blobs.join(b)).unwrap());
    }
    assert_eq!(body.len(), big.len() + 4);
    assert!(body.ends_with(b"xtail"));
    assert_eq!(r2_unindexed_blobs(state), Vec::<String>::new());

    // An aborted upload is state 2 and keeps no parts.
    let id2 = ok(&f.b, "r2.mpu.create", "BUCKET", json!({"key":"ab"}), b"").value["upload_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &f.b,
        "r2.mpu.part",
        "BUCKET",
        json!({"key":"ab","upload_id":id2,"part_number":1}),
        b"zz",
    );
    ok(
        &f.b,
        "r2.mpu.abort",
        "BUCKET",
        json!({"key":"ab","upload_id":id2}),
        b"",
    );
    assert_eq!(state_of(&id2), 2);

    // Overwriting the multipart object drops its parts; deleting drops the blob.
    ok(&f.b, "r2.put", "BUCKET", json!({"key":"mp"}), b"small");
    let linked_left: i64 = conn
        .query_row("SELECT count(*) FROM _mf_multipart_parts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(linked_left, 0);
    ok(&f.b, "r2.delete", "BUCKET", json!({"key":"mp"}), b"");
    assert_eq!(
        std::fs::read_dir(&blobs).unwrap().count(),
        1,
        "dir/f.txt only"
    );
}

/// Rows and blobs as miniflare writes them (wrangler 4.86.0's observed row,
/// and a multipart object of small parts) are served by `dev`.
#[test]
fn r2_reads_objects_miniflare_wrote() {
    let f = fixture();
    let state = f.b.state_dir();
    let blobs = state.join("v3/r2/b/blobs");
    let conn = r2_index(state);
    let blob = |name: &str, body: &[u8]| {
        let id = format!("{:0>64}{:016x}", name, 0x1a2_0312_939e_u64);
        std::fs::write(blobs.join(&id), body).unwrap();
        id
    };
    let single = blob("aa", b"abc");
    conn.execute(
        "INSERT INTO _mf_objects VALUES ('dir/f.txt', ?1, '68a7157f00377671568e6e5cdf3dc53e', 3,
         '900150983cd24fb0d6963f7d28e17f72', 1795341878232, '{}', '{\"contentType\":\"text/plain\"}', '{}')",
        [&single],
    )
    .unwrap();
    let (p1, p2, p3) = (
        blob("b1", b"hello "),
        blob("b2", b"multipart "),
        blob("b3", b"world"),
    );
    conn.execute_batch(&format!(
        "INSERT INTO _mf_objects VALUES ('mp', NULL, '5ca4b1cd911431701fe5f39413904918', 21,
           '0a201666cd36d97bba1aba188361ab8e-3', 1795347878792, '{{}}', '{{}}', '{{\"a\":\"1\"}}');
         INSERT INTO _mf_multipart_uploads VALUES ('up', 'mp', '{{}}', '{{\"a\":\"1\"}}', 1);
         INSERT INTO _mf_multipart_parts VALUES ('up', 3, '{p3}', 5, 'e3', 'm3', 'mp');
         INSERT INTO _mf_multipart_parts VALUES ('up', 1, '{p1}', 6, 'e1', 'm1', 'mp');
         INSERT INTO _mf_multipart_parts VALUES ('up', 2, '{p2}', 10, 'e2', 'm2', 'mp');"
    ))
    .unwrap();
    let got = ok(&f.b, "r2.get", "BUCKET", json!({"key":"dir/f.txt"}), b"");
    assert_eq!(got.body, b"abc");
    assert_eq!(
        got.value["checksums"],
        json!({"md5":"900150983cd24fb0d6963f7d28e17f72"})
    );
    assert_eq!(
        got.value["httpMetadata"]["contentType"],
        json!("text/plain")
    );
    let mp = ok(&f.b, "r2.get", "BUCKET", json!({"key":"mp"}), b"");
    assert_eq!(mp.body, b"hello multipart world");
    assert_eq!(mp.value["checksums"], json!({}));
    assert_eq!(mp.value["customMetadata"], json!({"a":"1"}));
    // Ranges read only the parts they cover, across part boundaries.
    for (range, want) in [
        (json!({"offset":4,"length":4}), &b"o mu"[..]),
        (json!({"offset":6,"length":10}), b"multipart "),
        (json!({"suffix":7}), b"t world"),
        (json!({"offset":20}), b"d"),
    ] {
        let r = ok(
            &f.b,
            "r2.get",
            "BUCKET",
            json!({"key":"mp","range":range}),
            b"",
        );
        assert_eq!(r.body, want, "{range}");
    }
    // Deleting removes the row, the part rows and the part files.
    ok(&f.b, "r2.delete", "BUCKET", json!({"key":"mp"}), b"");
    for p in [&p1, &p2, &p3] {
        assert!(!blobs.join(p).exists());
    }
    assert!(blobs.join(&single).exists());
}

#[test]
fn r2_bucket_from_an_earlier_layout_is_imported_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("v3/r2/b");
    std::fs::create_dir_all(old.join("blobs")).unwrap();
    std::fs::create_dir_all(old.join("parts")).unwrap();
    std::fs::write(old.join("blobs/v1"), b"old body").unwrap();
    std::fs::write(old.join("blobs/v2"), b"no checksums").unwrap();
    std::fs::write(old.join("parts/f1"), b"part one").unwrap();
    {
        let c = rusqlite::Connection::open(old.join("index.sqlite")).unwrap();
        c.execute_batch(
            "CREATE TABLE objects (key TEXT PRIMARY KEY, version TEXT NOT NULL, size INTEGER NOT NULL,
               etag TEXT NOT NULL, uploaded INTEGER NOT NULL, http_metadata TEXT NOT NULL,
               custom_metadata TEXT NOT NULL, checksums TEXT) WITHOUT ROWID;
             CREATE TABLE multipart_uploads (upload_id TEXT PRIMARY KEY, key TEXT NOT NULL,
               http_metadata TEXT NOT NULL, custom_metadata TEXT NOT NULL,
               state INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
             CREATE TABLE multipart_parts (upload_id TEXT NOT NULL, part_number INTEGER NOT NULL,
               file TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, md5 TEXT NOT NULL,
               PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
             INSERT INTO objects VALUES ('a.txt', 'v1', 8, '0123456789abcdef0123456789abcdef', 1700000000000,
               '{\"contentType\":\"text/plain\"}', '{\"o\":\"1\"}', '{\"md5\":\"0123456789abcdef0123456789abcdef\",\"sha1\":\"s\"}');
             INSERT INTO objects VALUES ('b.txt', 'v2', 12, 'fedcba9876543210fedcba9876543210', 1700000000001,
               '{}', '{}', NULL);
             INSERT INTO multipart_uploads VALUES ('u1', 'm.bin', '{}', '{}', 0);
             INSERT INTO multipart_uploads VALUES ('u2', 'done.bin', '{}', '{}', 1);
             INSERT INTO multipart_parts VALUES ('u1', 1, 'f1', 8, 'petag', '00');",
        )
        .unwrap();
    }
    let now = Arc::new(AtomicI64::new(T0));
    let b = open_at(dir.path(), now.clone());
    let a = ok(&b, "r2.get", "BUCKET", json!({"key":"a.txt"}), b"");
    assert_eq!(a.body, b"old body");
    assert_eq!(a.value["version"], json!("v1"));
    assert_eq!(a.value["uploaded"], json!("2023-11-14T22:13:20.000Z"));
    assert_eq!(a.value["customMetadata"], json!({"o":"1"}));
    assert_eq!(a.value["checksums"]["sha1"], json!("s"));
    let b2 = ok(&b, "r2.get", "BUCKET", json!({"key":"b.txt"}), b"");
    assert_eq!(b2.body, b"no checksums");
    assert_eq!(
        b2.value["checksums"],
        json!({"md5":"fedcba9876543210fedcba9876543210"})
    );
    // The upload in progress goes on with its part; the finished one stays finished.
    let done = ok(
        &b,
        "r2.mpu.complete",
        "BUCKET",
        json!({"key":"m.bin","upload_id":"u1","parts":[{"partNumber":1,"etag":"petag"}]}),
        b"",
    );
    assert_eq!(done.value["size"], json!(8));
    assert_eq!(
        ok(&b, "r2.get", "BUCKET", json!({"key":"m.bin"}), b"").body,
        b"part one"
    );
    assert_eq!(
        err(
            &b,
            "r2.mpu.part",
            json!({"key":"done.bin","upload_id":"u2","part_number":1}),
            b"x"
        ),
        "uploadPart: The specified multipart upload does not exist. (10024)"
    );
    // The earlier files are gone; the bodies now have blob ids.
    for gone in ["index.sqlite", "blobs/v1", "blobs/v2", "parts"] {
        assert!(!old.join(gone).exists(), "{gone} should be gone");
    }
    assert_eq!(r2_unindexed_blobs(dir.path()), Vec::<String>::new());
    assert_eq!(std::fs::read_dir(old.join("blobs")).unwrap().count(), 3);
    drop(b);
    let again = open_at(dir.path(), now);
    assert_eq!(
        ok(&again, "r2.get", "BUCKET", json!({"key":"a.txt"}), b"").body,
        b"old body"
    );
}
