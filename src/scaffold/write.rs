//! Putting rendered files on disk: refuse to scaffold over existing work unless
//! forced, and write every file through a temp file plus rename so a crash never
//! leaves a half-written file behind.

use std::path::{Component, Path};

use super::ScaffoldError;
use super::template::TemplateFile;

/// Entries that do not make a directory "in use" (a fresh `git init` is fine).
const IGNORED_ENTRIES: &[&str] = &[".git", ".DS_Store"];

/// Whether `dir` exists and holds anything besides [`IGNORED_ENTRIES`].
pub fn is_non_empty(dir: &Path) -> Result<bool, ScaffoldError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(ScaffoldError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| ScaffoldError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        if !IGNORED_ENTRIES.iter().any(|ignored| name == *ignored) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Write `files` under `dest`, creating directories, replacing same-named files atomically.
pub fn write_all(dest: &Path, files: &[TemplateFile]) -> Result<(), ScaffoldError> {
    for file in files {
        // Template paths come from a directory walk or the binary; still, never
        // let one escape the project directory.
        if file
            .path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(ScaffoldError::UnsafePath {
                path: file.path.clone(),
            });
        }
        let target = dest.join(&file.path);
        let parent = target.parent().unwrap_or(dest);
        std::fs::create_dir_all(parent).map_err(|source| ScaffoldError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
        crate::fsutil::write_atomic_mode(&target, &file.contents, file.executable).map_err(
            |source| ScaffoldError::Io {
                path: target.clone(),
                source,
            },
        )?;
    }
    Ok(())
}
