//! Where wrangler's local mode (miniflare) keeps binding state under
//! `.wrangler/state/v3`, so `dev` reads and writes the same files that
//! `wrangler d1 execute --local` and friends (passed through to `npx wrangler`)
//! use, and a project moving over from `pywrangler dev` keeps its local data.
//!
//! miniflare stores each D1 database as the SQLite file of a Durable Object
//! named after the database id; the object id is derived from the name the way
//! workerd derives `idFromName` ids for a namespace's unique key. KV and R2
//! keep an index database the same way and their values as blob files.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The Durable Object namespace miniflare keeps D1 databases in.
pub const D1_NAMESPACE: &str = "miniflare-D1DatabaseObject";

/// The 64-hex-digit id workerd gives `idFromName(name)` in the namespace with
/// `unique_key`: 16 bytes of HMAC-SHA256(name) keyed by SHA-256(unique_key),
/// followed by 16 bytes of the HMAC of those bytes (a checksum).
pub fn object_id_from_name(unique_key: &str, name: &str) -> String {
    let key = Sha256::digest(unique_key.as_bytes());
    let mac = |data: &[u8]| {
        let mut m =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC accepts keys of any length");
        m.update(data);
        m.finalize().into_bytes()
    };
    let name_part = mac(name.as_bytes());
    let check = mac(&name_part[..16]);
    name_part[..16]
        .iter()
        .chain(&check[..16])
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Durable Object namespace miniflare keeps KV namespaces' indexes in.
pub const KV_NAMESPACE: &str = "miniflare-KVNamespaceObject";

/// The index database of KV namespace `id`:
/// `v3/kv/miniflare-KVNamespaceObject/<object id>.sqlite`.
pub fn kv_path(v3: &Path, id: &str) -> PathBuf {
    object_file(v3, "kv", KV_NAMESPACE, id)
}

/// The Durable Object namespace miniflare keeps R2 buckets' indexes in.
pub const R2_NAMESPACE: &str = "miniflare-R2BucketObject";

/// The index database of R2 bucket `bucket`:
/// `v3/r2/miniflare-R2BucketObject/<object id>.sqlite`.
pub fn r2_path(v3: &Path, bucket: &str) -> PathBuf {
    object_file(v3, "r2", R2_NAMESPACE, bucket)
}

/// Where the values of store `id` of `kind` (`kv`, `r2`) live:
/// `v3/<kind>/<id>/blobs`. Characters that could leave the folder are replaced.
pub fn blobs_dir(v3: &Path, kind: &str, id: &str) -> PathBuf {
    v3.join(kind).join(super::file_name(id)).join("blobs")
}

/// Write `bytes` into `blobs` as a new blob file (temp file + rename, so a
/// reader never sees part of it); returns its id.
pub fn write_blob(blobs: &Path, now_ms: i64, bytes: &[u8]) -> std::io::Result<String> {
    let id = new_blob_id(now_ms);
    let mut tmp = tempfile::NamedTempFile::new_in(blobs)?;
    tmp.write_all(bytes)?;
    tmp.persist(blobs.join(&id)).map_err(|e| e.error)?;
    Ok(id)
}

/// A fresh blob id as miniflare makes them: 32 random bytes in hex, then the
/// creation time in milliseconds as 16 hex digits.
pub fn new_blob_id(now_ms: i64) -> String {
    format!("{}{:016x}", super::sqlite::random_hex(32), now_ms.max(0))
}

/// The SQLite file of the local D1 database `id` under `v3` (the state dir's
/// `v3` folder), e.g. `v3/d1/miniflare-D1DatabaseObject/<object id>.sqlite`.
pub fn d1_path(v3: &Path, id: &str) -> PathBuf {
    object_file(v3, "d1", D1_NAMESPACE, id)
}

/// The SQLite file of the object named `name` in miniflare's Durable Object
/// namespace `namespace`: `v3/<kind>/<namespace>/<object id>.sqlite`.
/// The Durable Object namespace miniflare keeps secrets stores in (a KV layout).
pub const SECRETS_STORE_NAMESPACE: &str = "miniflare-secrets-store-KVNamespaceObject";

/// The index database of secrets store `store_id`, where `wrangler
/// secrets-store secret create --local` writes:
/// `v3/secrets-store/miniflare-secrets-store-KVNamespaceObject/<object id>.sqlite`.
pub fn secrets_store_path(v3: &Path, store_id: &str) -> PathBuf {
    object_file(v3, "secrets-store", SECRETS_STORE_NAMESPACE, store_id)
}

fn object_file(v3: &Path, kind: &str, namespace: &str, name: &str) -> PathBuf {
    v3.join(kind)
        .join(namespace)
        .join(format!("{}.sqlite", object_id_from_name(namespace, name)))
}

/// Move a database kept by earlier pywrangler-rs versions at `old` (with its
/// `-wal`/`-shm` companions) to `new`, unless `new` already exists.
pub fn adopt_old_file(old: &Path, new: &Path) -> std::io::Result<()> {
    if !old.is_file() || new.exists() {
        return Ok(());
    }
    if let Some(dir) = new.parent() {
        std::fs::create_dir_all(dir)?;
    }
    for suffix in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", old.display()));
        if from.is_file() {
            std::fs::rename(&from, format!("{}{suffix}", new.display()))?;
        }
    }
    std::fs::rename(old, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File names observed from wrangler 4.86.0 (`wrangler d1 execute --local`
    /// and `wrangler dev`) for these database ids and for a binding without one.
    #[test]
    fn d1_file_names_match_wrangler() {
        let v3 = Path::new("v3");
        for (id, file) in [
            (
                "11111111-2222-3333-4444-555555555555",
                "f023adf8de81e80d62670e09f086149af129cccda34c51f26517069258c53e8c",
            ),
            (
                "bbbbbbbb-2222-3333-4444-555555555555",
                "e4636ca12c8756fbae3936c1caa31b634bcf61f2f05e31c7171a0f4436d81102",
            ),
            (
                "DB3",
                "d4aaecaf72723eda1b4846b5a457bff991d915af8bf92af4007f690d44682801",
            ),
        ] {
            assert_eq!(
                d1_path(v3, id),
                v3.join(format!("d1/miniflare-D1DatabaseObject/{file}.sqlite"))
            );
        }
    }

    /// Observed from wrangler 4.86.0 (`wrangler kv key put --local`).
    #[test]
    fn kv_index_file_name_matches_wrangler() {
        assert_eq!(
            kv_path(Path::new("v3"), "0123456789abcdef0123456789abcdef"),
            Path::new(
                "v3/kv/miniflare-KVNamespaceObject/8261cfe8323dd703d3e553434db498fec63d9a7e7ae8a23f047ef589d503196c.sqlite"
            )
        );
        let id = new_blob_id(0x1a2_02b6_fc7b);
        assert_eq!(id.len(), 80);
        assert!(id.ends_with("000001a202b6fc7b"), "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }

    /// Observed from wrangler 4.86.0 (`wrangler r2 object put --local bkt/…`).
    #[test]
    fn r2_file_names_match_wrangler() {
        let v3 = Path::new("v3");
        assert_eq!(
            r2_path(v3, "bkt"),
            Path::new(
                "v3/r2/miniflare-R2BucketObject/40911b90064da7f1236b0bacda2aa2e6bcc0c490c3d14827085489912cb61e7c.sqlite"
            )
        );
        assert_eq!(blobs_dir(v3, "r2", "bkt"), Path::new("v3/r2/bkt/blobs"));
    }

    #[test]
    fn adopting_moves_the_database_and_its_journal_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("d1/DB.sqlite");
        let new = dir.path().join("d1/ns/abc.sqlite");
        std::fs::create_dir_all(old.parent().expect("parent")).expect("mkdir");
        std::fs::write(&old, "db").expect("write");
        std::fs::write(dir.path().join("d1/DB.sqlite-wal"), "wal").expect("write");
        adopt_old_file(&old, &new).expect("adopt");
        assert_eq!(std::fs::read_to_string(&new).expect("new"), "db");
        assert!(dir.path().join("d1/ns/abc.sqlite-wal").is_file());
        assert!(!old.exists());
        // A later old file never overwrites the adopted one.
        std::fs::write(&old, "stale").expect("write");
        adopt_old_file(&old, &new).expect("adopt");
        assert_eq!(std::fs::read_to_string(&new).expect("new"), "db");
    }
}
