//! Shared test helpers: run the real binary, make temp projects, filter paths.

#![allow(dead_code)]

pub mod fake_cf;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pywrangler-rs"))
}

/// A `pywrangler-rs` command with a clean, deterministic environment.
pub fn cmd(cwd: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("CLOUDFLARE_API_TOKEN")
        .env_remove("CLOUDFLARE_API_KEY")
        .env_remove("CLOUDFLARE_ACCOUNT_ID")
        .env_remove("CLOUDFLARE_ENV")
        .env_remove("PYWRANGLER_LOG");
    c
}

/// The result of a finished command, decoded for assertions.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panic with both streams unless the exit code matches.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run the binary with `args` in `cwd`.
pub fn run(cwd: &Path, args: &[&str]) -> Run {
    Run::from_output(cmd(cwd).args(args).output().expect("binary runs"))
}

/// A temporary directory that is removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pywrangler-it-")
        .tempdir()
        .expect("temp dir")
}

/// Write `files` (relative path, contents) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (rel, contents) in files {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, contents).expect("write");
    }
}

/// Replace a temp path in output with a stable placeholder for snapshots.
pub fn filter_path(text: &str, path: &Path) -> String {
    text.replace(&path.display().to_string(), "[TEMP]")
}
