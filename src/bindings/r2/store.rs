//! The files behind a local R2 bucket, laid out as wrangler's local mode
//! (miniflare) lays them out, so `wrangler r2 object get|put --local` and
//! `dev` share data:
//!
//! - an index `r2/miniflare-R2BucketObject/<object id>.sqlite` with the tables
//!   `_mf_objects`, `_mf_multipart_uploads` and `_mf_multipart_parts`;
//! - every body and every uploaded part as a file `r2/<bucket>/blobs/<blob id>`.
//!
//! A single-part object names its blob in `_mf_objects.blob_id`; a completed
//! multipart object has `blob_id` NULL and its body is its parts' blobs
//! (`_mf_multipart_parts.object_key` = the key) concatenated in part order.
//! Blobs are written before the row that names them and removed after the row
//! that named them is gone, so a crash leaves at worst an unreferenced file;
//! `sweep_orphans` removes those on the next open.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::bucket::R2Bucket;
use crate::dev::bindings::{OpError, OpResult};
use crate::dev::bindings::{file_name, miniflare};

/// miniflare's schema (wrangler 4.86.0), so either side can create the file.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _mf_objects (
    key TEXT PRIMARY KEY,
    blob_id TEXT,
    version TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    uploaded INTEGER NOT NULL,
    checksums TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _mf_multipart_uploads (
    upload_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    http_metadata TEXT NOT NULL,
    custom_metadata TEXT NOT NULL,
    state TINYINT DEFAULT 0 NOT NULL
);
CREATE TABLE IF NOT EXISTS _mf_multipart_parts (
    upload_id TEXT NOT NULL REFERENCES _mf_multipart_uploads(upload_id),
    part_number INTEGER NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    checksum_md5 TEXT NOT NULL,
    object_key TEXT REFERENCES _mf_objects(key) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (upload_id, part_number)
);";

/// Files younger than this are never swept: another process (a running
/// `wrangler dev`, say) may be about to commit the row naming them.
const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

impl R2Bucket {
    /// Write `body` as a new blob file (temp file + rename); its id.
    pub(super) fn write_blob(&self, body: &[u8]) -> OpResult<String> {
        Ok(miniflare::write_blob(&self.blobs, (self.clock)(), body)?)
    }

    /// Remove blob files (already unreferenced); missing ones are fine.
    pub(super) fn remove_blobs<I: IntoIterator<Item = String>>(&self, ids: I) {
        for id in ids {
            let _ = std::fs::remove_file(self.blobs.join(id));
        }
    }

    /// Bytes `offset .. offset + length` of the body made of `blobs` (id and
    /// size each, in order): one blob for a single-part object, the parts of
    /// a multipart one. Only the blobs that hold the range are opened.
    pub(super) fn read_range(
        &self,
        blobs: &[(String, u64)],
        offset: u64,
        length: u64,
    ) -> OpResult<Vec<u8>> {
        let mut out = Vec::with_capacity(length as usize);
        let end = offset + length;
        let mut start = 0u64;
        for (id, size) in blobs {
            let (lo, hi) = (offset.max(start), end.min(start + size));
            if lo < hi {
                let path = self.blobs.join(id);
                let mut f = std::fs::File::open(&path).map_err(|e| missing_blob(&path, e))?;
                f.seek(SeekFrom::Start(lo - start))?;
                let before = out.len();
                f.take(hi - lo).read_to_end(&mut out)?;
                if (out.len() - before) as u64 != hi - lo {
                    return Err(OpError::failed(format!(
                        "R2: {} is shorter than its index entry says; the local bucket is damaged (delete the object and upload it again)",
                        path.display()
                    )));
                }
            }
            start += size;
            if start >= end {
                break;
            }
        }
        Ok(out)
    }

    /// Remove blob files no index row names: what a crash between writing a
    /// file and committing its row (or between dropping a row and removing
    /// its file) leaves behind.
    pub(super) fn sweep_orphans(&self) -> OpResult<()> {
        let live: HashSet<String> = {
            let conn = self.lock();
            let mut stmt = conn.prepare(
                "SELECT blob_id FROM _mf_objects WHERE blob_id IS NOT NULL
                 UNION SELECT blob_id FROM _mf_multipart_parts",
            )?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
            ids.collect::<Result<_, _>>()?
        };
        let cutoff = std::time::SystemTime::now() - SWEEP_MIN_AGE;
        for entry in std::fs::read_dir(&self.blobs)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && !live.contains(&name) && entry.path().is_file() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Import a bucket kept by earlier pywrangler-rs versions
    /// (`r2/<bucket>/index.sqlite` with tables `objects`, `multipart_uploads`,
    /// `multipart_parts`; bodies in `blobs/<version>`, parts in `parts/<file>`),
    /// then remove those files. Each body gets a new blob id through a hard
    /// link (a copy where links are unsupported) before the rows are committed,
    /// so a crash at any point loses nothing: the import simply runs again.
    pub(super) fn import_old(&self, v3: &Path, bucket: &str) -> OpResult<()> {
        let dir = v3.join("r2").join(file_name(bucket));
        let index = dir.join("index.sqlite");
        if !index.is_file() {
            return Ok(());
        }
        let old = OldBucket::read(&index).map_err(|e| {
            OpError::failed(format!(
                "R2: cannot import the local bucket `{bucket}` kept by an earlier version in {}: {e}. Move that folder away (its objects are then not available to `dev`) and start again",
                index.display()
            ))
        })?;
        let now = (self.clock)();
        // Give every file a new name first (nothing references those yet).
        let mut linked = Vec::new();
        let mut adopt = |from: PathBuf| -> OpResult<Option<String>> {
            if !from.is_file() {
                return Ok(None);
            }
            let id = miniflare::new_blob_id(now);
            link_or_copy(&from, &self.blobs.join(&id))?;
            linked.push(id.clone());
            Ok(Some(id))
        };
        let mut objects = Vec::new();
        for o in old.objects {
            if let Some(id) = adopt(dir.join("blobs").join(&o.version))? {
                objects.push((id, o));
            }
        }
        let mut parts = Vec::new();
        for p in old.parts {
            if let Some(id) = adopt(dir.join("parts").join(&p.file))? {
                parts.push((id, p));
            }
        }
        let mut unused = Vec::new();
        let committed = (|| -> OpResult<()> {
            let conn = self.lock();
            let tx = conn.unchecked_transaction()?;
            for (id, o) in &objects {
                let n = tx.execute(
                    "INSERT OR IGNORE INTO _mf_objects (key, blob_id, version, size, etag, uploaded,
                         checksums, http_metadata, custom_metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        o.key,
                        id,
                        o.version,
                        o.size,
                        o.etag,
                        o.uploaded,
                        o.checksums.as_deref().unwrap_or("{}"),
                        o.http_metadata,
                        o.custom_metadata
                    ],
                )?;
                if n == 0 {
                    unused.push(id.clone());
                }
            }
            for u in &old.uploads {
                tx.execute(
                    "INSERT OR IGNORE INTO _mf_multipart_uploads
                         (upload_id, key, http_metadata, custom_metadata, state)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![u.0, u.1, u.2, u.3, u.4],
                )?;
            }
            for (id, p) in &parts {
                let n = tx.execute(
                    "INSERT OR IGNORE INTO _mf_multipart_parts
                         (upload_id, part_number, blob_id, size, etag, checksum_md5)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![p.upload_id, p.number, id, p.size, p.etag, p.md5],
                )?;
                if n == 0 {
                    unused.push(id.clone());
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = committed {
            self.remove_blobs(linked);
            return Err(e);
        }
        self.remove_blobs(unused);
        crate::dev::bindings::sqlite::remove_database(&index);
        for (_, o) in &objects {
            let _ = std::fs::remove_file(dir.join("blobs").join(&o.version));
        }
        let _ = std::fs::remove_dir_all(dir.join("parts"));
        Ok(())
    }
}

fn missing_blob(path: &Path, e: std::io::Error) -> OpError {
    if e.kind() == std::io::ErrorKind::NotFound {
        OpError::failed(format!(
            "R2: {} is missing; the local bucket is damaged (delete the object and upload it again)",
            path.display()
        ))
    } else {
        e.into()
    }
}

fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    let tmp = to.with_extension("import");
    std::fs::copy(from, &tmp)?;
    std::fs::rename(&tmp, to)
}

/// An object row of the earlier layout.
struct OldObject {
    key: String,
    version: String,
    size: i64,
    etag: String,
    uploaded: i64,
    checksums: Option<String>,
    http_metadata: String,
    custom_metadata: String,
}

/// A part of an upload still in progress, in the earlier layout.
struct OldPart {
    upload_id: String,
    number: i64,
    file: String,
    size: i64,
    etag: String,
    md5: String,
}

/// The rows of an earlier-layout index.
struct OldBucket {
    objects: Vec<OldObject>,
    /// (upload id, key, http metadata, custom metadata, state).
    uploads: Vec<(String, String, String, String, i64)>,
    parts: Vec<OldPart>,
}

impl OldBucket {
    fn read(index: &Path) -> rusqlite::Result<OldBucket> {
        let src = Connection::open(index)?;
        let has = |sql: &str| -> rusqlite::Result<bool> { src.prepare(sql)?.exists([]) };
        // The checksums column was added after the first release.
        let checksums =
            if has("SELECT 1 FROM pragma_table_info('objects') WHERE name = 'checksums'")? {
                "checksums"
            } else {
                "NULL"
            };
        if !has("SELECT 1 FROM sqlite_master WHERE name = 'objects'")? {
            return Ok(OldBucket {
                objects: Vec::new(),
                uploads: Vec::new(),
                parts: Vec::new(),
            });
        }
        let mut stmt = src.prepare(&format!(
            "SELECT key, version, size, etag, uploaded, {checksums}, http_metadata, custom_metadata
             FROM objects"
        ))?;
        let objects = stmt
            .query_map([], |r| {
                Ok(OldObject {
                    key: r.get(0)?,
                    version: r.get(1)?,
                    size: r.get(2)?,
                    etag: r.get(3)?,
                    uploaded: r.get(4)?,
                    checksums: r.get(5)?,
                    http_metadata: r.get(6)?,
                    custom_metadata: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut out = OldBucket {
            objects,
            uploads: Vec::new(),
            parts: Vec::new(),
        };
        if !has("SELECT 1 FROM sqlite_master WHERE name = 'multipart_uploads'")? {
            return Ok(out);
        }
        let mut stmt = src.prepare(
            "SELECT upload_id, key, http_metadata, custom_metadata, state FROM multipart_uploads",
        )?;
        out.uploads = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = src.prepare(
            "SELECT p.upload_id, p.part_number, p.file, p.size, p.etag, p.md5
             FROM multipart_parts p JOIN multipart_uploads u ON u.upload_id = p.upload_id
             WHERE u.state = 0",
        )?;
        out.parts = stmt
            .query_map([], |r| {
                Ok(OldPart {
                    upload_id: r.get(0)?,
                    number: r.get(1)?,
                    file: r.get(2)?,
                    size: r.get(3)?,
                    etag: r.get(4)?,
                    md5: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(out)
    }
}
