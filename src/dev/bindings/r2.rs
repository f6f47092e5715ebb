//! R2 buckets on local files: object bodies live in `blobs/`, their metadata
//! in a SQLite index, so listing is ordered and cheap. Bodies are written to a
//! temp file and renamed, so a crash never leaves half an object. Multipart
//! uploads live in `r2_multipart`, preconditions and checksums in `r2_cond`.
//! Error texts are R2's, prefixed with the operation as the runtime does.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::error::{OpError, OpResult};
use super::r2_cond::{self, Conditional};
use super::sqlite;
use super::{Clock, Reply};

const MAX_KEY_BYTES: usize = 1024;
const MAX_LIST_LIMIT: usize = 1000;
/// R2 returns at most this many objects per page when metadata is included.
const MAX_LIST_LIMIT_WITH_METADATA: usize = 100;
const MAX_METADATA_BYTES: usize = 2048;
/// R2's single-request object size limit (5 GiB minus 5 MiB).
const MAX_VALUE_BYTES: usize = 5 * 1024 * 1024 * 1024 - 5 * 1024 * 1024;

/// One R2 bucket.
pub struct R2Bucket {
    pub(super) conn: Mutex<Connection>,
    pub(super) blobs: PathBuf,
    pub(super) parts: PathBuf,
    pub(super) clock: Clock,
}

/// An object's metadata as stored in the index.
#[derive(Debug, Clone)]
pub(super) struct ObjectRow {
    pub(super) key: String,
    pub(super) version: String,
    pub(super) size: i64,
    pub(super) etag: String,
    pub(super) uploaded_ms: i64,
    pub(super) http_metadata: Value,
    pub(super) custom_metadata: Value,
    pub(super) checksums: Value,
}

impl ObjectRow {
    pub(super) fn to_json(&self) -> Value {
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
            "checksums": self.checksums,
            "storageClass": "Standard",
        })
    }
}

impl R2Bucket {
    /// Open (or create) the bucket stored under `dir`.
    pub fn open(dir: &Path, clock: Clock) -> OpResult<R2Bucket> {
        let blobs = dir.join("blobs");
        let parts = dir.join("parts");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&parts)?;
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
        // Added after the first release: older indexes lack the column.
        let has_checksums: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('objects') WHERE name = 'checksums'")?
            .exists([])?;
        if !has_checksums {
            conn.execute_batch("ALTER TABLE objects ADD COLUMN checksums TEXT;")?;
        }
        super::r2_multipart::init_schema(&conn)?;
        let bucket = R2Bucket {
            conn: Mutex::new(conn),
            blobs,
            parts,
            clock,
        };
        bucket.sweep_orphans()?;
        Ok(bucket)
    }

    /// Remove body and part files no index row points at: what a crash
    /// between writing a file and committing its row leaves behind. Files
    /// younger than a minute are kept (another process may be mid-write).
    fn sweep_orphans(&self) -> OpResult<()> {
        let conn = self.lock();
        let referenced = |sql: &str| -> OpResult<std::collections::HashSet<String>> {
            let mut stmt = conn.prepare(sql)?;
            let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(names.collect::<Result<_, _>>()?)
        };
        let live_blobs = referenced("SELECT version FROM objects")?;
        let live_parts = referenced("SELECT file FROM multipart_parts")?;
        let cutoff = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for (dir, live) in [(&self.blobs, &live_blobs), (&self.parts, &live_parts)] {
            for entry in std::fs::read_dir(dir)?.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                if old && !live.contains(&name) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dispatch one `r2.*` op.
    pub fn handle(&self, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        match op {
            "put" => {
                let key = key_arg(args)?;
                let opts = PutOptions {
                    http: object_arg(args, "http_metadata"),
                    custom: object_arg(args, "custom_metadata"),
                    only_if: Conditional::from_args(args)?,
                    checksums: args.clone(),
                };
                Ok(match self.put(&key, &body, opts)? {
                    Some(meta) => Reply::value(meta),
                    None => Reply::null(),
                })
            }
            "get" => {
                let key = key_arg(args)?;
                let range = args.get("range").filter(|r| !r.is_null());
                let only_if = Conditional::from_args(args)?;
                Ok(match self.get(&key, range, only_if.as_ref())? {
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
            "mpu.create" | "mpu.part" | "mpu.complete" | "mpu.abort" => {
                self.multipart(&op[4..], args, body)
            }
            other => Err(OpError::UnknownOp(format!("r2.{other}"))),
        }
    }

    /// Store an object; returns its metadata, or `None` when `only_if`
    /// does not hold (R2 then stores nothing).
    pub fn put(&self, key: &str, body: &[u8], opts: PutOptions) -> OpResult<Option<Value>> {
        check_key(key, "put")?;
        check_custom_metadata(&opts.custom, "put")?;
        if body.len() > MAX_VALUE_BYTES {
            return Err(OpError::failed(
                "put: Your proposed upload exceeds the maximum allowed object size. (100100)",
            ));
        }
        let checksums = r2_cond::verify_checksums(&opts.checksums, body)?;
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
            http_metadata: opts.http,
            custom_metadata: opts.custom,
            checksums: Value::Object(checksums),
        };
        let conn = self.lock();
        let old = head_row(&conn, key)?;
        if let Some(cond) = &opts.only_if
            && !cond.holds(old.as_ref().map(|o| (o.etag.as_str(), o.uploaded_ms)))
        {
            drop(conn);
            let _ = std::fs::remove_file(self.blobs.join(&row.version));
            return Ok(None);
        }
        upsert_row(&conn, &row)?;
        drop(conn);
        if let Some(old) = old {
            let _ = std::fs::remove_file(self.blobs.join(old.version));
        }
        Ok(Some(row.to_json()))
    }

    /// An object's metadata and (a range of) its body.
    /// When `only_if` fails, the metadata comes back without a body and with
    /// `"precondition_failed": true` (the guest then returns an `R2Object`).
    pub fn get(
        &self,
        key: &str,
        range: Option<&Value>,
        only_if: Option<&Conditional>,
    ) -> OpResult<Option<(Value, Vec<u8>)>> {
        check_key(key, "get")?;
        let (row, body) = {
            let conn = self.lock();
            let Some(row) = head_row(&conn, key)? else {
                return Ok(None);
            };
            if let Some(cond) = only_if
                && !cond.holds(Some((row.etag.as_str(), row.uploaded_ms)))
            {
                let mut meta = row.to_json();
                meta["precondition_failed"] = json!(true);
                return Ok(Some((meta, Vec::new())));
            }
            // Read under the lock: a concurrent put may remove this version.
            let body = std::fs::read(self.blobs.join(&row.version))?;
            (row, body)
        };
        let mut meta = row.to_json();
        let Some(range) = range else {
            // A whole-object get still reports its range, as R2 does.
            meta["range"] = json!({ "offset": 0, "length": body.len() });
            return Ok(Some((meta, body)));
        };
        let size = body.len() as u64;
        // R2's rules (as miniflare mirrors them): an empty suffix or length, or
        // an offset past the end, is unsatisfiable; longer ranges are clamped.
        let unsatisfiable =
            || OpError::failed("get: The requested range is not satisfiable (10039)");
        let (offset, length) = match range.get("suffix").and_then(Value::as_u64) {
            Some(0) => return Err(unsatisfiable()),
            Some(suffix) => {
                let len = suffix.min(size);
                (size - len, len)
            }
            None => {
                let offset = range.get("offset").and_then(Value::as_u64).unwrap_or(0);
                if offset > size {
                    return Err(unsatisfiable());
                }
                let length = range
                    .get("length")
                    .and_then(Value::as_u64)
                    .unwrap_or(size - offset);
                (offset, length)
            }
        };
        if length == 0 {
            return Err(unsatisfiable());
        }
        let length = length.min(size - offset);
        meta["range"] = json!({ "offset": offset, "length": length });
        let slice = body[offset as usize..(offset + length) as usize].to_vec();
        Ok(Some((meta, slice)))
    }

    fn head(&self, key: &str) -> OpResult<Option<ObjectRow>> {
        check_key(key, "head")?;
        head_row(&self.lock(), key)
    }

    /// Remove an object (no error when missing).
    pub fn delete(&self, key: &str) -> OpResult<()> {
        check_key(key, "delete")?;
        let conn = self.lock();
        if let Some(old) = head_row(&conn, key)? {
            conn.execute("DELETE FROM objects WHERE key = ?1", [key])?;
            drop(conn);
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
        let mut limit = match args.get("limit").filter(|l| !l.is_null()) {
            None => MAX_LIST_LIMIT,
            Some(l) => match l.as_i64() {
                Some(n) if (1..=MAX_LIST_LIMIT as i64).contains(&n) => n as usize,
                _ => {
                    return Err(OpError::failed(
                        "list: MaxKeys params must be positive integer <= 1000. (10022)",
                    ));
                }
            },
        };
        // Without `include` R2 sends no metadata and the runtime shows `{}`;
        // with it, fields left out are unknown (`null`).
        let include: Option<Vec<&str>> = args
            .get("include")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        if include.as_ref().is_some_and(|i| !i.is_empty()) {
            limit = limit.min(MAX_LIST_LIMIT_WITH_METADATA);
        }
        let absent = |field: &str| match &include {
            None => Some(json!({})),
            Some(i) if !i.contains(&field) => Some(Value::Null),
            Some(_) => None,
        };
        let (http_absent, custom_absent) = (absent("httpMetadata"), absent("customMetadata"));
        // The later of `startAfter` and the cursor wins, as in R2.
        let start_after = args
            .get("start_after")
            .or_else(|| args.get("startAfter"))
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let cursor = args
            .get("cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let after = match (start_after, cursor) {
            (Some(s), Some(c)) => Some(s.max(c).to_string()),
            (s, c) => s.or(c).map(str::to_string),
        };
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata, checksums
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
                None => {
                    // Like R2, metadata is only listed when `include` asks for it.
                    let mut meta = row.to_json();
                    if let Some(v) = &http_absent {
                        meta["httpMetadata"] = v.clone();
                    }
                    if let Some(v) = &custom_absent {
                        meta["customMetadata"] = v.clone();
                    }
                    objects.push(meta);
                }
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

/// Options of `r2.put`.
#[derive(Debug, Default, Clone)]
pub struct PutOptions {
    /// `httpMetadata` (camelCase fields).
    pub http: Value,
    /// `customMetadata` (string → string).
    pub custom: Value,
    /// `onlyIf`.
    pub only_if: Option<Conditional>,
    /// The op's args: `md5`/`sha1`/`sha256`/`sha384`/`sha512` hex checksums.
    pub checksums: Value,
}

pub(super) fn head_row(conn: &Connection, key: &str) -> OpResult<Option<ObjectRow>> {
    Ok(conn
        .query_row(
            "SELECT key, version, size, etag, uploaded, http_metadata, custom_metadata, checksums
             FROM objects WHERE key = ?1",
            [key],
            row_from_sql,
        )
        .optional()?)
}

pub(super) fn upsert_row(conn: &Connection, row: &ObjectRow) -> OpResult<()> {
    conn.execute(
        "INSERT INTO objects (key, version, size, etag, uploaded, http_metadata, custom_metadata, checksums)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(key) DO UPDATE SET version = ?2, size = ?3, etag = ?4, uploaded = ?5,
             http_metadata = ?6, custom_metadata = ?7, checksums = ?8",
        params![
            row.key,
            row.version,
            row.size,
            row.etag,
            row.uploaded_ms,
            row.http_metadata.to_string(),
            row.custom_metadata.to_string(),
            row.checksums.to_string()
        ],
    )?;
    Ok(())
}

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    let http: String = r.get(5)?;
    let custom: String = r.get(6)?;
    let checksums: Option<String> = r.get(7)?;
    let etag: String = r.get(3)?;
    let checksums = checksums
        .and_then(|c| serde_json::from_str(&c).ok())
        // Rows written before checksums were stored: single-part, md5 etag.
        .unwrap_or_else(|| json!({ "md5": etag }));
    Ok(ObjectRow {
        key: r.get(0)?,
        version: r.get(1)?,
        size: r.get(2)?,
        etag,
        uploaded_ms: r.get(4)?,
        http_metadata: serde_json::from_str(&http).unwrap_or_else(|_| json!({})),
        custom_metadata: serde_json::from_str(&custom).unwrap_or_else(|_| json!({})),
        checksums,
    })
}

pub(super) fn key_arg(args: &Value) -> OpResult<String> {
    args.get("key")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| OpError::invalid("R2: the key must be a string"))
}

pub(super) fn object_arg(args: &Value, name: &str) -> Value {
    match args.get(name) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => json!({}),
    }
}

/// R2's key limit; `op` prefixes the error as the runtime does.
pub(super) fn check_key(key: &str, op: &str) -> OpResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(OpError::failed(format!(
            "{op}: The specified object name is not valid. (10020)"
        )));
    }
    Ok(())
}

/// Custom metadata is limited to 2 KiB of keys plus values (R2 counts
/// UTF-16 code units twice when any is above U+00FF).
pub(super) fn check_custom_metadata(custom: &Value, op: &str) -> OpResult<()> {
    let Some(map) = custom.as_object() else {
        return Ok(());
    };
    let len = |s: &str| {
        let units = s.encode_utf16().count();
        if s.chars().any(|c| c as u32 >= 256) {
            units * 2
        } else {
            units
        }
    };
    let total: usize = map
        .iter()
        .map(|(k, v)| len(k) + v.as_str().map_or_else(|| len(&v.to_string()), len))
        .sum();
    if total > MAX_METADATA_BYTES {
        return Err(OpError::failed(format!(
            "{op}: Your metadata headers exceed the maximum allowed metadata size. (10012)"
        )));
    }
    Ok(())
}
