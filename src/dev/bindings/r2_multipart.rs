//! R2 multipart uploads (`r2.mpu.create|part|complete|abort`). Parts are
//! files in `parts/` indexed in SQLite. Completing concatenates the chosen
//! parts into one new blob (temp file + rename) and then, in one SQLite
//! transaction, publishes the object and retires the upload, so a crash
//! never leaves a half-assembled object visible. Uploads are kept after
//! completion or abort (state 1 or 2) so the errors match R2's: an unknown
//! id is an internal error, a finished one "does not exist".

use std::io::Write;

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::error::{OpError, OpResult};
use super::r2::{self, ObjectRow, R2Bucket};
use super::{Reply, sqlite};

/// Every part but the last must be at least this big (5 MiB).
pub const MIN_PART_BYTES: i64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i64 = 10_000;
const IN_PROGRESS: i64 = 0;
const COMPLETED: i64 = 1;
const ABORTED: i64 = 2;

/// Create the multipart tables (idempotent).
pub fn init_schema(conn: &Connection) -> OpResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS multipart_uploads (
            upload_id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            http_metadata TEXT NOT NULL,
            custom_metadata TEXT NOT NULL,
            state INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS multipart_parts (
            upload_id TEXT NOT NULL,
            part_number INTEGER NOT NULL,
            file TEXT NOT NULL,
            size INTEGER NOT NULL,
            etag TEXT NOT NULL,
            md5 TEXT NOT NULL,
            PRIMARY KEY (upload_id, part_number)
        ) WITHOUT ROWID;",
    )?;
    Ok(())
}

fn internal(op: &str) -> OpError {
    OpError::failed(format!(
        "{op}: We encountered an internal error. Please try again. (10001)"
    ))
}

fn no_such_upload(op: &str) -> OpError {
    OpError::failed(format!(
        "{op}: The specified multipart upload does not exist. (10024)"
    ))
}

fn upload_id_arg(args: &Value) -> OpResult<String> {
    args.get("upload_id")
        .or_else(|| args.get("uploadId"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| OpError::invalid("R2 multipart: the uploadId must be a string"))
}

fn upload_state(conn: &Connection, key: &str, upload_id: &str) -> OpResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT state FROM multipart_uploads WHERE upload_id = ?1 AND key = ?2",
            params![upload_id, key],
            |r| r.get(0),
        )
        .optional()?)
}

/// A part as recorded when it was uploaded.
struct PartRow {
    number: i64,
    file: String,
    size: i64,
    etag: String,
    md5: String,
}

impl R2Bucket {
    /// Dispatch `r2.mpu.<op>`.
    pub(super) fn multipart(&self, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        let key = r2::key_arg(args)?;
        match op {
            "create" => Ok(Reply::value(json!({
                "upload_id": self.mpu_create(
                    &key,
                    r2::object_arg(args, "http_metadata"),
                    r2::object_arg(args, "custom_metadata"),
                )?
            }))),
            "part" => {
                let number = args
                    .get("part_number")
                    .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
                    .unwrap_or(0);
                let etag = self.mpu_part(&key, &upload_id_arg(args)?, number, &body)?;
                Ok(Reply::value(json!({ "partNumber": number, "etag": etag })))
            }
            "complete" => {
                let parts = args
                    .get("parts")
                    .and_then(Value::as_array)
                    .ok_or_else(|| OpError::invalid("complete() needs a list of uploaded parts"))?
                    .iter()
                    .map(|p| {
                        let n = p
                            .get("partNumber")
                            .or_else(|| p.get("part_number"))
                            .and_then(Value::as_i64);
                        let e = p.get("etag").and_then(Value::as_str);
                        match (n, e) {
                            (Some(n), Some(e)) => Ok((n, e.to_string())),
                            _ => Err(OpError::invalid(
                                "complete(): each uploaded part needs `partNumber` and `etag`",
                            )),
                        }
                    })
                    .collect::<OpResult<Vec<_>>>()?;
                Ok(Reply::value(self.mpu_complete(
                    &key,
                    &upload_id_arg(args)?,
                    &parts,
                    MIN_PART_BYTES,
                )?))
            }
            "abort" => {
                self.mpu_abort(&key, &upload_id_arg(args)?)?;
                Ok(Reply::null())
            }
            other => Err(OpError::UnknownOp(format!("r2.mpu.{other}"))),
        }
    }

    /// Start an upload; returns its id.
    pub fn mpu_create(&self, key: &str, http: Value, custom: Value) -> OpResult<String> {
        r2::check_key(key, "createMultipartUpload")?;
        r2::check_custom_metadata(&custom, "createMultipartUpload")?;
        let upload_id = sqlite::random_hex(32);
        self.lock().execute(
            "INSERT INTO multipart_uploads (upload_id, key, http_metadata, custom_metadata, state)
             VALUES (?1, ?2, ?3, ?4, 0)",
            params![upload_id, key, http.to_string(), custom.to_string()],
        )?;
        Ok(upload_id)
    }

    /// Store part `number` (replacing an earlier upload of it); returns its etag.
    pub fn mpu_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i64,
        body: &[u8],
    ) -> OpResult<String> {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(OpError::invalid(format!(
                "Part number must be between 1 and 10000 (inclusive). Actual value was: {number}"
            )));
        }
        r2::check_key(key, "uploadPart")?;
        let md5 = sqlite::hex(&Md5::digest(body));
        let file = sqlite::random_hex(16);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.parts)?;
        tmp.write_all(body)?;
        tmp.persist(self.parts.join(&file))
            .map_err(|e| OpError::Io(e.error))?;
        let etag = sqlite::random_hex(16);
        let conn = self.lock();
        let result = (|| -> OpResult<Option<String>> {
            if upload_state(&conn, key, upload_id)? != Some(IN_PROGRESS) {
                return Err(no_such_upload("uploadPart"));
            }
            let old: Option<String> = conn
                .query_row(
                    "SELECT file FROM multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![upload_id, number],
                    |r| r.get(0),
                )
                .optional()?;
            conn.execute(
                "INSERT OR REPLACE INTO multipart_parts (upload_id, part_number, file, size, etag, md5)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![upload_id, number, file, body.len() as i64, etag, md5],
            )?;
            Ok(old)
        })();
        drop(conn);
        match result {
            Ok(old) => {
                if let Some(old) = old {
                    let _ = std::fs::remove_file(self.parts.join(old));
                }
                Ok(etag)
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.parts.join(&file));
                Err(e)
            }
        }
    }

    /// Assemble the chosen parts into the object under `key`.
    pub fn mpu_complete(
        &self,
        key: &str,
        upload_id: &str,
        selected: &[(i64, String)],
        min_part: i64,
    ) -> OpResult<Value> {
        const OP: &str = "completeMultipartUpload";
        r2::check_key(key, OP)?;
        let conn = self.lock();
        let (http, custom, state): (String, String, i64) = conn
            .query_row(
                "SELECT http_metadata, custom_metadata, state FROM multipart_uploads
                 WHERE upload_id = ?1 AND key = ?2",
                params![upload_id, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| internal(OP))?;
        if state != IN_PROGRESS {
            return Err(no_such_upload(OP));
        }
        let mut uploaded = Vec::new();
        {
            let mut stmt = conn.prepare(
                "SELECT part_number, file, size, etag, md5 FROM multipart_parts WHERE upload_id = ?1",
            )?;
            let rows = stmt.query_map([upload_id], |r| {
                Ok(PartRow {
                    number: r.get(0)?,
                    file: r.get(1)?,
                    size: r.get(2)?,
                    etag: r.get(3)?,
                    md5: r.get(4)?,
                })
            })?;
            for row in rows {
                uploaded.push(row?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut parts: Vec<&PartRow> = Vec::with_capacity(selected.len());
        for (number, etag) in selected {
            if !seen.insert(*number) {
                return Err(internal(OP));
            }
            let part = uploaded
                .iter()
                .find(|p| p.number == *number && &p.etag == etag)
                .ok_or_else(|| {
                    OpError::failed(format!(
                        "{OP}: One or more of the specified parts could not be found. (10025)"
                    ))
                })?;
            parts.push(part);
        }
        if parts.iter().rev().skip(1).any(|p| p.size < min_part) {
            return Err(OpError::failed(format!(
                "{OP}: Your proposed upload is smaller than the minimum allowed object size. (10011)"
            )));
        }
        parts.sort_by_key(|p| p.number);
        let bad_upload = || {
            OpError::failed(format!(
                "{OP}: There was a problem with the multipart upload. (10048)"
            ))
        };
        if let Some((last, rest)) = parts.split_last()
            && let Some(first) = rest.first()
            && (rest
                .iter()
                .any(|p| p.size != first.size || p.size < min_part)
                || last.size > first.size)
        {
            return Err(bad_upload());
        }

        // Assemble the body beside the other blobs, then publish atomically.
        let version = sqlite::random_hex(16);
        let mut tmp = tempfile::NamedTempFile::new_in(&self.blobs)?;
        let mut md5_concat = Vec::with_capacity(parts.len() * 16);
        let mut size = 0i64;
        for p in &parts {
            let mut f = std::fs::File::open(self.parts.join(&p.file))?;
            size += std::io::copy(&mut f, &mut tmp)? as i64;
            md5_concat.extend((0..p.md5.len() / 2).filter_map(|i| {
                u8::from_str_radix(p.md5.get(2 * i..2 * i + 2).unwrap_or(""), 16).ok()
            }));
        }
        tmp.as_file().sync_all()?;
        tmp.persist(self.blobs.join(&version))
            .map_err(|e| OpError::Io(e.error))?;
        let row = ObjectRow {
            key: key.to_string(),
            version,
            size,
            etag: format!("{}-{}", sqlite::hex(&Md5::digest(&md5_concat)), parts.len()),
            uploaded_ms: (self.clock)(),
            http_metadata: serde_json::from_str(&http).unwrap_or_else(|_| json!({})),
            custom_metadata: serde_json::from_str(&custom).unwrap_or_else(|_| json!({})),
            checksums: json!({}),
        };
        let files: Vec<String> = uploaded.iter().map(|p| p.file.clone()).collect();
        let published = (|| -> OpResult<Option<ObjectRow>> {
            let tx = conn.unchecked_transaction()?;
            let old = r2::head_row(&tx, key)?;
            r2::upsert_row(&tx, &row)?;
            tx.execute(
                "UPDATE multipart_uploads SET state = ?2 WHERE upload_id = ?1",
                params![upload_id, COMPLETED],
            )?;
            tx.execute(
                "DELETE FROM multipart_parts WHERE upload_id = ?1",
                [upload_id],
            )?;
            tx.commit()?;
            Ok(old)
        })();
        drop(conn);
        match published {
            Ok(old) => {
                if let Some(old) = old {
                    let _ = std::fs::remove_file(self.blobs.join(old.version));
                }
                for f in files {
                    let _ = std::fs::remove_file(self.parts.join(f));
                }
                Ok(row.to_json())
            }
            Err(e) => {
                let _ = std::fs::remove_file(self.blobs.join(&row.version));
                Err(e)
            }
        }
    }

    /// Drop an upload and its parts; a finished upload is left as it is.
    pub fn mpu_abort(&self, key: &str, upload_id: &str) -> OpResult<()> {
        const OP: &str = "abortMultipartUpload";
        r2::check_key(key, OP)?;
        let conn = self.lock();
        match upload_state(&conn, key, upload_id)? {
            None => return Err(internal(OP)),
            Some(s) if s != IN_PROGRESS => return Ok(()),
            Some(_) => {}
        }
        let tx = conn.unchecked_transaction()?;
        let files: Vec<String> = {
            let mut stmt = tx.prepare("SELECT file FROM multipart_parts WHERE upload_id = ?1")?;
            stmt.query_map([upload_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        tx.execute(
            "DELETE FROM multipart_parts WHERE upload_id = ?1",
            [upload_id],
        )?;
        tx.execute(
            "UPDATE multipart_uploads SET state = ?2 WHERE upload_id = ?1",
            params![upload_id, ABORTED],
        )?;
        tx.commit()?;
        drop(conn);
        for f in files {
            let _ = std::fs::remove_file(self.parts.join(f));
        }
        Ok(())
    }
}
