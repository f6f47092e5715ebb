//! R2 buckets on local files, stored as wrangler's local mode (miniflare)
//! stores them (see `store`): an SQLite index, so listing is ordered and
//! cheap, and one blob file per body. Bodies are written to a temp file and
//! renamed before their row is committed, so a crash never leaves half an
//! object. Multipart uploads live in `multipart`, preconditions and
//! checksums in `cond`. Error texts are R2's, prefixed with the operation
//! as the runtime does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::cond::{self, Conditional};
use super::store;
use crate::dev::bindings::{Clock, Reply};
use crate::dev::bindings::{OpError, OpResult};
use crate::dev::bindings::{miniflare, sqlite};

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
    pub(super) clock: Clock,
}

/// An object's metadata as stored in the index.
#[derive(Debug, Clone)]
pub(super) struct ObjectRow {
    pub(super) key: String,
    /// The body's blob; `None` for a completed multipart upload, whose body
    /// is its parts' blobs in part order.
    pub(super) blob_id: Option<String>,
    pub(super) version: String,
    pub(super) size: i64,
    pub(super) etag: String,
    pub(super) uploaded_ms: i64,
    pub(super) http_metadata: Value,
    pub(super) custom_metadata: Value,
    /// The checksums supplied at upload, as stored (miniflare leaves out the
    /// md5, which is the etag of a single-part object).
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
            "checksums": self.checksums_json(),
            "storageClass": "Standard",
        })
    }
}

impl ObjectRow {
    /// The checksums R2 reports: those supplied, plus the md5 when the etag
    /// is one (single-part objects), as miniflare derives them.
    fn checksums_json(&self) -> Value {
        let mut sums = match &self.checksums {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        if self.etag.len() == 32 && self.etag.bytes().all(|b| b.is_ascii_hexdigit()) {
            sums.insert("md5".into(), Value::String(self.etag.clone()));
        }
        Value::Object(sums)
    }
}

impl R2Bucket {
    /// Open (or create) bucket `bucket` under the state's `v3` folder. A
    /// bucket kept by earlier pywrangler-rs versions in `r2/<bucket>/index.sqlite`
    /// is imported once, then those files are removed.
    pub fn open(v3: &Path, bucket: &str, clock: Clock) -> OpResult<R2Bucket> {
        let blobs = miniflare::blobs_dir(v3, "r2", bucket);
        std::fs::create_dir_all(&blobs)?;
        let conn = sqlite::open(&miniflare::r2_path(v3, bucket))?;
        conn.execute_batch(store::SCHEMA)?;
        let bucket_store = R2Bucket {
            conn: Mutex::new(conn),
            blobs,
            clock,
        };
        bucket_store.import_old(v3, bucket)?;
        bucket_store.sweep_orphans()?;
        Ok(bucket_store)
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
        let checksums = cond::verify_checksums(&opts.checksums, body)?;
        let blob_id = self.write_blob(body)?;
        let row = ObjectRow {
            key: key.to_string(),
            blob_id: Some(blob_id.clone()),
            version: sqlite::random_hex(16),
            size: body.len() as i64,
            etag: sqlite::hex(&Md5::digest(body)),
            uploaded_ms: (self.clock)(),
            http_metadata: opts.http,
            custom_metadata: opts.custom,
            checksums: Value::Object(checksums),
        };
        let stored = (|| -> OpResult<Option<Vec<String>>> {
            let conn = self.lock();
            let tx = conn.unchecked_transaction()?;
            let old = head_row(&tx, key)?;
            if let Some(cond) = &opts.only_if
                && !cond.holds(old.as_ref().map(|o| (o.etag.as_str(), o.uploaded_ms)))
            {
                return Ok(None);
            }
            let replaced = match old {
                Some(old) => take_blobs(&tx, &old)?,
                None => Vec::new(),
            };
            upsert_row(&tx, &row)?;
            tx.commit()?;
            Ok(Some(replaced))
        })();
        match stored {
            Ok(Some(replaced)) => {
                self.remove_blobs(replaced);
                Ok(Some(row.to_json()))
            }
            Ok(None) => {
                self.remove_blobs([blob_id]);
                Ok(None)
            }
            Err(e) => {
                self.remove_blobs([blob_id]);
                Err(e)
            }
        }
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
        // Read under the lock: a concurrent put may remove these blobs.
        let conn = self.lock();
        let Some(row) = head_row(&conn, key)? else {
            return Ok(None);
        };
        let mut meta = row.to_json();
        if let Some(cond) = only_if
            && !cond.holds(Some((row.etag.as_str(), row.uploaded_ms)))
        {
            meta["precondition_failed"] = json!(true);
            return Ok(Some((meta, Vec::new())));
        }
        let size = row.size.max(0) as u64;
        let (offset, length) = match range {
            // A whole-object get still reports its range, as R2 does.
            None => (0, size),
            Some(range) => satisfiable_range(range, size)?,
        };
        let blobs = body_blobs(&conn, &row)?;
        let body = self.read_range(&blobs, offset, length)?;
        drop(conn);
        meta["range"] = json!({ "offset": offset, "length": length });
        Ok(Some((meta, body)))
    }

    fn head(&self, key: &str) -> OpResult<Option<ObjectRow>> {
        check_key(key, "head")?;
        head_row(&self.lock(), key)
    }

    /// Remove an object (no error when missing).
    pub fn delete(&self, key: &str) -> OpResult<()> {
        check_key(key, "delete")?;
        let removed = {
            let conn = self.lock();
            let tx = conn.unchecked_transaction()?;
            let Some(old) = head_row(&tx, key)? else {
                return Ok(());
            };
            let blobs = take_blobs(&tx, &old)?;
            tx.execute("DELETE FROM _mf_objects WHERE key = ?1", [key])?;
            tx.commit()?;
            blobs
        };
        self.remove_blobs(removed);
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
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM _mf_objects
             WHERE substr(key, 1, length(?1)) = ?1 AND (?2 IS NULL OR key > ?2)
             ORDER BY key"
        ))?;
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

/// The index columns `row_from_sql` reads, in its order.
const COLUMNS: &str =
    "key, blob_id, version, size, etag, uploaded, http_metadata, custom_metadata, checksums";

pub(super) fn head_row(conn: &Connection, key: &str) -> OpResult<Option<ObjectRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM _mf_objects WHERE key = ?1"),
            [key],
            row_from_sql,
        )
        .optional()?)
}

/// Insert or replace `row` (the caller has dealt with the row it replaces).
pub(super) fn upsert_row(conn: &Connection, row: &ObjectRow) -> OpResult<()> {
    conn.execute(
        "INSERT OR REPLACE INTO _mf_objects (key, blob_id, version, size, etag, uploaded,
             checksums, http_metadata, custom_metadata)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.key,
            row.blob_id,
            row.version,
            row.size,
            row.etag,
            row.uploaded_ms,
            row.checksums.to_string(),
            row.http_metadata.to_string(),
            row.custom_metadata.to_string()
        ],
    )?;
    Ok(())
}

/// Unlink the blobs holding `old`'s body from the index (its multipart parts'
/// rows go; its own row is replaced or deleted by the caller) and return
/// their ids, to remove once the transaction has committed.
pub(super) fn take_blobs(conn: &Connection, old: &ObjectRow) -> OpResult<Vec<String>> {
    if let Some(id) = &old.blob_id {
        return Ok(vec![id.clone()]);
    }
    let ids: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT blob_id FROM _mf_multipart_parts WHERE object_key = ?1")?;
        stmt.query_map([&old.key], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    conn.execute(
        "DELETE FROM _mf_multipart_parts WHERE object_key = ?1",
        [&old.key],
    )?;
    Ok(ids)
}

/// The blobs (id, size) whose concatenation is `row`'s body.
fn body_blobs(conn: &Connection, row: &ObjectRow) -> OpResult<Vec<(String, u64)>> {
    if let Some(id) = &row.blob_id {
        return Ok(vec![(id.clone(), row.size.max(0) as u64)]);
    }
    let mut stmt = conn.prepare(
        "SELECT blob_id, size FROM _mf_multipart_parts WHERE object_key = ?1 ORDER BY part_number",
    )?;
    let parts = stmt.query_map([&row.key], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(parts.collect::<Result<_, _>>()?)
}

/// R2's rules for a `range` (as miniflare mirrors them): an empty suffix or
/// length, or an offset past the end, is unsatisfiable; longer ranges are
/// clamped. Returns (offset, length).
fn satisfiable_range(range: &Value, size: u64) -> OpResult<(u64, u64)> {
    let unsatisfiable = || OpError::failed("get: The requested range is not satisfiable (10039)");
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
    Ok((offset, length.min(size - offset)))
}

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    let http: String = r.get(6)?;
    let custom: String = r.get(7)?;
    let checksums: String = r.get(8)?;
    Ok(ObjectRow {
        key: r.get(0)?,
        blob_id: r.get(1)?,
        version: r.get(2)?,
        size: r.get(3)?,
        etag: r.get(4)?,
        uploaded_ms: r.get(5)?,
        http_metadata: serde_json::from_str(&http).unwrap_or_else(|_| json!({})),
        custom_metadata: serde_json::from_str(&custom).unwrap_or_else(|_| json!({})),
        checksums: serde_json::from_str(&checksums).unwrap_or_else(|_| json!({})),
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
