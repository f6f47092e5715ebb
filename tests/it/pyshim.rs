//! The Python side of the runtime (`crates/runtime/python`: `_pywrangler`,
//! `workers`, `js`, `pyodide`, `asgi`) run on the host's `python3` against a
//! fake `_pwhost` that implements the host_call ops in memory. The wasmtime
//! tests live in the runtime crate; these pin the guest's behaviour.

use std::path::Path;
use std::process::Command;

/// Fewer tests than this means discovery broke, not that everything passed.
const MIN_TESTS: usize = 45;

#[test]
fn guest_python_runtime_unit_tests_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/runtime/python");
    let out = Command::new("python3")
        .args([
            "-m", "unittest", "discover", "-s", "tests", "-t", "tests", "-v",
        ])
        .current_dir(&dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .output()
        .expect("python3 must be on PATH to test crates/runtime/python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python unit tests failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let ran = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    assert!(
        ran >= MIN_TESTS,
        "expected at least {MIN_TESTS} python tests, ran {ran}\n{stderr}"
    );
}
