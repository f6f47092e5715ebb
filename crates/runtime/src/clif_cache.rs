//! Cranelift's incremental compilation cache, kept on disk. The guest, its
//! base snapshot and every full snapshot share all their code (wizer only
//! rewrites data segments and globals), so after the first compile the
//! others are mostly cache hits: this turns the ~10 s snapshot compile into
//! a fraction of it (docs/benchmarks.md).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::CacheStore;

use crate::guest::hex;

/// In-memory map in front of one file per entry under `dir`.
#[derive(Debug)]
pub(crate) struct ClifCache {
    dir: PathBuf,
    memory: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl ClifCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        ClifCache {
            dir,
            memory: Mutex::default(),
        }
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        let name = hex(&Sha256::digest(key)[..16]);
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

impl CacheStore for ClifCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = memory.get(key) {
            return Some(Cow::Owned(v.clone()));
        }
        let value = std::fs::read(self.path(key)).ok()?;
        memory.insert(key.to_vec(), value.clone());
        Some(Cow::Owned(value))
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let written = path
            .parent()
            .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
            && crate::cache::write_atomic(&path, &value).is_ok();
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_vec(), value);
        written
    }
}
