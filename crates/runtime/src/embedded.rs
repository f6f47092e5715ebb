//! Guests packed into the binary by build.rs (feature `embed-guests`): a
//! zstd-compressed tar per Python version, unpacked once into
//! `<cache_root>/guests/<version>-<hash>/` and reused by every later run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cache::io;
use crate::error::RuntimeError;
use crate::{Progress, ProgressSink};

/// One packed guest.
pub(crate) struct EmbeddedGuest {
    /// Python minor version, e.g. `3.14`.
    pub(crate) version: &'static str,
    /// Content hash of `archive` (names the unpack dir).
    pub(crate) hash: &'static str,
    /// `tar.zst` of the guest directory plus `shim/`.
    #[cfg_attr(not(feature = "embed-guests"), allow(dead_code))]
    pub(crate) archive: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded_guests.rs"));

/// Marks an unpack as complete (written last, before the rename).
const COMPLETE: &str = ".complete";

/// The unpacked directory of `guest`, unpacking it first if no earlier run did.
pub(crate) fn unpack(
    guest: &EmbeddedGuest,
    cache_root: &Path,
    progress: &ProgressSink,
) -> Result<PathBuf, RuntimeError> {
    let parent = cache_root.join("guests");
    let dir = parent.join(format!("{}-{}", guest.version, guest.hash));
    if dir.join(COMPLETE).is_file() {
        return Ok(dir);
    }
    let started = Instant::now();
    progress.emit(Progress::Unpacking {
        python: guest.version.to_string(),
    });
    std::fs::create_dir_all(&parent).map_err(io("creating", &parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(&parent)
        .map_err(io("creating a temp dir in", &parent))?;
    extract(guest.archive, tmp.path()).map_err(io("unpacking the guest into", tmp.path()))?;
    std::fs::write(tmp.path().join(COMPLETE), guest.hash).map_err(io("writing", tmp.path()))?;
    let staged = tmp.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another process unpacked the same guest meanwhile: use its copy.
        if !dir.join(COMPLETE).is_file() {
            return Err(io("moving the unpacked guest to", &dir)(e));
        }
    }
    progress.emit(Progress::Unpacked {
        python: guest.version.to_string(),
        elapsed: started.elapsed(),
    });
    Ok(dir)
}

#[cfg(feature = "embed-guests")]
fn extract(archive: &[u8], into: &Path) -> std::io::Result<()> {
    let decoder = zstd::Decoder::new(archive)?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(false);
    tar.set_preserve_mtime(false);
    tar.unpack(into)
}

#[cfg(not(feature = "embed-guests"))]
fn extract(_: &[u8], _: &Path) -> std::io::Result<()> {
    // Unreachable: without the feature EMBEDDED_GUESTS is empty.
    Err(std::io::Error::other("this build has no embedded guests"))
}
