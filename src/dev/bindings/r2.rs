//! R2 buckets on local files: object bodies live in `blobs/`, their metadata
//! in a SQLite index, so listing is ordered and cheap. Bodies are written to a
//! temp file and renamed, so a crash never leaves half an object.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::error::{OpError, OpResult};
use super::sqlite;
use super::{Clock, Reply};

const MAX_KEY_BYTES: usize = 1024;
const MAX_LIST_LIMIT: usize = 1000;

/// One R2 bucket.
pub struct R2Bucket {
    conn: Mutex<Connection>,
    blobs: PathBuf,
    clock: Clock,
}

/// An object's metadata as stored in the index.
#[derive(Debug, Clone)]
struct ObjectRow {
    key: String,
    version: String,
    size: i64,
    etag: String,
    uploaded_ms: i64,
    http_metadata: Value,
    custom_metadata: Value,
}

impl ObjectRow {
    fn to_json(&self) -> Value {
        let uploaded = chrono::DateTime::from_timestamp_millis(self.uploaded_ms)
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        json!({
            "key": self.key,
            "version": self.version,
            "size": self.size,
            "etag": self.etag,
            "httpEtag": format!("\"{}\"", self.etag),
            "uploaded": uploaded,
            "httpMetadata": self.http_metadata,
            "customMetadata": self.custom_metadata,
            "checksums": { "md5": self.etag },
            "storageClass": "Standard",
        })
    }
}

impl R2Bucket {
    /// Open (or create) the bucket stored under `dir`.
    pub fn open(dir: &Path, clock: Clock) -> OpResult<R2Bucket> {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs)?;
        let conn = sqlite::open(&dir.join("index.sqlite"))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS objects (
                key TEXT PRIMARY KEY,
                version TEXT NOT NULL,
                size INTEGER NOT NULL,
                etag TEXT NOT NULL,
                uploaded INTEGER NOT NULL,
                http_metadata TEXT NOT NULL,
                custom_metadata TEXT NOT NULL
            ) WITHOUT ROWID;",
        )?;
        Ok(R2Bucket {
            conn: Mutex::new(conn),
            blobs,
            clock,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dispatch one `r2.*` op.
    pub fn handle(&self, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        match op {
            "put" => {
                let key = key_arg(args)?;
                let http = object_arg(args, "http_metadata");
                let custom = object_arg(args, "custom_metadata");
                Ok(Reply::value(self.put(&key, &body, http, custom)?))
            }
            "get" => {
                let key = key_arg(args)?;
                let range = args.get("range").filter(|r| !r.is_null());
                Ok(match self.get(&key, range)? {
                    Some((meta, bytes)) => Reply::with_body(meta, bytes),
                    None => Reply::null(),
                })
            }
            "head" => {
                let key = key_arg(args)?;
                Ok(match self.head(&key)? {
                    Some(row) => Reply::value(row.to_json()),
                    None => Reply::null(),
                })
            }
            "delete" => {
                let keys: Vec<String> = match args.get("keys").or_else(|| args.get("key")) {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => return Err(OpError::invalid("R2 delete needs `keys`")),
                };
                for key in &keys {
                    self.delete(key)?;
                }
                Ok(Reply::null())
            }
            "list" => Ok(Reply::value(self.list(args)?)),
            other => Err(OpError::UnknownOp(format!("r2.{other}"))),
        }
    }

    /// Store an object; returns its metadata.
    pub fn put(&self, key: &str, body: &[u8], http: Value, custom: Value) -> OpResult<Value> {
        check_key(key)?;
        let version = sqlite::random_hex(16);
        let etag = sqlite::hex(&Md5::digest(body));
        let mut tmp = tempfile::NamedTempFile::new_in(&self.blobs)?;
        tmp.write_all(body)?;
        tmp.persist(self.blobs.join(&version))
            .map_err(|e| OpError::Io(e.error))?;
        let row = ObjectRow {
            key: key.to_string(),
            version,
            size: body.len() as i64,
            etag,
            uploaded_ms: (self.clock)(),
            http_metadata: http,
            custom_metadata: custom,
        };
        let old = self.head(key)?;
        self.lock().execute(
            "INSERT INTO objects (key, version, size, etag, uploaded, http_metadata, custom_metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(key) DO UPDATE SET version = ?2, size = ?3, etag = ?4, uploaded = ?5,
                 http_metadata = ?6, custom_metadata = ?7",
            params![
                row.key,
                row.version,
                row.size,
                row.etag,
                row.uploaded_ms,
                row.http_metadata.to_string(),
                row.custom_metadata.to_string()
            ],
        )?;
        if let Some(old) = old {
            let _ = std::fs::remove_file(self.blobs.join(old.version));
        }
        Ok(row.to_json())
    }

    /// An object's metadata and (a range of) its body.
    pub fn get(&self, key: &str, range: Option<&Value>) -> OpResult<Option<(Value, Vec<u8>)>> {
        let Some(row) = self.head(key)? else {
            return Ok(None);
        };
        let body = std::fs::read(self.blobs.join(&row.version))?;
        let mut meta = row.to_json();
        let Some(range) = range else {
            return Ok(Some((meta, body)));
        };
        let size = body.len() as u64;
        let (offset, length) = if let Some(suffix) = range.get("suffix").and_then(Value::as_u64) {
            let len = suffix.min(size);
            (size - len, len)
        } else {
            let offset = range.get("offset").and_then(Value::as_u64).unwrap_or(0);
            if offset > size {
                return Err(OpError::failed(
                    "get: The requested range is not satisfiable (10039)",
                ));
            }
            let length = range
                .get("length")
                .and_then(Value::as_u64)
                .unwrap_or(size - offset)
                .min(size - offset);
            (offset, length)
        };
        meta["range"] = json!({ "offset": offset, "length": length });
        let slice = body[offset as usize..(offset + length) as usize].to_vec();
        Ok(Some((meta, slice)))
    }

    fn head(&self, key: &str) -> OpResult<Option<ObjectRow>> {
        check_key(key)?;
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata
                 FROM objects WHERE key = ?1",
                [key],
                row_from_sql,
            )
            .optional()?)
    }

    /// Remove an object (no error when missing).
    pub fn delete(&self, key: &str) -> OpResult<()> {
        if let Some(old) = self.head(key)? {
            self.lock()
                .execute("DELETE FROM objects WHERE key = ?1", [key])?;
            let _ = std::fs::remove_file(self.blobs.join(old.version));
        }
        Ok(())
    }

    /// Objects in key order, with `delimiter` grouping into prefixes.
    pub fn list(&self, args: &Value) -> OpResult<Value> {
        let prefix = args.get("prefix").and_then(Value::as_str).unwrap_or("");
        let delimiter = args
            .get("delimiter")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        let limit = match args.get("limit").and_then(Value::as_u64) {
            None => MAX_LIST_LIMIT,
            Some(l) if (1..=MAX_LIST_LIMIT as u64).contains(&l) => l as usize,
            Some(l) => {
                return Err(OpError::failed(format!(
                    "list: MaxKeys params must be positive integer <= 1000. ({l}) (10022)"
                )));
            }
        };
        let after = args
            .get("cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .or_else(|| {
                args.get("startAfter")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata
             FROM objects WHERE substr(key, 1, length(?1)) = ?1 AND (?2 IS NULL OR key > ?2)
             ORDER BY key",
        )?;
        let rows = stmt.query_map(params![prefix, after], row_from_sql)?;
        let mut objects = Vec::new();
        let mut prefixes = BTreeSet::new();
        let mut last_key: Option<String> = None;
        let mut truncated = false;
        for row in rows {
            let row = row?;
            let group = delimiter.and_then(|d| {
                row.key[prefix.len()..]
                    .find(d)
                    .map(|i| row.key[..prefix.len() + i + d.len()].to_string())
            });
            let is_new_entry = match &group {
                Some(p) => !prefixes.contains(p),
                None => true,
            };
            if is_new_entry && objects.len() + prefixes.len() == limit {
                truncated = true;
                break;
            }
            last_key = Some(row.key.clone());
            match group {
                Some(p) => {
                    prefixes.insert(p);
                }
                None => objects.push(row.to_json()),
            }
        }
        let mut out = json!({
            "objects": objects,
            "truncated": truncated,
            "delimited_prefixes": prefixes.into_iter().collect::<Vec<_>>(),
        });
        if truncated && let Some(k) = last_key {
            out["cursor"] = json!(k);
        }
        Ok(out)
    }
}

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    let http: String = r.get(5)?;
    let custom: String = r.get(6)?;
    Ok(ObjectRow {
        key: r.get(0)?,
        version: r.get(1)?,
        size: r.get(2)?,
        etag: r.get(3)?,
        uploaded_ms: r.get(4)?,
        http_metadata: serde_json::from_str(&http).unwrap_or_else(|_| json!({})),
        custom_metadata: serde_json::from_str(&custom).unwrap_or_else(|_| json!({})),
    })
}

fn key_arg(args: &Value) -> OpResult<String> {
    args.get("key")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| OpError::invalid("R2: the key must be a string"))
}

fn object_arg(args: &Value, name: &str) -> Value {
    match args.get(name) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

fn check_key(key: &str) -> OpResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(OpError::failed(format!(
            "R2: key is {} bytes long; the limit is {MAX_KEY_BYTES} (10020)",
            key.len()
        )));
    }
    Ok(())
}
