//! The asset manifest wrangler uploads (`buildAssetManifest`): every regular
//! file under the directory except symlinks, the root `_redirects`,
//! `_headers` and `.assetsignore`, and what `.assetsignore` (gitignore syntax)
//! excludes; keyed by `/relative/path`, each with a content hash and size.

use std::path::{Path, PathBuf};

use base64::Engine;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// Largest asset (`MAX_ASSET_SIZE`, 25 MiB).
pub const MAX_ASSET_SIZE: u64 = 25 * 1024 * 1024;
/// Files at the root of the directory that are configuration, never assets.
const ROOT_CONFIG_FILES: [&str; 3] = [".assetsignore", "_redirects", "_headers"];

/// Why the manifest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", .path.display())]
    BadIgnoreFile { path: PathBuf, message: String },
    #[error(
        "Asset too large.\nCloudflare Workers supports assets with sizes of up to 25 MiB. We found a file {} with a size of {}.",
        .path.display(), format!("{:.2} MiB", *.size as f64 / 1024.0 / 1024.0)
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error(
        "Uploading a Pages _worker.js file as an asset ({}).\nThis could expose your private server-side code to the public Internet.",
        .path.display()
    )]
    PagesWorker { path: PathBuf },
}

impl ManifestError {
    /// What to change.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ManifestError::TooLarge { .. } => Some(
                "remove the file from the assets directory or list it in .assetsignore (host large files in R2)",
            ),
            ManifestError::PagesWorker { .. } => Some(
                "remove it, or add an .assetsignore file containing `_worker.js` to the assets directory (an empty .assetsignore uploads it)",
            ),
            ManifestError::BadIgnoreFile { .. } => {
                Some("each line of .assetsignore is a gitignore pattern")
            }
            ManifestError::Read { .. } => None,
        }
    }
}

/// Which paths under the assets directory are not assets.
pub struct AssetsIgnore {
    patterns: Option<Gitignore>,
}

impl AssetsIgnore {
    /// Read `<dir>/.assetsignore`, if any.
    pub fn load(dir: &Path) -> Result<AssetsIgnore, ManifestError> {
        let file = dir.join(".assetsignore");
        if !file.is_file() {
            return Ok(AssetsIgnore { patterns: None });
        }
        let mut builder = GitignoreBuilder::new(dir);
        if let Some(e) = builder.add(&file) {
            return Err(ManifestError::BadIgnoreFile {
                path: file,
                message: e.to_string(),
            });
        }
        let patterns = builder.build().map_err(|e| ManifestError::BadIgnoreFile {
            path: file.clone(),
            message: e.to_string(),
        })?;
        Ok(AssetsIgnore {
            patterns: Some(patterns),
        })
    }

    /// Whether `.assetsignore` exists (it turns off the `_worker.js` check).
    pub fn has_file(&self) -> bool {
        self.patterns.is_some()
    }

    /// Whether `rel` (`a/b.html`, no leading slash) is left out.
    pub fn is_ignored(&self, rel: &str, is_dir: bool) -> bool {
        if ROOT_CONFIG_FILES.contains(&rel) {
            return true;
        }
        self.patterns.as_ref().is_some_and(|g| {
            g.matched_path_or_any_parents(Path::new(rel), is_dir)
                .is_ignore()
        })
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// `/relative/path` with `/` separators.
    pub key: String,
    /// The file on disk.
    pub file: PathBuf,
    /// 32 hex characters (see [`asset_hash`]).
    pub hash: String,
    pub size: u64,
}

/// Every asset, sorted by key.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

impl Manifest {
    /// Total bytes.
    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// The `{"/path": {"hash", "size"}}` body of the upload session.
    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                (
                    e.key.clone(),
                    serde_json::json!({"hash": e.hash, "size": e.size}),
                )
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// The entry with content hash `hash`.
    pub fn by_hash(&self, hash: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.hash == hash)
    }
}

/// wrangler's content hash: blake3 over the base64 text of the file followed
/// by its extension (without the dot), as hex truncated to 32 characters.
pub fn asset_hash(content: &[u8], path: &Path) -> String {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut h = blake3::Hasher::new();
    h.update(
        base64::engine::general_purpose::STANDARD
            .encode(content)
            .as_bytes(),
    );
    h.update(ext.as_bytes());
    let mut hex = h.finalize().to_hex().to_string();
    hex.truncate(32);
    hex
}

/// The Content-Type wrangler sends (and the asset worker serves): the type
/// for the extension, with `; charset=utf-8` on `text/*`; `None` when unknown.
pub fn content_type(path: &str) -> Option<String> {
    let t = mime_guess::from_path(path).first_raw()?;
    if t.starts_with("text/") && !t.contains("charset") {
        Some(format!("{t}; charset=utf-8"))
    } else {
        Some(t.to_string())
    }
}

/// Walk `dir` and hash every asset.
pub fn build(dir: &Path) -> Result<Manifest, ManifestError> {
    let ignore = AssetsIgnore::load(dir)?;
    let mut entries = Vec::new();
    walk(dir, dir, &ignore, &mut entries)?;
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Manifest { entries })
}

fn walk(
    root: &Path,
    dir: &Path,
    ignore: &AssetsIgnore,
    out: &mut Vec<ManifestEntry>,
) -> Result<(), ManifestError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Read { path, source }
    };
    let items = std::fs::read_dir(dir).map_err(read_err(dir))?;
    for item in items {
        let item = item.map_err(read_err(dir))?;
        let path = item.path();
        let meta = std::fs::symlink_metadata(&path).map_err(read_err(&path))?;
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if meta.file_type().is_symlink() || ignore.is_ignored(&rel, meta.is_dir()) {
            continue;
        }
        if !ignore.has_file() && (rel == "_worker.js" || rel.starts_with("_worker.js/")) {
            return Err(ManifestError::PagesWorker { path });
        }
        if meta.is_dir() {
            walk(root, &path, ignore, out)?;
        } else if meta.is_file() {
            if meta.len() > MAX_ASSET_SIZE {
                return Err(ManifestError::TooLarge {
                    path,
                    size: meta.len(),
                });
            }
            let content = std::fs::read(&path).map_err(read_err(&path))?;
            out.push(ManifestEntry {
                key: format!("/{rel}"),
                hash: asset_hash(&content, &path),
                size: content.len() as u64,
                file: path,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_blake3_of_base64_and_extension() {
        // blake3("aGk=" + "txt"), the first 32 hex characters.
        let expected = {
            let mut hex = blake3::hash(b"aGk=txt").to_hex().to_string();
            hex.truncate(32);
            hex
        };
        assert_eq!(asset_hash(b"hi", Path::new("a/b.txt")), expected);
        assert_eq!(expected.len(), 32);
        assert_ne!(
            asset_hash(b"hi", Path::new("b.html")),
            asset_hash(b"hi", Path::new("b.txt")),
            "the extension is part of the hash"
        );
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("/a/index.html").as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(content_type("/x.png").as_deref(), Some("image/png"));
        assert_eq!(content_type("/noext"), None);
    }

    #[test]
    fn walk_skips_config_files_ignored_paths_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/private")).expect("mkdir");
        for (p, c) in [
            ("index.html", "<h1>hi</h1>"),
            ("_redirects", "/a /b 302"),
            ("_headers", "/*\n  X: y"),
            (".assetsignore", "*.map\nsub/private\n"),
            ("app.js.map", "{}"),
            ("sub/about.html", "about"),
            ("sub/_redirects", "kept: only the root one is config"),
            ("sub/private/secret.txt", "no"),
        ] {
            std::fs::write(d.join(p), c).expect("write");
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.join("index.html"), d.join("link.html")).expect("symlink");
        let m = build(d).expect("manifest");
        let keys: Vec<&str> = m.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["/index.html", "/sub/_redirects", "/sub/about.html"]);
        assert_eq!(m.entries[0].size, 11);
        assert_eq!(m.total_size(), 11 + 33 + 5);
    }

    #[test]
    fn pages_worker_needs_an_assetsignore() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("_worker.js"), "x").expect("write");
        assert!(matches!(
            build(dir.path()),
            Err(ManifestError::PagesWorker { .. })
        ));
        std::fs::write(dir.path().join(".assetsignore"), "").expect("write");
        assert_eq!(build(dir.path()).expect("manifest").entries.len(), 1);
    }
}
