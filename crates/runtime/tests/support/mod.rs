//! Shared helpers for the runtime's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use pywrangler_runtime::{
    HostHandler, HostReply, InstanceOptions, LogLine, Runtime, RuntimeConfig,
};
use serde_json::Value;

/// Compiles the Python-free ABI fixture with zig once per test binary and
/// lays it out like a guest dir (`pyworker.wasm` + `lib/python3.13`).
pub fn mini_guest_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mini_reactor.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mini-guest");
        std::fs::create_dir_all(dir.join("lib/python3.13")).expect("create mini guest dir");
        let wasm = dir.join("pyworker.wasm");
        let fresh = std::fs::metadata(&wasm)
            .and_then(|w| Ok(w.modified()? >= std::fs::metadata(&src)?.modified()?))
            .unwrap_or(false);
        if !fresh {
            let out = Command::new(zig_python())
                .args([
                    "-m",
                    "ziglang",
                    "cc",
                    "-target",
                    "wasm32-wasi",
                    "-mexec-model=reactor",
                    "-O2",
                ])
                .arg(&src)
                .arg("-o")
                .arg(&wasm)
                .output()
                .expect("run python3 -m ziglang (pip install ziglang)");
            assert!(
                out.status.success(),
                "compiling the mini reactor with zig failed (pip install ziglang):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
    .clone()
}

/// A Python that has the `ziglang` package: `$PYWRANGLER_ZIG_PYTHON`, the
/// venv `scripts/build-guest` made, or `python3`.
fn zig_python() -> PathBuf {
    let cache = std::env::var_os("PYWRANGLER_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pywrangler-rs"))
        });
    let candidates = std::env::var_os("PYWRANGLER_ZIG_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(cache.map(|c| c.join("guest-work/venv/bin/python")))
        .chain([PathBuf::from("python3")]);
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import ziglang"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!("no Python with the ziglang package: run scripts/build-guest or `pip install ziglang`");
}

/// A runtime over the mini reactor with an empty shim dir.
pub fn mini_runtime() -> Runtime {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let shim = tmp.join("mini-shim");
    std::fs::create_dir_all(&shim).expect("create shim dir");
    Runtime::new(RuntimeConfig {
        guest_dir: Some(mini_guest_dir()),
        shim_dir: Some(shim),
        cache_root: Some(tmp.join("mini-cache-root")),
        ..RuntimeConfig::default()
    })
    .expect("runtime over the mini reactor")
}

/// Records host calls and answers them with a fixed reply.
pub struct Recorder {
    pub calls: Mutex<Vec<(Value, Vec<u8>)>>,
}

impl HostHandler for Recorder {
    fn call(&self, header: Value, body: Vec<u8>) -> HostReply {
        self.calls
            .lock()
            .expect("lock")
            .push((header.clone(), body));
        match header["op"].as_str() {
            Some("kv.get") => HostReply::ok_with_body(
                serde_json::json!({"metadata": null}),
                b"stored-value".to_vec(),
            ),
            Some(op) => HostReply::error("Error", format!("unsupported op {op}")),
            None => HostReply::error("Error", "no op"),
        }
    }
}

/// Options with a recording handler and a log collector.
pub fn options() -> (InstanceOptions, Arc<Recorder>, Arc<Mutex<Vec<LogLine>>>) {
    let rec = Arc::new(Recorder {
        calls: Mutex::default(),
    });
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let mut opts = InstanceOptions::new(rec.clone());
    opts.log = Arc::new(move |line| l.lock().expect("lock").push(line));
    (opts, rec, lines)
}

/// A temp project with the given files (path → contents).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, contents) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, contents).expect("write");
    }
    dir
}
