//! Build script: bakes in where the guests live and embeds the Python shim.
//!
//! The guests are produced by `scripts/build-guest` (CPython 3.13) and
//! `scripts/build-guest-314` (CPython 3.14), which cache them outside the repo
//! and print their directories. By default we only record those directories
//! here, as a path list; the run-time env var `PYWRANGLER_GUEST_DIR` (a path
//! list too) overrides it. With the `embed-guests` feature (release builds for
//! distribution, `scripts/build-wheel`) each guest is packed instead, with the
//! shim precompiled for its Python, as a zstd-compressed tar inside the binary,
//! and no path of this machine is recorded. The shim packages under `python/`
//! are embedded with `include_bytes!`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(feature = "embed-guests")]
#[path = "build_embed.rs"]
mod embed;

/// Without `embed-guests` nothing is packed.
#[cfg(not(feature = "embed-guests"))]
mod embed {
    use std::path::{Path, PathBuf};

    pub struct Packed {
        pub version: String,
        pub hash: String,
        pub archive: PathBuf,
    }

    pub fn pack_all(_: &[PathBuf], _: &Path, _: &[String], _: &Path) -> Vec<Packed> {
        Vec::new()
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=PYWRANGLER_GUEST_DIR");
    println!("cargo:rerun-if-env-changed=PYWRANGLER_SKIP_GUEST_BUILD");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));

    let guest_dirs = match std::env::var("PYWRANGLER_GUEST_DIR") {
        Ok(dirs) if !dirs.is_empty() => dirs,
        _ => {
            let built: Vec<String> = ["build-guest", "build-guest-314"]
                .into_iter()
                .map(|script| build_guest(&manifest, script))
                .filter(|dir| !dir.is_empty())
                .collect();
            std::env::join_paths(built)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    };
    let python = manifest.join("python");
    println!("cargo:rerun-if-changed={}", python.display());
    let mut files = Vec::new();
    collect(&python, &python, &mut files);
    files.sort();

    let embed = cfg!(feature = "embed-guests");
    let dirs: Vec<PathBuf> = std::env::split_paths(&guest_dirs)
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    assert!(
        !embed || !dirs.is_empty(),
        "the embed-guests feature needs the guests: run scripts/build-guest and \
         scripts/build-guest-314, or set PYWRANGLER_GUEST_DIR"
    );
    let embedded = embed::pack_all(&dirs, &python, &files, &out);
    let baked = if embed { String::new() } else { guest_dirs };
    println!("cargo:rustc-env=PYWRANGLER_BAKED_GUEST_DIRS={baked}");
    let mut guests_src =
        String::from("/// Guests packed into the binary (feature `embed-guests`).\n");
    guests_src.push_str("pub(crate) static EMBEDDED_GUESTS: &[EmbeddedGuest] = &[\n");
    for g in &embedded {
        let _ = writeln!(
            guests_src,
            "    EmbeddedGuest {{ version: {:?}, hash: {:?}, archive: include_bytes!({:?}) }},",
            g.version,
            g.hash,
            g.archive.display().to_string()
        );
    }
    guests_src.push_str("];\n");
    std::fs::write(out.join("embedded_guests.rs"), guests_src).expect("write embedded_guests.rs");
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

/// Runs `scripts/<script>` (it caches its output) and returns the directory
/// it prints on its last stdout line; empty when the guest cannot be built, so
/// the crate still compiles and reports a clear error at run time.
fn build_guest(manifest: &Path, script: &str) -> String {
    if std::env::var_os("PYWRANGLER_SKIP_GUEST_BUILD").is_some() {
        return String::new();
    }
    let Some(root) = manifest.parent().and_then(Path::parent) else {
        return String::new();
    };
    let name = script;
    let script = root.join("scripts").join(name);
    println!("cargo:rerun-if-changed={}", script.display());
    // The scripts' cache keys cover the guest sources; rerun so they are consulted.
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("guest").display()
    );
    if !script.exists() {
        println!("cargo:warning=scripts/{name} not found; set PYWRANGLER_GUEST_DIR at run time");
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
                "cargo:warning=scripts/{name} failed ({}): {}",
                o.status,
                tail.join(" | ")
            );
            String::new()
        }
        Err(e) => {
            println!("cargo:warning=could not run scripts/{name}: {e}");
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
