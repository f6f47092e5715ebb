//! Host-side memory layers: the state a Worker's main import adds on top of
//! a cached base snapshot, as a page-granular diff of linear memory plus the
//! mutable globals. Restoring = CoW-instantiate the base, then apply the diff.

use std::path::Path;

use wasmtime::Val;

use crate::cache::write_atomic;
use crate::error::RuntimeError;
use crate::session::Session;

/// Diff granularity (host page size).
const PAGE: usize = 4096;
const WASM_PAGE: u64 = 65536;
const MAGIC: &[u8; 8] = b"PWLAYER1";

/// A memory/global delta on top of a base snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Layer {
    /// Linear memory size in bytes after the import.
    pub(crate) memory_len: u64,
    /// Runs of changed bytes: (offset, data).
    pub(crate) runs: Vec<(u64, Vec<u8>)>,
    /// Exported mutable globals (`__wizer_global_N`) and their values (raw bits).
    pub(crate) globals: Vec<(String, u8, u64)>,
    /// The `pw_init_status`-shaped JSON of the import.
    pub(crate) status: String,
}

impl Layer {
    /// Diffs the session's memory against `before` (its state right after
    /// instantiating the base) and records the instrumented globals.
    pub(crate) fn capture(before: &[u8], session: &mut Session, status: String) -> Layer {
        let names: Vec<String> = session
            .instance
            .exports(&mut session.store)
            .filter(|e| e.name().starts_with("__wizer_global_"))
            .map(|e| e.name().to_string())
            .collect();
        let mut globals = Vec::new();
        for name in names {
            if let Some(g) = session.instance.get_global(&mut session.store, &name) {
                match g.get(&mut session.store) {
                    Val::I32(x) => globals.push((name, 0, x as u32 as u64)),
                    Val::I64(x) => globals.push((name, 1, x as u64)),
                    Val::F32(x) => globals.push((name, 2, x as u64)),
                    Val::F64(x) => globals.push((name, 3, x)),
                    _ => {}
                }
            }
        }
        let now = session.memory.data(&session.store);
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (i, page) in now.chunks(PAGE).enumerate() {
            let start = i * PAGE;
            let old = before
                .get(start..(start + page.len()).min(before.len()))
                .unwrap_or(&[]);
            let same = old.len() == page.len() && old == page;
            let zero_new = old.is_empty() && page.iter().all(|b| *b == 0);
            if same || zero_new {
                continue;
            }
            match runs.last_mut() {
                Some((off, data)) if *off as usize + data.len() == start => {
                    data.extend_from_slice(page)
                }
                _ => runs.push((start as u64, page.to_vec())),
            }
        }
        Layer {
            memory_len: now.len() as u64,
            runs,
            globals,
            status,
        }
    }

    /// Applies the layer to a freshly instantiated base.
    pub(crate) fn apply(&self, session: &mut Session) -> wasmtime::Result<()> {
        let current = session.memory.data_size(&session.store) as u64;
        if self.memory_len > current {
            session.memory.grow(
                &mut session.store,
                (self.memory_len - current).div_ceil(WASM_PAGE),
            )?;
        }
        let mem = session.memory.data_mut(&mut session.store);
        for (off, data) in &self.runs {
            let off = *off as usize;
            let dst = mem.get_mut(off..off + data.len()).ok_or_else(|| {
                wasmtime::format_err!("layer run {off}+{} is outside memory", data.len())
            })?;
            dst.copy_from_slice(data);
        }
        for (name, ty, bits) in &self.globals {
            let g = session
                .instance
                .get_global(&mut session.store, name)
                .ok_or_else(|| wasmtime::format_err!("the base snapshot has no global {name}"))?;
            let v = match ty {
                0 => Val::I32(*bits as u32 as i32),
                1 => Val::I64(*bits as i64),
                2 => Val::F32(*bits as u32),
                _ => Val::F64(*bits),
            };
            g.set(&mut session.store, v)?;
        }
        Ok(())
    }

    /// Bytes changed by the layer.
    pub(crate) fn delta_bytes(&self) -> usize {
        self.runs.iter().map(|(_, d)| d.len()).sum()
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        let mut out = Vec::with_capacity(self.delta_bytes() + 4096);
        out.extend_from_slice(MAGIC);
        put(&mut out, self.memory_len);
        put(&mut out, self.status.len() as u64);
        out.extend_from_slice(self.status.as_bytes());
        put(&mut out, self.globals.len() as u64);
        for (name, ty, bits) in &self.globals {
            put(&mut out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            out.push(*ty);
            put(&mut out, *bits);
        }
        put(&mut out, self.runs.len() as u64);
        for (off, data) in &self.runs {
            put(&mut out, *off);
            put(&mut out, data.len() as u64);
            out.extend_from_slice(data);
        }
        write_atomic(path, &out)
    }

    /// Reads a saved layer; `None` when missing or unreadable (rebuild it).
    pub(crate) fn load(path: &Path) -> Option<Layer> {
        let bytes = std::fs::read(path).ok()?;
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
        };
        if r.take(8)? != MAGIC {
            return None;
        }
        let memory_len = r.u64()?;
        let n = r.u64()? as usize;
        let status = String::from_utf8(r.take(n)?.to_vec()).ok()?;
        let mut globals = Vec::new();
        for _ in 0..r.u64()? {
            let n = r.u64()? as usize;
            let name = String::from_utf8(r.take(n)?.to_vec()).ok()?;
            let ty = *r.take(1)?.first()?;
            globals.push((name, ty, r.u64()?));
        }
        let mut runs = Vec::new();
        for _ in 0..r.u64()? {
            let off = r.u64()?;
            let n = r.u64()? as usize;
            runs.push((off, r.take(n)?.to_vec()));
        }
        Some(Layer {
            memory_len,
            runs,
            globals,
            status,
        })
    }
}

fn put(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip() {
        let layer = Layer {
            memory_len: 131072,
            runs: vec![(4096, vec![1, 2, 3]), (65536, vec![9; 4096])],
            globals: vec![("__wizer_global_0".into(), 0, 1234)],
            status: "{\"ok\":true}".into(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l.bin");
        layer.save(&path).expect("save");
        assert_eq!(Layer::load(&path), Some(layer));
        std::fs::write(&path, b"garbage").expect("write");
        assert_eq!(Layer::load(&path), None);
    }
}
