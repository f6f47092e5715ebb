//! Build script: bakes in where the guest lives and embeds the Python shim.
//!
//! The guest (`pyworker.wasm` + stdlib) is produced by `scripts/build-guest`,
//! which caches it outside the repo and prints its directory. We only record
//! that directory here; the run-time env var `PYWRANGLER_GUEST_DIR` overrides
//! it. The shim packages under `python/` are embedded with `include_bytes!`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PYWRANGLER_GUEST_DIR");
    println!("cargo:rerun-if-env-changed=PYWRANGLER_SKIP_GUEST_BUILD");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));

    let guest_dir = match std::env::var("PYWRANGLER_GUEST_DIR") {
        Ok(dir) if !dir.is_empty() => dir,
        _ => build_guest(&manifest),
    };
    println!("cargo:rustc-env=PYWRANGLER_BAKED_GUEST_DIR={guest_dir}");

    let python = manifest.join("python");
    println!("cargo:rerun-if-changed={}", python.display());
    let mut files = Vec::new();
    collect(&python, &python, &mut files);
    files.sort();
    let mut src =
        String::from("/// Shim files embedded at compile time: (relative path, contents).\n");
    src.push_str("pub(crate) static SHIM_FILES: &[(&str, &[u8])] = &[\n");
    for rel in &files {
        let abs = python.join(rel);
        println!("cargo:rerun-if-changed={}", abs.display());
        let _ = writeln!(
            src,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    src.push_str("];\n");
    std::fs::write(out.join("shim_files.rs"), src).expect("write shim_files.rs");
}

/// Runs `scripts/build-guest` (it caches its output) and returns the directory
/// it prints on its last stdout line; empty when the guest cannot be built, so
/// the crate still compiles and reports a clear error at run time.
fn build_guest(manifest: &Path) -> String {
    if std::env::var_os("PYWRANGLER_SKIP_GUEST_BUILD").is_some() {
        return String::new();
    }
    let Some(root) = manifest.parent().and_then(Path::parent) else {
        return String::new();
    };
    let script = root.join("scripts/build-guest");
    println!("cargo:rerun-if-changed={}", script.display());
    if !script.exists() {
        println!(
            "cargo:warning=scripts/build-guest not found; set PYWRANGLER_GUEST_DIR at run time"
        );
        return String::new();
    }
    match Command::new(&script).current_dir(root).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_string())
            .unwrap_or_default(),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(3).collect();
            println!(
                "cargo:warning=scripts/build-guest failed ({}): {}",
                o.status,
                tail.join(" | ")
            );
            String::new()
        }
        Err(e) => {
            println!("cargo:warning=could not run scripts/build-guest: {e}");
            String::new()
        }
    }
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // `python/tests` holds the shim's host-Python tests, not guest code.
        let host_tests = dir == root && name == "tests";
        if name == "__pycache__" || name.starts_with('.') || host_tests {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(rel) = path.strip_prefix(root) {
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
