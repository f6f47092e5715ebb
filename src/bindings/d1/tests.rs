//! D1: round trips through the real SQLite-backed store, driven by the
//! same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::dev::bindings::test_support::*;

#[test]
fn d1_create_insert_select_modes() {
    let f = fixture();
    let r = ok(&f.b, "d1.exec", "DB", json!({"sql":"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);\nCREATE INDEX t_name ON t(name);"}), b"").value;
    assert_eq!(r["count"], json!(2));
    let r = ok(&f.b, "d1.query", "DB", json!({"sql":"INSERT INTO t (name, score, data) VALUES (?, ?, ?)","params":["ann", 1.5, [1,2,3]],"mode":"run"}), b"").value;
    assert_eq!(r["success"], json!(true));
    assert_eq!(r["meta"]["changes"], json!(1));
    assert_eq!(r["meta"]["last_row_id"], json!(1));
    assert_eq!(r["meta"]["changed_db"], json!(true));
    assert!(r["meta"]["size_after"].as_i64().expect("size") > 0);
    ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"INSERT INTO t (name, score) VALUES (?1, ?2)","params":["bob", true],"mode":"run"}),
        b"",
    );
    let all = ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT id, name, score, data FROM t ORDER BY id","params":[],"mode":"all"}),
        b"",
    )
    .value;
    assert_eq!(
        all["results"],
        json!([
            {"id":1,"name":"ann","score":1.5,"data":[1,2,3]},
            {"id":2,"name":"bob","score":1,"data":null}
        ])
    );
    assert_eq!(all["meta"]["rows_read"], json!(2));
    assert_eq!(all["meta"]["changes"], json!(0));
    let first = ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT name FROM t WHERE id = ?","params":[2],"mode":"first"}),
        b"",
    )
    .value;
    assert_eq!(first, json!({"name":"bob"}));
    let col = ok(&f.b, "d1.query", "DB", json!({"sql":"SELECT name FROM t WHERE id = ?","params":[1],"mode":"first","column":"name"}), b"").value;
    assert_eq!(col, json!("ann"));
    let none = ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT name FROM t WHERE id = 99","mode":"first"}),
        b"",
    )
    .value;
    assert_eq!(none, Value::Null);
    let raw = ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT id, name FROM t ORDER BY id","mode":"raw","column_names":true}),
        b"",
    )
    .value;
    assert_eq!(raw, json!([["id", "name"], [1, "ann"], [2, "bob"]]));
    let e = call(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT name FROM t","mode":"first","column":"nope"}),
        b"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("D1_COLUMN_NOTFOUND"), "{e}");
    let e = call(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT * FROM missing","mode":"all"}),
        b"",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("D1_ERROR: no such table: missing"),
        "{e}"
    );
    let e = call(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT ?","params":[{"a":1}],"mode":"all"}),
        b"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("D1_TYPE_ERROR"), "{e}");
    let e = call(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT ?, ?","params":[1],"mode":"all"}),
        b"",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("Wrong number of parameter bindings"),
        "{e}"
    );
}

#[test]
fn d1_batch_is_one_transaction() {
    let f = fixture();
    ok(
        &f.b,
        "d1.exec",
        "DB",
        json!({"sql":"CREATE TABLE n (v INTEGER UNIQUE)"}),
        b"",
    );
    let r = ok(
        &f.b,
        "d1.batch",
        "DB",
        json!({"statements":[
            {"sql":"INSERT INTO n VALUES (?)","params":[1]},
            {"sql":"INSERT INTO n VALUES (?)","params":[2]},
            {"sql":"SELECT count(*) AS c FROM n","params":[]}
        ]}),
        b"",
    )
    .value;
    assert_eq!(r[2]["results"], json!([{"c":2}]));
    let e = call(
        &f.b,
        "d1.batch",
        "DB",
        json!({"statements":[
            {"sql":"INSERT INTO n VALUES (?)","params":[3]},
            {"sql":"INSERT INTO n VALUES (?)","params":[1]}
        ]}),
        b"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("UNIQUE"), "{e}");
    let c = ok(
        &f.b,
        "d1.query",
        "DB",
        json!({"sql":"SELECT count(*) AS c FROM n","mode":"first","column":"c"}),
        b"",
    )
    .value;
    assert_eq!(c, json!(2), "the failed batch must have rolled back");
}

#[test]
fn d1_migrations_apply_once_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).expect("mkdir");
    std::fs::write(
        migrations.join("0002_more.sql"),
        "INSERT INTO notes (body) VALUES ('seed');",
    )
    .expect("write");
    std::fs::write(
        migrations.join("0001_init.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .expect("write");
    std::fs::write(migrations.join("README.md"), "not sql").expect("write");
    let db =
        crate::bindings::d1::store::D1Database::open(&dir.path().join("db.sqlite")).expect("open");
    assert_eq!(
        db.apply_migrations(&migrations, "d1_migrations")
            .expect("apply"),
        ["0001_init.sql", "0002_more.sql"]
    );
    assert!(
        db.apply_migrations(&migrations, "d1_migrations")
            .expect("again")
            .is_empty()
    );
    let rows = db
        .handle(
            "query",
            &json!({"sql":"SELECT body FROM notes","mode":"raw"}),
        )
        .expect("query");
    assert_eq!(rows.value, json!([["seed"]]));
    std::fs::write(migrations.join("0003_bad.sql"), "CREATE TABLE notes (x);").expect("write");
    let e = db
        .apply_migrations(&migrations, "d1_migrations")
        .unwrap_err();
    assert!(e.to_string().contains("0003_bad.sql"), "{e}");
}
