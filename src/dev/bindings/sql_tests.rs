//! Worker SQL stays inside its database and inside its time (issue 10,
//! items 1 and 4): D1 and Durable Object SQL driven through the same ops the
//! guest sends, against real SQLite files.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::sql_guard::{self, RequestDeadline};
use super::*;
use crate::bindings::{d1, durable};

/// Counts forever: the runaway query of the issue.
const RUNAWAY: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) AS n FROM c";

const NOT_AUTHORIZED: &str = "D1_ERROR: not authorized: SQLITE_AUTH";
const D1_TIMED_OUT: &str = "D1_ERROR: D1 DB exceeded its CPU time limit and was reset.";

/// Longest a test waits for a query that should have been interrupted.
const NEVER: Duration = Duration::from_secs(30);

fn open(dir: &Path, limit: Option<Duration>) -> Arc<LocalBindings> {
    let config = BindingsConfig {
        state_dir: dir.join("state"),
        worker_name: "w".into(),
        d1: vec![("DB".into(), "db-1".into())],
        durable_objects: vec![("ROOM".into(), "Room".into())],
        sql_time_limit: limit,
        ..BindingsConfig::default()
    };
    Arc::new(LocalBindings::open(config, system_clock()).expect("open"))
}

fn call(b: &LocalBindings, op: &str, args: Value) -> OpResult<Value> {
    let binding = if op.starts_with("d1.") { "DB" } else { "" };
    b.call(
        &json!({"v":1,"op":op,"binding":binding,"args":args}),
        Vec::new(),
        None,
    )
    .map(|r| r.value)
}

fn d1(b: &LocalBindings, sql: &str) -> OpResult<Value> {
    call(b, "d1.query", json!({"sql":sql,"mode":"all"}))
}

fn d1_exec(b: &LocalBindings, sql: &str) -> OpResult<Value> {
    call(b, "d1.exec", json!({"sql":sql}))
}

fn room() -> String {
    durable::id_from_name("Room", "a")
}

fn do_sql(b: &LocalBindings, sql: &str, params: Value) -> OpResult<Value> {
    call(
        b,
        "do.storage.sql",
        json!({"class":"Room","id":room(),"sql":sql,"params":params}),
    )
}

fn err(r: OpResult<Value>) -> String {
    match r {
        Ok(v) => panic!("should fail, got {v}"),
        Err(e) => e.to_string(),
    }
}

/// Start `f` on another thread; [`finished`] gives its result.
fn started<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// The result of a [`started`] call; fails the test if it has not returned
/// in `NEVER` (before the fix, runaway SQL never did).
fn finished<T>(call: mpsc::Receiver<T>) -> T {
    call.recv_timeout(NEVER)
        .expect("the SQL call never returned: nothing interrupted it")
}

/// Run `f` on another thread, bounded as [`finished`] is.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    finished(started(f))
}

#[test]
fn d1_sql_cannot_create_or_read_host_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(dir.path(), None);
    d1_exec(&b, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)").unwrap();
    let attached = dir.path().join("attached.sqlite");
    let vacuumed = dir.path().join("vacuumed.sqlite");
    let (a, v) = (attached.display(), vacuumed.display());

    assert_eq!(
        err(d1_exec(
            &b,
            &format!("ATTACH DATABASE '{a}' AS e; CREATE TABLE e.t (x TEXT)")
        )),
        "D1_EXEC_ERROR: not authorized: SQLITE_AUTH"
    );
    for sql in [
        format!("ATTACH DATABASE '{a}' AS e"),
        format!("ATTACH DATABASE 'file:{a}?mode=rwc' AS e"),
        format!("VACUUM INTO '{v}'"),
        "VACUUM".to_string(),
        "DETACH DATABASE main".to_string(),
        "PRAGMA journal_mode = DELETE".to_string(),
        "PRAGMA main.journal_mode".to_string(),
        format!("PRAGMA temp_store_directory = '{}'", dir.path().display()),
        "PRAGMA writable_schema = ON".to_string(),
        "SELECT load_extension('/nonexistent/libevil')".to_string(),
        "CREATE TEMP TABLE scratch (x)".to_string(),
        "CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1)".to_string(),
    ] {
        assert_eq!(err(d1(&b, &sql)), NOT_AUTHORIZED, "{sql}");
    }
    let batch = call(
        &b,
        "d1.batch",
        json!({"statements":[
            {"sql":"INSERT INTO users (name) VALUES ('ann')"},
            {"sql":format!("ATTACH DATABASE '{a}' AS e")},
        ]}),
    );
    assert_eq!(err(batch), NOT_AUTHORIZED);
    assert!(!attached.exists(), "ATTACH created {a}");
    assert!(!vacuumed.exists(), "VACUUM INTO created {v}");
    assert_eq!(
        err(d1(&b, "CREATE TABLE _cf_mine (x)")),
        "D1_ERROR: access to _cf_mine is prohibited: SQLITE_AUTH"
    );

    // What D1 allows still works, and so does the tool's own SQL around it
    // (`meta.size_after` reads pragmas worker SQL may not).
    for sql in [
        "PRAGMA foreign_keys = OFF",
        "PRAGMA defer_foreign_keys = 'on'",
        "PRAGMA optimize",
        "PRAGMA table_list",
        "CREATE VIRTUAL TABLE docs USING fts5(body)",
    ] {
        d1(&b, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let info = d1(&b, "PRAGMA table_info(users)").unwrap();
    assert_eq!(info["results"][1]["name"], json!("name"));
    let info = d1(
        &b,
        "SELECT name FROM pragma_table_info('users') ORDER BY cid",
    )
    .unwrap();
    assert_eq!(info["results"][0]["name"], json!("id"));
    let r = d1(&b, "INSERT INTO users (name) VALUES ('bob')").unwrap();
    assert!(r["meta"]["size_after"].as_i64().unwrap() > 0, "{r}");
    let rows = d1(&b, "SELECT name FROM users").unwrap();
    assert_eq!(
        rows["results"],
        json!([{"name":"bob"}]),
        "the batch rolled back"
    );
}

#[test]
fn durable_object_sql_cannot_create_or_read_host_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(dir.path(), None);
    let attached = dir.path().join("attached.sqlite");
    let vacuumed = dir.path().join("vacuumed.sqlite");
    for sql in [
        format!("ATTACH DATABASE '{}' AS e", attached.display()),
        format!("VACUUM INTO '{}'", vacuumed.display()),
        "PRAGMA journal_mode = MEMORY".to_string(),
    ] {
        assert_eq!(
            err(do_sql(&b, &sql, json!([]))),
            "not authorized: SQLITE_AUTH",
            "{sql}"
        );
    }
    assert!(!attached.exists() && !vacuumed.exists());

    // The runtime's own tables stay out of reach, even through the exact
    // text of a statement the storage API has cached for itself.
    let id = room();
    call(
        &b,
        "do.storage.put",
        json!({"class":"Room","id":id,"entries":{"k":"secret"}}),
    )
    .unwrap();
    let got = call(
        &b,
        "do.storage.get",
        json!({"class":"Room","id":id,"keys":["k"]}),
    )
    .unwrap();
    assert_eq!(got["values"]["k"], json!("secret"));
    let e = err(do_sql(
        &b,
        "SELECT value FROM _cf_KV WHERE key = ?1",
        json!(["k"]),
    ));
    assert!(
        e.starts_with("access to _cf_KV.") && e.ends_with(" is prohibited: SQLITE_AUTH"),
        "{e}"
    );
    do_sql(&b, "CREATE TABLE notes (body TEXT)", json!([])).unwrap();
    do_sql(&b, "INSERT INTO notes VALUES (?)", json!(["hi"])).unwrap();
    assert_eq!(
        do_sql(&b, "SELECT body FROM notes", json!([])).unwrap()["rows"],
        json!([["hi"]])
    );
}

#[test]
fn d1_migration_files_follow_d1_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let migrations = dir.path().join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("0001_init.sql"),
        "PRAGMA defer_foreign_keys = on;\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    let escaped = dir.path().join("from-a-migration.sqlite");
    std::fs::write(
        migrations.join("0002_escape.sql"),
        format!(
            "ATTACH DATABASE '{}' AS e;\nCREATE TABLE e.t (x);",
            escaped.display()
        ),
    )
    .unwrap();
    let db = d1::store::D1Database::open(&dir.path().join("db.sqlite")).unwrap();
    let e = db
        .apply_migrations(&migrations, "d1_migrations")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("0002_escape.sql") && e.ends_with("D1_ERROR: not authorized: SQLITE_AUTH"),
        "{e}"
    );
    assert!(!escaped.exists());
    // The first file was applied and recorded; the refused one was not.
    std::fs::remove_file(migrations.join("0002_escape.sql")).unwrap();
    assert!(
        db.apply_migrations(&migrations, "d1_migrations")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn d1_runaway_query_is_interrupted_and_frees_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(dir.path(), Some(Duration::from_millis(300)));
    let runaway = {
        let b = b.clone();
        started(move || err(d1(&b, RUNAWAY)))
    };
    // Another request's query, likely queued behind the runaway one.
    let other = {
        let b = b.clone();
        within(move || d1(&b, "SELECT 41 + 1 AS n"))
    };
    assert_eq!(finished(runaway), D1_TIMED_OUT);
    assert_eq!(other.unwrap()["results"], json!([{"n":42}]));

    // exec and batch are limited the same way, and a later query still works.
    let b2 = b.clone();
    assert_eq!(
        within(move || err(d1_exec(&b2, RUNAWAY))),
        "D1_EXEC_ERROR: D1 DB exceeded its CPU time limit and was reset."
    );
    let b2 = b.clone();
    let batch = within(move || {
        err(call(
            &b2,
            "d1.batch",
            json!({"statements":[{"sql":"CREATE TABLE t (x)"},{"sql":RUNAWAY}]}),
        ))
    });
    assert_eq!(batch, D1_TIMED_OUT);
    let r = d1(
        &b,
        "SELECT count(*) AS n FROM sqlite_master WHERE name = 't'",
    )
    .unwrap();
    assert_eq!(r["results"], json!([{"n":0}]), "the batch rolled back");
}

#[test]
fn d1_query_stops_at_the_request_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    // D1's own 30 s limit, but the request has only 300 ms left.
    let b = open(dir.path(), None);
    let (e, took) = within(move || {
        let _request = RequestDeadline::enter(Some(Instant::now() + Duration::from_millis(300)));
        let start = Instant::now();
        (err(d1(&b, RUNAWAY)), start.elapsed())
    });
    assert_eq!(e, D1_TIMED_OUT);
    assert!(
        took < Duration::from_secs(15),
        "ran {took:?}, past the request"
    );
}

#[test]
fn a_busy_d1_connection_turns_others_away_after_their_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(dir.path(), Some(Duration::from_secs(3)));
    let runaway = {
        let b = b.clone();
        started(move || err(d1(&b, RUNAWAY)))
    };
    // A request with 100 ms left gives up waiting for the connection the
    // runaway query holds (until that query starts, it simply runs).
    let mut answer = None;
    for _ in 0..100 {
        let b = b.clone();
        let r = within(move || {
            let _request =
                RequestDeadline::enter(Some(Instant::now() + Duration::from_millis(100)));
            d1(&b, "SELECT 1 AS n")
        });
        if let Err(e) = r {
            answer = Some(e.to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        answer.as_deref(),
        Some("D1_ERROR: D1 DB is overloaded. Requests queued for too long.")
    );
    assert_eq!(finished(runaway), D1_TIMED_OUT);
}

#[test]
fn durable_object_runaway_sql_is_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = open(dir.path(), Some(Duration::from_millis(300)));
    let b2 = b.clone();
    assert_eq!(
        within(move || err(do_sql(&b2, RUNAWAY, json!([])))),
        "Durable Object exceeded its CPU time limit and was reset."
    );
    assert_eq!(
        do_sql(&b, "SELECT 41 + 1", json!([])).unwrap()["rows"],
        json!([[42]])
    );
}

#[test]
fn lock_wait_ends_at_the_deadline() {
    let m = Mutex::new(0);
    let held = m.lock().unwrap();
    let start = Instant::now();
    assert!(sql_guard::lock_until(&m, start + Duration::from_millis(50)).is_none());
    assert!(start.elapsed() >= Duration::from_millis(50));
    drop(held);
    assert!(sql_guard::lock_until(&m, Instant::now()).is_some());
}
