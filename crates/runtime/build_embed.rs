//! Packs a guest directory for the `embed-guests` feature: every file of the
//! guest (wasm or link inputs, stdlib with its `.pyc`) plus the runtime shim
//! under `shim/`, precompiled by the guest's own build Python (so a user's
//! machine never needs a CPython to write `.pyc`), as a deterministic tar,
//! zstd-compressed. `BUILD_INFO` loses the lines naming this machine's paths.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// One packed guest, written to `OUT_DIR`.
pub struct Packed {
    /// Python minor version, e.g. `3.14`.
    pub version: String,
    /// First 16 hex digits of the archive's sha256 (the unpack dir's name).
    pub hash: String,
    pub archive: PathBuf,
}

/// Lines of BUILD_INFO that name paths of the build machine.
const MACHINE_KEYS: &[&str] = &["build_python=", "debug_wasm_latest="];

/// Packs every guest directory, one archive per Python version.
pub fn pack_all(
    dirs: &[PathBuf],
    shim_src: &Path,
    shim_files: &[String],
    out: &Path,
) -> Vec<Packed> {
    let mut packed: Vec<Packed> = Vec::new();
    for dir in dirs {
        let guest = pack(dir, shim_src, shim_files, out);
        if packed.iter().all(|p| p.version != guest.version) {
            packed.push(guest);
        }
    }
    packed
}

fn pack(dir: &Path, shim_src: &Path, shim_files: &[String], out: &Path) -> Packed {
    println!("cargo:rerun-if-changed={}", dir.display());
    let lib = dir.join("lib");
    let stdlib = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("embed-guests: reading {}: {e}", lib.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("python3"))
        .min()
        .unwrap_or_else(|| panic!("embed-guests: no lib/python3.* in {}", dir.display()));
    let version = stdlib.trim_start_matches("python").to_string();
    let info = std::fs::read_to_string(dir.join("BUILD_INFO")).unwrap_or_default();
    let build_python = info
        .lines()
        .find_map(|l| l.strip_prefix("build_python="))
        .map(|p| PathBuf::from(p.trim()))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "embed-guests: {}/BUILD_INFO names no runnable build_python to precompile the shim",
                dir.display()
            )
        });

    // The shim, precompiled for this guest's Python with guest paths.
    let shim = out.join(format!("shim-{version}"));
    let _ = std::fs::remove_dir_all(&shim);
    for rel in shim_files {
        let dest = shim.join(rel);
        std::fs::create_dir_all(dest.parent().expect("a file has a parent")).expect("shim dir");
        std::fs::copy(shim_src.join(rel), &dest).expect("copy shim file");
    }
    let status = Command::new(&build_python)
        .args(["-E", "-s", "-m", "compileall", "-q", "-j", "1"])
        .args(["--invalidation-mode", "unchecked-hash", "-d", "/runtime"])
        .arg(&shim)
        .status()
        .unwrap_or_else(|e| panic!("embed-guests: running {}: {e}", build_python.display()));
    assert!(
        status.success(),
        "embed-guests: compileall of the shim failed ({status})"
    );

    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    let mut shim_entries = Vec::new();
    walk(&shim, &shim, &mut shim_entries);
    shim_entries.sort();

    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for rel in &files {
        let data = std::fs::read(dir.join(rel)).expect("read guest file");
        let data = if rel == "BUILD_INFO" {
            let kept: String = String::from_utf8_lossy(&data)
                .lines()
                .filter(|l| !MACHINE_KEYS.iter().any(|k| l.starts_with(k)))
                .map(|l| format!("{l}\n"))
                .collect();
            kept.into_bytes()
        } else {
            data
        };
        append(&mut builder, rel, &data);
    }
    for rel in &shim_entries {
        let data = std::fs::read(shim.join(rel)).expect("read shim file");
        append(&mut builder, &format!("shim/{rel}"), &data);
    }
    let tar = builder.into_inner().expect("finish tar");
    let mut encoder = zstd::Encoder::new(Vec::new(), 10).expect("zstd encoder");
    encoder.write_all(&tar).expect("compress");
    let compressed = encoder.finish().expect("compress");
    let hash: String = Sha256::digest(&compressed)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let archive = out.join(format!("guest-{version}.tar.zst"));
    std::fs::write(&archive, &compressed).expect("write archive");
    Packed {
        version,
        hash,
        archive,
    }
}

fn append(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder
        .append_data(&mut header, path, data)
        .unwrap_or_else(|e| panic!("embed-guests: adding {path}: {e}"));
}

/// Relative `/`-separated paths of the files under `dir`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}
