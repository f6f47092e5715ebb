//! Durable Object storage: one SQLite file per (class, id) holding the
//! key-value API in `_cf_KV`, the alarm in `_cf_METADATA`, and the user's own
//! tables for `ctx.storage.sql`. Ids from names are deterministic hashes, as
//! on Cloudflare, so `getByName("x")` reaches the same object after restart.
//! `sql.exec` runs under [`SqlGuard`] (workerd's authorizer rules and the
//! request's time limit).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::dev::bindings::Reply;
use crate::dev::bindings::sql_guard::{self, SqlFailure, SqlGuard};
use crate::dev::bindings::sqlite;
use crate::dev::bindings::{OpError, OpResult};

const MAX_KEYS_PER_CALL: usize = 128;

/// (class, id) of one Durable Object.
type ObjectKey = (String, String);

/// The storage of every Durable Object of every class, opened lazily.
pub struct DurableStorage {
    root: PathBuf,
    objects: Mutex<HashMap<ObjectKey, Arc<Mutex<Connection>>>>,
    time_limit: Duration,
    kv_backed: Vec<String>,
}

/// A scheduled alarm, as found in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Durable Object class name.
    pub class: String,
    /// 64-hex object id.
    pub id: String,
    /// When to fire, ms since the epoch.
    pub time_ms: i64,
}

/// The id `idFromName(name)` gives for `class`: 64 hex digits.
pub fn id_from_name(class: &str, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(class.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    sqlite::hex(&h.finalize())
}

/// Check a user-supplied id string.
pub fn check_id(id: &str) -> OpResult<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(OpError::invalid(format!(
            "Invalid Durable Object ID: must be 64 hex digits, got `{id}`"
        )))
    }
}

impl DurableStorage {
    /// Storage rooted at `root` (one sub-directory per class).
    pub fn new(root: &Path) -> DurableStorage {
        DurableStorage {
            root: root.to_path_buf(),
            objects: Mutex::new(HashMap::new()),
            time_limit: sql_guard::DEFAULT_TIME_LIMIT,
            kv_backed: Vec::new(),
        }
    }

    /// Classes declared key-value backed (`new_classes`), which refuse the
    /// synchronous `ctx.storage.kv` as production does.
    pub fn with_kv_backed(mut self, classes: Vec<String>) -> DurableStorage {
        self.kv_backed = classes;
        self
    }

    /// Stop each `sql.exec` after `limit` instead of 30 s.
    pub fn with_time_limit(mut self, limit: Duration) -> DurableStorage {
        self.time_limit = limit;
        self
    }

    fn object(&self, class: &str, id: &str) -> OpResult<Arc<Mutex<Connection>>> {
        check_id(id)?;
        if class.is_empty() || class.contains(['/', '\\', '.']) {
            return Err(OpError::invalid(format!(
                "invalid Durable Object class name `{class}`"
            )));
        }
        let mut map = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&(class.to_string(), id.to_string())) {
            return Ok(c.clone());
        }
        let conn = sqlite::open(&self.root.join(class).join(format!("{id}.sqlite")))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _cf_KV (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS _cf_METADATA (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;",
        )?;
        sql_guard::harden(&conn)?;
        let conn = Arc::new(Mutex::new(conn));
        map.insert((class.to_string(), id.to_string()), conn.clone());
        Ok(conn)
    }

    /// Dispatch `do.storage.*` and `do.alarm.*` ops (`op` without the `do.` prefix).
    pub fn handle(&self, op: &str, args: &Value) -> OpResult<Reply> {
        let class = str_arg(args, "class")?;
        let id = str_arg(args, "id")?;
        // `sync: true` marks the synchronous `ctx.storage.kv` API.
        if args.get("sync").and_then(Value::as_bool) == Some(true)
            && self.kv_backed.iter().any(|c| c == class)
        {
            return Err(OpError::failed(format!(
                "The storage.kv (synchronous KV) API is only available for SQLite-backed \
                 Durable Objects, but {class} is declared with `new_classes`; declare it \
                 with `new_sqlite_classes` in a migration instead."
            )));
        }
        let conn = self.object(class, id)?;
        let conn = sql_guard::lock_until(&conn, sql_guard::wait_deadline(self.time_limit))
            .ok_or_else(|| {
                OpError::failed("Durable Object is overloaded. Requests queued for too long.")
            })?;
        let value = match op {
            "storage.get" => storage_get(&conn, &keys_arg(args)?)?,
            "storage.put" => {
                let entries = args
                    .get("entries")
                    .and_then(Value::as_object)
                    .ok_or_else(|| OpError::invalid("storage.put needs `entries`"))?;
                if entries.len() > MAX_KEYS_PER_CALL {
                    return Err(OpError::failed(format!(
                        "put() may only be called with up to {MAX_KEYS_PER_CALL} entries"
                    )));
                }
                let tx = conn.unchecked_transaction()?;
                for (k, v) in entries {
                    tx.execute(
                        "INSERT INTO _cf_KV (key, value) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET value = ?2",
                        params![k, v.to_string()],
                    )?;
                }
                tx.commit()?;
                Value::Null
            }
            "storage.delete" => {
                let mut deleted = 0usize;
                for k in keys_arg(args)? {
                    deleted += conn.execute("DELETE FROM _cf_KV WHERE key = ?1", [k])?;
                }
                json!({ "deleted": deleted })
            }
            "storage.deleteAll" => {
                conn.execute("DELETE FROM _cf_KV", [])?;
                Value::Null
            }
            "storage.list" => storage_list(&conn, args)?,
            "storage.sql" => {
                let sql = str_arg(args, "sql")?;
                let params = match args.get("params") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                let rows = {
                    let guard = SqlGuard::new(&conn, sql_guard::deadline(self.time_limit));
                    sqlite::query(&conn, sql, &params).map_err(|e| match e {
                        OpError::Sqlite(e) => sql_failure(guard.failure(e)),
                        other => other,
                    })?
                };
                let written = if rows.readonly { 0 } else { conn.changes() };
                json!({
                    "columns": rows.columns,
                    "rows": rows.rows,
                    "rows_read": rows.rows.len(),
                    "rows_written": written,
                })
            }
            "alarm.get" => json!({ "time": get_alarm(&conn)? }),
            "alarm.set" => {
                let time = args
                    .get("time")
                    .and_then(|t| t.as_i64().or_else(|| t.as_f64().map(|f| f as i64)))
                    .ok_or_else(|| OpError::invalid("setAlarm needs a time in ms"))?;
                conn.execute(
                    "INSERT INTO _cf_METADATA (key, value) VALUES ('alarm', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = ?1",
                    [time],
                )?;
                json!({ "time": time })
            }
            "alarm.delete" => {
                conn.execute("DELETE FROM _cf_METADATA WHERE key = 'alarm'", [])?;
                json!({ "time": Value::Null })
            }
            other => return Err(OpError::UnknownOp(format!("do.{other}"))),
        };
        Ok(Reply::value(value))
    }

    /// The alarm of one object, if set.
    pub fn alarm(&self, class: &str, id: &str) -> OpResult<Option<i64>> {
        let conn = self.object(class, id)?;
        let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        get_alarm(&conn)
    }

    /// Clear an alarm if it is still the one that fired at `time_ms`.
    pub fn clear_alarm_if(&self, class: &str, id: &str, time_ms: i64) -> OpResult<()> {
        let conn = self.object(class, id)?;
        let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "DELETE FROM _cf_METADATA WHERE key = 'alarm' AND value = ?1",
            [time_ms],
        )?;
        Ok(())
    }

    /// Every alarm set in storage (scans the class directories), earliest first.
    pub fn all_alarms(&self) -> Vec<Alarm> {
        let mut out = Vec::new();
        let Ok(classes) = std::fs::read_dir(&self.root) else {
            return out;
        };
        for class in classes.flatten() {
            let class_name = class.file_name().to_string_lossy().into_owned();
            let Ok(files) = std::fs::read_dir(class.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                let Some(id) = name.strip_suffix(".sqlite") else {
                    continue;
                };
                if let Ok(Some(time_ms)) = self.alarm(&class_name, id) {
                    out.push(Alarm {
                        class: class_name.clone(),
                        id: id.to_string(),
                        time_ms,
                    });
                }
            }
        }
        out.sort_by_key(|a| a.time_ms);
        out
    }
}

/// A guarded statement's failure in workerd's words.
fn sql_failure(failure: SqlFailure) -> OpError {
    match failure {
        SqlFailure::Denied(why) => OpError::failed(format!("{why}: SQLITE_AUTH")),
        SqlFailure::TimedOut => {
            OpError::failed("Durable Object exceeded its CPU time limit and was reset.")
        }
        SqlFailure::Other(e) => OpError::Sqlite(e),
    }
}

fn get_alarm(conn: &Connection) -> OpResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT value FROM _cf_METADATA WHERE key = 'alarm'",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten())
}

fn storage_get(conn: &Connection, keys: &[String]) -> OpResult<Value> {
    if keys.len() > MAX_KEYS_PER_CALL {
        return Err(OpError::failed(format!(
            "get() may only be called with up to {MAX_KEYS_PER_CALL} keys"
        )));
    }
    let mut values = serde_json::Map::new();
    let mut stmt = conn.prepare_cached("SELECT value FROM _cf_KV WHERE key = ?1")?;
    for k in keys {
        let v: Option<String> = stmt.query_row([k], |r| r.get(0)).optional()?;
        if let Some(text) = v {
            values.insert(
                k.clone(),
                serde_json::from_str(&text).unwrap_or(Value::Null),
            );
        }
    }
    Ok(json!({ "values": values }))
}

fn storage_list(conn: &Connection, args: &Value) -> OpResult<Value> {
    let prefix = args.get("prefix").and_then(Value::as_str).unwrap_or("");
    let start = args.get("start").and_then(Value::as_str);
    let start_after = args
        .get("start_after")
        .or_else(|| args.get("startAfter"))
        .and_then(Value::as_str);
    let end = args.get("end").and_then(Value::as_str);
    let reverse = args
        .get("reverse")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let limit = args.get("limit").and_then(Value::as_i64).unwrap_or(-1);
    let sql = format!(
        "SELECT key, value FROM _cf_KV
         WHERE substr(key, 1, length(?1)) = ?1
           AND (?2 IS NULL OR key >= ?2) AND (?3 IS NULL OR key > ?3) AND (?4 IS NULL OR key < ?4)
         ORDER BY key {} LIMIT ?5",
        if reverse { "DESC" } else { "ASC" }
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![prefix, start, start_after, end, limit], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (k, v) = row?;
        entries.push(json!([
            k,
            serde_json::from_str::<Value>(&v).unwrap_or(Value::Null)
        ]));
    }
    Ok(json!({ "entries": entries }))
}

fn str_arg<'a>(args: &'a Value, name: &str) -> OpResult<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid(format!("Durable Object op needs `{name}`")))
}

fn keys_arg(args: &Value) -> OpResult<Vec<String>> {
    match args.get("keys").or_else(|| args.get("key")) {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|k| {
                k.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| k.to_string())
            })
            .collect()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        _ => Err(OpError::invalid("storage op needs `keys`")),
    }
}
