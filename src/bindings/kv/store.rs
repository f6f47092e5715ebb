//! Workers KV stored the way wrangler's local mode (miniflare) stores it: an
//! index table `_mf_entries (key, blob_id, expiration ms, metadata)` in
//! `kv/miniflare-KVNamespaceObject/<object id>.sqlite` and each value in
//! `kv/<namespace id>/blobs/<blob id>`, so `wrangler kv key get --local` sees
//! what the Worker wrote. Limits and error messages follow Cloudflare's, so
//! code that works here behaves the same when deployed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::dev::bindings::{Clock, Reply};
use crate::dev::bindings::{OpError, OpResult};
use crate::dev::bindings::{miniflare, sqlite};

const MAX_KEY_BYTES: usize = 512;
const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
const MAX_METADATA_BYTES: usize = 1024;
const MIN_TTL_SECS: i64 = 60;
const MIN_CACHE_TTL_SECS: i64 = 30;
const MAX_LIST_LIMIT: u64 = 1000;
const MAX_BULK_KEYS: usize = 100;
const MAX_BULK_BYTES: usize = 25 * 1024 * 1024;

/// One KV namespace.
pub struct KvStore {
    conn: Mutex<Connection>,
    blobs: PathBuf,
    clock: Clock,
}

impl KvStore {
    /// Open (or create) namespace `namespace` under the state's `v3` folder.
    /// A namespace kept by earlier pywrangler-rs versions in `kv/<id>.sqlite`
    /// is imported once, then that file is removed.
    pub fn open(v3: &Path, namespace: &str, clock: Clock) -> OpResult<KvStore> {
        let store = KvStore::open_at(
            &miniflare::kv_path(v3, namespace),
            miniflare::blobs_dir(v3, "kv", namespace),
            clock,
        )?;
        store.import_old(&v3.join("kv").join(format!(
            "{}.sqlite",
            crate::dev::bindings::file_name(namespace)
        )))?;
        Ok(store)
    }

    /// Open (or create) a store in miniflare's KV layout with its index at
    /// `index` and its values in `blobs` (also used by the secrets store).
    pub fn open_at(index: &Path, blobs: PathBuf, clock: Clock) -> OpResult<KvStore> {
        let conn = sqlite::open(index)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _mf_entries (
                key TEXT PRIMARY KEY,
                blob_id TEXT NOT NULL,
                expiration INTEGER,
                metadata TEXT
            );
            CREATE INDEX IF NOT EXISTS _mf_entries_expiration_idx ON _mf_entries(expiration);",
        )?;
        std::fs::create_dir_all(&blobs)?;
        Ok(KvStore {
            conn: Mutex::new(conn),
            blobs,
            clock,
        })
    }

    fn now_secs(&self) -> i64 {
        (self.clock)() / 1000
    }

    /// Write `value` as a new blob file (temp file + rename); its id.
    fn write_blob(&self, value: &[u8]) -> OpResult<String> {
        Ok(miniflare::write_blob(&self.blobs, (self.clock)(), value)?)
    }

    /// The bytes of blob `id`, or None when its file is gone.
    fn read_blob(&self, id: &str) -> OpResult<Option<Vec<u8>>> {
        match std::fs::read(self.blobs.join(id)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn remove_blob(&self, id: &str) {
        let _ = std::fs::remove_file(self.blobs.join(id));
    }

    /// Remove `key`'s row and blob; the blob goes after the row, so a crash
    /// leaves at worst an unreferenced file.
    fn remove_entry(&self, conn: &Connection, key: &str) -> OpResult<()> {
        let blob: Option<String> = conn
            .query_row(
                "SELECT blob_id FROM _mf_entries WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?;
        conn.execute("DELETE FROM _mf_entries WHERE key = ?1", [key])?;
        if let Some(id) = blob {
            self.remove_blob(&id);
        }
        Ok(())
    }

    /// Move the rows of an earlier version's `kv` table into this layout.
    fn import_old(&self, old: &Path) -> OpResult<()> {
        if !old.is_file() {
            return Ok(());
        }
        type OldRow = (String, Vec<u8>, Option<i64>, Option<String>);
        let rows: Vec<OldRow> = {
            let src = Connection::open(old)?;
            let mut stmt = src.prepare("SELECT key, value, expiration, metadata FROM kv")?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?
        };
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (key, value, expiration, metadata) in rows {
            let blob = self.write_blob(&value)?;
            tx.execute(
                "INSERT OR IGNORE INTO _mf_entries (key, blob_id, expiration, metadata)
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, blob, expiration.map(|s| s * 1000), metadata],
            )?;
        }
        tx.commit()?;
        sqlite::remove_database(old);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dispatch one `kv.*` op.
    pub fn handle(&self, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        match op {
            "get" | "getWithMetadata" if args.get("keys").is_some() => {
                Ok(Reply::value(self.get_bulk(args)?))
            }
            "get" | "getWithMetadata" => {
                let key = key_arg(args, "GET")?;
                check_cache_ttl(args, "GET")?;
                Ok(match self.get(&key)? {
                    None => Reply::null(),
                    Some((value, metadata)) => {
                        Reply::with_body(json!({ "metadata": metadata }), value)
                    }
                })
            }
            "put" => {
                let key = key_arg(args, "PUT")?;
                let opts = PutOptions {
                    expiration: int_arg(args, "expiration")?,
                    expiration_ttl: int_arg(args, "expiration_ttl")?,
                    metadata: args.get("metadata").filter(|m| !m.is_null()).cloned(),
                };
                self.put(&key, &body, opts)?;
                Ok(Reply::null())
            }
            "delete" => {
                let key = key_arg(args, "DELETE")?;
                self.delete(&key)?;
                Ok(Reply::null())
            }
            "list" => {
                let prefix = args.get("prefix").and_then(Value::as_str).unwrap_or("");
                let limit = int_arg(args, "limit")?;
                let cursor = args.get("cursor").and_then(Value::as_str);
                Ok(Reply::value(self.list(prefix, limit, cursor)?))
            }
            other => Err(OpError::UnknownOp(format!("kv.{other}"))),
        }
    }

    /// The value and metadata of `key`, unless missing or expired.
    pub fn get(&self, key: &str) -> OpResult<Option<(Vec<u8>, Value)>> {
        check_key(key, "GET")?;
        let now = (self.clock)();
        let conn = self.lock();
        let row: Option<(String, Option<i64>, Option<String>)> = conn
            .query_row(
                "SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            Some((_, Some(exp), _)) if exp <= now => {
                self.remove_entry(&conn, key)?;
                None
            }
            Some((blob, _, metadata)) => self
                .read_blob(&blob)?
                .map(|value| (value, parse_metadata(metadata))),
            None => None,
        })
    }

    /// Bulk `get(keys, type)`: `{"values": {key: value|null}}` where a value
    /// is text or decoded JSON, or `{"value","metadata"}` with metadata.
    pub fn get_bulk(&self, args: &Value) -> OpResult<Value> {
        let fail = |status: u16, msg: String| {
            OpError::failed(format!("KV GET_BULK failed: {status} {msg}"))
        };
        let keys: Vec<String> = match args.get("keys") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|k| match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            _ => return Err(OpError::invalid("KV get(): keys must be a list of strings")),
        };
        let kind = args.get("type").and_then(Value::as_str).unwrap_or("text");
        if kind != "text" && kind != "json" {
            return Err(fail(
                400,
                format!("\"{kind}\" is not a valid type. Use \"json\" or \"text\""),
            ));
        }
        if keys.len() > MAX_BULK_KEYS {
            return Err(fail(
                400,
                format!("You can request a maximum of {MAX_BULK_KEYS} keys"),
            ));
        }
        if keys.is_empty() {
            return Err(fail(400, "You must request a minimum of 1 key".into()));
        }
        let with_metadata = args
            .get("with_metadata")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut values = serde_json::Map::new();
        let mut total = 0usize;
        for key in keys {
            check_key(&key, "GET_BULK")?;
            check_cache_ttl(args, "GET_BULK")?;
            let entry = match self.get(&key)? {
                None => Value::Null,
                Some((bytes, metadata)) => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    total += text.len();
                    let value = if kind == "json" {
                        serde_json::from_str(&text).map_err(|_| {
                            fail(
                                400,
                                format!(
                                    "At least one of the requested keys corresponds to a non-{kind} value"
                                ),
                            )
                        })?
                    } else {
                        Value::String(text)
                    };
                    if with_metadata {
                        json!({ "value": value, "metadata": metadata })
                    } else {
                        value
                    }
                }
            };
            values.insert(key, entry);
        }
        if total > MAX_BULK_BYTES {
            return Err(fail(
                413,
                format!(
                    "Total size of request exceeds the limit of {}MB",
                    MAX_BULK_BYTES / 1024 / 1024
                ),
            ));
        }
        Ok(json!({ "values": values }))
    }

    /// Store `value` under `key`.
    pub fn put(&self, key: &str, value: &[u8], opts: PutOptions) -> OpResult<()> {
        check_key(key, "PUT")?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(OpError::failed(format!(
                "KV PUT failed: 413 Value length of {} exceeds limit of {MAX_VALUE_BYTES}.",
                value.len()
            )));
        }
        let now = self.now_secs();
        let expiration = match (opts.expiration, opts.expiration_ttl) {
            (_, Some(ttl)) => {
                if ttl <= 0 {
                    return Err(OpError::failed(format!(
                        "KV PUT failed: 400 Invalid expiration_ttl of {ttl}. Please specify integer greater than 0."
                    )));
                }
                if ttl < MIN_TTL_SECS {
                    return Err(OpError::failed(format!(
                        "KV PUT failed: 400 Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL_SECS}."
                    )));
                }
                Some(now + ttl)
            }
            (Some(exp), None) => {
                if exp <= now {
                    return Err(OpError::failed(format!(
                        "KV PUT failed: 400 Invalid expiration of {exp}. Please specify integer greater than the current number of seconds since the UNIX epoch."
                    )));
                }
                if exp < now + MIN_TTL_SECS {
                    return Err(OpError::failed(format!(
                        "KV PUT failed: 400 Invalid expiration of {exp}. Expiration times must be at least {MIN_TTL_SECS} seconds in the future."
                    )));
                }
                Some(exp)
            }
            (None, None) => None,
        };
        let metadata = match opts.metadata {
            None => None,
            Some(m) => {
                let text = m.to_string();
                if text.len() > MAX_METADATA_BYTES {
                    return Err(OpError::failed(format!(
                        "KV PUT failed: 413 Metadata length of {} exceeds limit of {MAX_METADATA_BYTES}.",
                        text.len()
                    )));
                }
                Some(text)
            }
        };
        let blob = self.write_blob(value)?;
        let mut conn = self.lock();
        let stored = (|| -> OpResult<Option<String>> {
            let tx = conn.transaction()?;
            let old: Option<String> = tx
                .query_row(
                    "SELECT blob_id FROM _mf_entries WHERE key = ?1",
                    [key],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO _mf_entries (key, blob_id, expiration, metadata) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET blob_id = ?2, expiration = ?3, metadata = ?4",
                params![key, blob, expiration.map(|s| s * 1000), metadata],
            )?;
            tx.commit()?;
            Ok(old)
        })();
        match stored {
            Ok(old) => {
                if let Some(old) = old {
                    self.remove_blob(&old);
                }
                Ok(())
            }
            Err(e) => {
                self.remove_blob(&blob);
                Err(e)
            }
        }
    }

    /// Remove `key` (no error when missing).
    pub fn delete(&self, key: &str) -> OpResult<()> {
        check_key(key, "DELETE")?;
        let conn = self.lock();
        self.remove_entry(&conn, key)
    }

    /// Keys in order, `limit` at a time, resuming after `cursor`.
    pub fn list(&self, prefix: &str, limit: Option<i64>, cursor: Option<&str>) -> OpResult<Value> {
        let limit = limit.unwrap_or(MAX_LIST_LIMIT as i64);
        if limit < 1 {
            return Err(OpError::failed(format!(
                "KV GET failed: 400 Invalid key_count_limit of {limit}. Please specify an integer greater than 0."
            )));
        }
        if limit > MAX_LIST_LIMIT as i64 {
            return Err(OpError::failed(format!(
                "KV GET failed: 400 Invalid key_count_limit of {limit}. Please specify an integer less than {MAX_LIST_LIMIT}."
            )));
        }
        let limit = limit as u64;
        if prefix.len() > MAX_KEY_BYTES {
            return Err(OpError::failed(format!(
                "KV GET failed: 414 UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
                prefix.len()
            )));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            Some(c) => Some(decode_cursor(c)?),
            None => None,
        };
        let now = (self.clock)();
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT key, expiration, metadata FROM _mf_entries
             WHERE substr(key, 1, length(?1)) = ?1
               AND (?2 IS NULL OR key > ?2)
               AND (expiration IS NULL OR expiration > ?3)
             ORDER BY key LIMIT ?4",
        )?;
        let mut rows = stmt.query(params![prefix, after, now, (limit + 1) as i64])?;
        let mut keys = Vec::new();
        let mut more = false;
        while let Some(row) = rows.next()? {
            if keys.len() as u64 == limit {
                more = true;
                break;
            }
            let name: String = row.get(0)?;
            let expiration: Option<i64> = row.get(1)?;
            let metadata: Option<String> = row.get(2)?;
            let mut entry = json!({ "name": name });
            if let Some(exp) = expiration {
                entry["expiration"] = json!(exp / 1000);
            }
            if metadata.is_some() {
                entry["metadata"] = parse_metadata(metadata);
            }
            keys.push(entry);
        }
        let mut out = json!({ "keys": keys, "list_complete": !more });
        if more && let Some(last) = keys_last_name(&out) {
            out["cursor"] = json!(encode_cursor(&last));
        }
        Ok(out)
    }
}

/// Options of `kv.put`.
#[derive(Debug, Default, Clone)]
pub struct PutOptions {
    /// Absolute expiry, seconds since the epoch.
    pub expiration: Option<i64>,
    /// Expiry relative to now, in seconds.
    pub expiration_ttl: Option<i64>,
    /// JSON metadata stored with the value.
    pub metadata: Option<Value>,
}

fn keys_last_name(out: &Value) -> Option<String> {
    out["keys"]
        .as_array()?
        .last()?
        .get("name")?
        .as_str()
        .map(str::to_string)
}

fn parse_metadata(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn key_arg(args: &Value, verb: &str) -> OpResult<String> {
    match args.get("key") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(OpError::invalid(format!(
            "KV {verb} failed: the key must be a string"
        ))),
    }
}

fn int_arg(args: &Value, name: &str) -> OpResult<Option<i64>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| OpError::invalid(format!("`{name}` must be a number, got {v}"))),
    }
}

/// `cacheTtl` is ignored locally (one "edge location"), but validated as on
/// Cloudflare: at least 30 seconds.
fn check_cache_ttl(args: &Value, verb: &str) -> OpResult<()> {
    let Some(v) = args.get("cache_ttl").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let ttl = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    match ttl {
        Some(t) if t >= MIN_CACHE_TTL_SECS as f64 => Ok(()),
        _ => {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Err(OpError::failed(format!(
                "KV {verb} failed: 400 Invalid cache_ttl of {shown}. Cache TTL must be at least {MIN_CACHE_TTL_SECS}."
            )))
        }
    }
}

fn check_key(key: &str, verb: &str) -> OpResult<()> {
    if key.is_empty() {
        return Err(OpError::invalid("Key names must not be empty"));
    }
    if key == "." || key == ".." {
        return Err(OpError::invalid(format!(
            "Illegal key name \"{key}\". Please use a different name."
        )));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(OpError::failed(format!(
            "KV {verb} failed: 414 UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    Ok(())
}

fn encode_cursor(key: &str) -> String {
    sqlite::hex(key.as_bytes())
}

fn decode_cursor(cursor: &str) -> OpResult<String> {
    let bad = || OpError::failed(format!("KV GET failed: 400 Invalid cursor `{cursor}`"));
    if !cursor.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}
