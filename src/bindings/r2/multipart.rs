//! R2 multipart uploads (`r2.mpu.create|part|complete|abort`), stored as
//! miniflare stores them: each part is a blob file with a row in
//! `_mf_multipart_parts`. Completing publishes, in one SQLite transaction, an
//! object row without a blob (`blob_id` NULL) and links the chosen parts to it
//! (`object_key`); unchosen parts are dropped. The body is the linked parts'
//! blobs in part order, so nothing is copied and a crash never leaves a
//! half-published object. Uploads are kept after completion or abort (state 1
//! or 2) so the errors match R2's: an unknown id is an internal error, a
//! finished one "does not exist".

use md5::{Digest, Md5};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::bucket::{self, ObjectRow, R2Bucket};
use crate::dev::bindings::{OpError, OpResult};
use crate::dev::bindings::{Reply, sqlite};

/// Every part but the last must be at least this big (5 MiB).
pub const MIN_PART_BYTES: i64 = 5 * 1024 * 1024;
const MAX_PART_NUMBER: i64 = 10_000;
const IN_PROGRESS: i64 = 0;
const COMPLETED: i64 = 1;
const ABORTED: i64 = 2;

/// An upload id or part etag as miniflare makes them: 128 random bytes,
/// base64url without padding.
fn random_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let hex = sqlite::random_hex(128);
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
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
            "SELECT state FROM _mf_multipart_uploads WHERE upload_id = ?1 AND key = ?2",
            params![upload_id, key],
            |r| r.get(0),
        )
        .optional()?)
}

/// A part as recorded when it was uploaded.
struct PartRow {
    number: i64,
    blob_id: String,
    size: i64,
    etag: String,
    md5: String,
}

impl R2Bucket {
    /// Dispatch `r2.mpu.<op>`.
    pub(super) fn multipart(&self, op: &str, args: &Value, body: Vec<u8>) -> OpResult<Reply> {
        let key = bucket::key_arg(args)?;
        match op {
            "create" => Ok(Reply::value(json!({
                "upload_id": self.mpu_create(
                    &key,
                    bucket::object_arg(args, "http_metadata"),
                    bucket::object_arg(args, "custom_metadata"),
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
        bucket::check_key(key, "createMultipartUpload")?;
        bucket::check_custom_metadata(&custom, "createMultipartUpload")?;
        let upload_id = random_id();
        self.lock().execute(
            "INSERT INTO _mf_multipart_uploads (upload_id, key, http_metadata, custom_metadata)
             VALUES (?1, ?2, ?3, ?4)",
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
        bucket::check_key(key, "uploadPart")?;
        let md5 = sqlite::hex(&Md5::digest(body));
        let blob_id = self.write_blob(body)?;
        let etag = random_id();
        let result = (|| -> OpResult<Option<String>> {
            let conn = self.lock();
            let tx = conn.unchecked_transaction()?;
            if upload_state(&tx, key, upload_id)? != Some(IN_PROGRESS) {
                return Err(no_such_upload("uploadPart"));
            }
            let old: Option<String> = tx
                .query_row(
                    "SELECT blob_id FROM _mf_multipart_parts WHERE upload_id = ?1 AND part_number = ?2",
                    params![upload_id, number],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO _mf_multipart_parts
                     (upload_id, part_number, blob_id, size, etag, checksum_md5)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![upload_id, number, blob_id, body.len() as i64, etag, md5],
            )?;
            tx.commit()?;
            Ok(old)
        })();
        match result {
            Ok(old) => {
                self.remove_blobs(old);
                Ok(etag)
            }
            Err(e) => {
                self.remove_blobs([blob_id]);
                Err(e)
            }
        }
    }

    /// Publish the chosen parts as the object under `key`.
    pub fn mpu_complete(
        &self,
        key: &str,
        upload_id: &str,
        selected: &[(i64, String)],
        min_part: i64,
    ) -> OpResult<Value> {
        const OP: &str = "completeMultipartUpload";
        bucket::check_key(key, OP)?;
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
        let (http, custom, state): (String, String, i64) = tx
            .query_row(
                "SELECT http_metadata, custom_metadata, state FROM _mf_multipart_uploads
                 WHERE upload_id = ?1 AND key = ?2",
                params![upload_id, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| internal(OP))?;
        if state != IN_PROGRESS {
            return Err(no_such_upload(OP));
        }
        let uploaded: Vec<PartRow> = {
            let mut stmt = tx.prepare(
                "SELECT part_number, blob_id, size, etag, checksum_md5
                 FROM _mf_multipart_parts WHERE upload_id = ?1",
            )?;
            stmt.query_map([upload_id], |r| {
                Ok(PartRow {
                    number: r.get(0)?,
                    blob_id: r.get(1)?,
                    size: r.get(2)?,
                    etag: r.get(3)?,
                    md5: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?
        };
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
        // The parts become the body: make sure they are all there first.
        for p in &parts {
            let path = self.blobs.join(&p.blob_id);
            if !std::fs::metadata(&path).is_ok_and(|m| m.len() == p.size as u64) {
                return Err(OpError::failed(format!(
                    "{OP}: part {} of this upload is missing or damaged on disk ({}); upload it again",
                    p.number,
                    path.display()
                )));
            }
        }

        let mut md5_concat = Vec::with_capacity(parts.len() * 16);
        for p in &parts {
            md5_concat.extend((0..p.md5.len() / 2).filter_map(|i| {
                u8::from_str_radix(p.md5.get(2 * i..2 * i + 2).unwrap_or(""), 16).ok()
            }));
        }
        let row = ObjectRow {
            key: key.to_string(),
            blob_id: None,
            version: sqlite::random_hex(16),
            size: parts.iter().map(|p| p.size).sum(),
            etag: format!("{}-{}", sqlite::hex(&Md5::digest(&md5_concat)), parts.len()),
            uploaded_ms: (self.clock)(),
            http_metadata: serde_json::from_str(&http).unwrap_or_else(|_| json!({})),
            custom_metadata: serde_json::from_str(&custom).unwrap_or_else(|_| json!({})),
            checksums: json!({}),
        };
        let mut retired = match bucket::head_row(&tx, key)? {
            Some(old) => bucket::take_blobs(&tx, &old)?,
            None => Vec::new(),
        };
        bucket::upsert_row(&tx, &row)?;
        for p in &parts {
            tx.execute(
                "UPDATE _mf_multipart_parts SET object_key = ?3
                 WHERE upload_id = ?1 AND part_number = ?2",
                params![upload_id, p.number, key],
            )?;
        }
        let chosen: std::collections::HashSet<i64> = parts.iter().map(|p| p.number).collect();
        retired.extend(
            uploaded
                .iter()
                .filter(|p| !chosen.contains(&p.number))
                .map(|p| p.blob_id.clone()),
        );
        tx.execute(
            "DELETE FROM _mf_multipart_parts WHERE upload_id = ?1 AND object_key IS NULL",
            [upload_id],
        )?;
        tx.execute(
            "UPDATE _mf_multipart_uploads SET state = ?2 WHERE upload_id = ?1",
            params![upload_id, COMPLETED],
        )?;
        tx.commit()?;
        drop(conn);
        self.remove_blobs(retired);
        Ok(row.to_json())
    }

    /// Drop an upload and its parts; a finished upload is left as it is.
    pub fn mpu_abort(&self, key: &str, upload_id: &str) -> OpResult<()> {
        const OP: &str = "abortMultipartUpload";
        bucket::check_key(key, OP)?;
        let blobs: Vec<String> = {
            let conn = self.lock();
            let tx = conn.unchecked_transaction()?;
            match upload_state(&tx, key, upload_id)? {
                None => return Err(internal(OP)),
                Some(s) if s != IN_PROGRESS => return Ok(()),
                Some(_) => {}
            }
            let blobs: Vec<String> = {
                let mut stmt =
                    tx.prepare("SELECT blob_id FROM _mf_multipart_parts WHERE upload_id = ?1")?;
                stmt.query_map([upload_id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            tx.execute(
                "DELETE FROM _mf_multipart_parts WHERE upload_id = ?1",
                [upload_id],
            )?;
            tx.execute(
                "UPDATE _mf_multipart_uploads SET state = ?2 WHERE upload_id = ?1",
                params![upload_id, ABORTED],
            )?;
            tx.commit()?;
            blobs
        };
        self.remove_blobs(blobs);
        Ok(())
    }
}
