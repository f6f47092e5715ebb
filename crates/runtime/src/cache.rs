//! Content hashes for cache keys and atomic writes into the cache.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::RuntimeError;
use crate::guest::hex;

/// Directories never hashed (and never worth snapshotting).
pub(crate) const SKIP_DIRS: &[&str] = &[
    "__pycache__",
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "python_modules",
    ".wrangler",
    "target",
    ".mypy_cache",
    ".pytest_cache",
];

/// Maps an I/O error on `path` to [`RuntimeError::Io`].
pub(crate) fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |source| RuntimeError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of a file's contents (first 32 hex digits).
pub(crate) fn hash_file(path: &Path) -> Result<String, RuntimeError> {
    let mut f = std::fs::File::open(path).map_err(io("reading", path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()[..16]))
}

/// Hash of a directory tree: every file's relative path plus either its
/// contents (`contents`) or its size and mtime (cheap, for big dep trees).
/// `.pyc` files and [`SKIP_DIRS`] (plus `extra_skip`) are ignored.
pub(crate) fn hash_tree(
    root: &Path,
    contents: bool,
    extra_skip: &[&str],
) -> Result<String, RuntimeError> {
    hash_files(root, &list_tree(root, extra_skip)?, contents)
}

/// The files [`hash_tree`] hashes, relative to `root` and sorted, for callers
/// that look at a tree's files as well as hash it, so the tree is walked once.
pub(crate) fn list_tree(root: &Path, extra_skip: &[&str]) -> Result<Vec<PathBuf>, RuntimeError> {
    let mut files = Vec::new();
    walk(root, root, extra_skip, &mut files)?;
    files.sort();
    Ok(files)
}

/// [`hash_tree`] of the tree whose files [`list_tree`] listed.
pub(crate) fn hash_files(
    root: &Path,
    files: &[PathBuf],
    contents: bool,
) -> Result<String, RuntimeError> {
    let mut h = Sha256::new();
    for rel in files {
        let path = root.join(rel);
        h.update(slash_path(rel).as_bytes());
        h.update([0]);
        if contents {
            let data = std::fs::read(&path).map_err(io("reading", &path))?;
            h.update((data.len() as u64).to_le_bytes());
            h.update(&data);
        } else {
            hash_stamp(&mut h, &path)?;
        }
    }
    Ok(hex(&h.finalize()[..16]))
}

/// Feeds `path`'s size and modification time to `h` (a cheap stand-in for
/// its contents, for large files that only change by being replaced).
pub(crate) fn hash_stamp(h: &mut Sha256, path: &Path) -> Result<(), RuntimeError> {
    let meta = std::fs::metadata(path).map_err(io("reading", path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(meta.len().to_le_bytes());
    h.update(mtime.to_le_bytes());
    Ok(())
}

/// A relative path as the guest spells it, `/`-separated on every host, so
/// a tree hashes the same on Windows (`\`) as where it was built.
pub(crate) fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn walk(
    root: &Path,
    dir: &Path,
    extra_skip: &[&str],
    out: &mut Vec<PathBuf>,
) -> Result<(), RuntimeError> {
    let entries = std::fs::read_dir(dir).map_err(io("listing", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() || (ft.is_symlink() && path.is_dir()) {
            if SKIP_DIRS.contains(&name.as_ref()) || extra_skip.contains(&name.as_ref()) {
                continue;
            }
            walk(root, &path, extra_skip, out)?;
        } else if !name.ends_with(".pyc")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

/// Combines labelled parts into one cache key.
pub(crate) fn key(parts: &[(&str, &str)]) -> String {
    let mut h = Sha256::new();
    for (k, v) in parts {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..16])
}

/// Writes `data` to `path` through a temp file and a rename, so readers never
/// see a partial file.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RuntimeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io("creating a temp file in", dir))?;
    std::io::Write::write_all(&mut tmp, data).map_err(io("writing", path))?;
    tmp.persist(path).map_err(|e| RuntimeError::Io {
        action: "renaming into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Deletes all but the `keep` newest files in `dir` whose names start with
/// `prefix` (grouping `name.*` siblings: `full-K.cwasm` and `full-K.json`).
/// Old snapshots are 20–40 MB each, so a long `dev` session must not pile them up.
pub(crate) fn prune(dir: &Path, prefix: &str, keep: usize) {
    prune_groups(dir, keep, |_, name| {
        // The group is the name up to its first `.` after the prefix (which may hold dots
        // itself, like the runtime version in `guest-0.1.0-`).
        let rest = name.strip_prefix(prefix)?;
        Some(format!(
            "{prefix}{}",
            rest.split('.').next().unwrap_or(rest)
        ))
    });
}

/// Deletes all but the `keep` newest groups of files in `dir`. `group_of(path, name)` names
/// a file's group, or `None` to leave the file alone; a group is as new as its newest file.
pub(crate) fn prune_groups(
    dir: &Path,
    keep: usize,
    group_of: impl Fn(&Path, &str) -> Option<String>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut groups: std::collections::BTreeMap<String, (std::time::SystemTime, Vec<PathBuf>)> =
        Default::default();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(group) = group_of(&path, &name) else {
            continue;
        };
        let mtime = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(UNIX_EPOCH);
        let g = groups.entry(group).or_insert((UNIX_EPOCH, Vec::new()));
        g.0 = g.0.max(mtime);
        g.1.push(path);
    }
    let mut groups: Vec<_> = groups.into_values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.0));
    for (_, files) in groups.into_iter().skip(keep) {
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_names_files_with_slashes_on_every_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("pkg").join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("pkg").join("sub").join("m.py"), "x = 1").expect("write");
        let rel: PathBuf = ["pkg", "sub", "m.py"].iter().collect();
        assert_eq!(slash_path(&rel), "pkg/sub/m.py");
        let mut h = Sha256::new();
        h.update(b"pkg/sub/m.py");
        h.update([0]);
        h.update(5u64.to_le_bytes());
        h.update(b"x = 1");
        let expected = hex(&h.finalize()[..16]);
        assert_eq!(hash_tree(dir.path(), true, &[]).expect("hash"), expected);
    }

    #[test]
    fn prune_keeps_newest_groups() {
        for prefix in ["full-", "guest-0.1.0-"] {
            prune_keeps_newest_groups_for(prefix);
        }
    }

    /// A prefix with dots (the compiled guests' `guest-<version>-`) once made every file one
    /// group, so nothing was ever pruned.
    fn prune_keeps_newest_groups_for(prefix: &str) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            for ext in ["cwasm", "json"] {
                let p = dir.path().join(format!("{prefix}{k}.{ext}"));
                std::fs::write(&p, "x").expect("write");
                let t = std::fs::File::options().write(true).open(&p).expect("open");
                t.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(1000 + i as u64))
                    .expect("mtime");
            }
        }
        std::fs::write(dir.path().join("layer-a.bin"), "x").expect("write");
        prune(dir.path(), prefix, 2);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want: Vec<String> = ["b.cwasm", "b.json", "c.cwasm", "c.json"]
            .iter()
            .map(|f| format!("{prefix}{f}"))
            .collect();
        want.push("layer-a.bin".into());
        want.sort();
        assert_eq!(left, want);
    }
}
