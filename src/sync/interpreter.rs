//! A target interpreter for platforms uv cannot name. uv 0.13 knows Pyodide
//! only up to `wasm32-pyodide2025` (a 3.13 platform), but derives
//! `pyemscripten_<year>_<n>_wasm32` tags from any interpreter whose sysconfig
//! carries that PEP 783 platform version. So for Python 3.14 we hand uv
//! (`--python`) a small launcher that runs the host CPython and answers uv's
//! interpreter query as Pyodide 314 would (`pyodide_interpreter.py`). uv then
//! resolves and installs exactly as for a real Pyodide interpreter, which is
//! what the original pywrangler gives it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::PythonVersion;
use crate::uv::Uv;

use super::SyncError;

/// The launcher body; `TARGET = None` is replaced with the target description.
const LAUNCHER: &str = include_str!("pyodide_interpreter.py");
const TARGET_LINE: &str = "TARGET = None";

/// What the Pyodide runtime of one Python version reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmscriptenPlatform {
    /// The interpreter version, e.g. `(3, 14, 2)`.
    pub python: (u8, u8, u8),
    /// PEP 783 platform version, e.g. `2026_0` (tag `pyemscripten_2026_0_wasm32`).
    pub platform_version: &'static str,
    /// The Emscripten release (what `platform.release()` reports).
    pub emscripten: &'static str,
}

impl EmscriptenPlatform {
    /// The platform of a Python version uv cannot name, if any. Pyodide 314.0.7
    /// is CPython 3.14.2 on Emscripten 5.0.3 with platform `2026_0`.
    pub fn for_python(python: PythonVersion) -> Option<EmscriptenPlatform> {
        match python {
            PythonVersion::Py312 | PythonVersion::Py313 => None,
            PythonVersion::Py314 => Some(EmscriptenPlatform {
                python: (3, 14, 2),
                platform_version: "2026_0",
                emscripten: "5.0.3",
            }),
        }
    }

    /// The wheel platform tag, e.g. `pyemscripten_2026_0_wasm32`.
    pub fn tag(&self) -> String {
        format!("pyemscripten_{}_wasm32", self.platform_version)
    }

    /// What the launcher reports, as the JSON object it is given.
    pub fn target_json(&self) -> String {
        let (major, minor, micro) = self.python;
        format!(
            r#"{{"python": [{major}, {minor}, {micro}], "platform_version": "{}", "emscripten": "{}"}}"#,
            self.platform_version, self.emscripten
        )
    }
}

/// The files of one launcher: the Python code and the `python3.X` script.
struct Launcher {
    name: String,
    script: String,
    code: String,
}

impl Launcher {
    fn new(platform: &EmscriptenPlatform, host_python: &Path, dir: &Path) -> Launcher {
        let code = LAUNCHER.replacen(
            TARGET_LINE,
            &format!("TARGET = {}", platform.target_json()),
            1,
        );
        let (major, minor, _) = platform.python;
        let script = format!(
            "#!/bin/sh\n# pywrangler-rs: Pyodide {} for uv (see target.py)\nexec {} -I -B {} \"$@\"\n",
            platform.tag(),
            sh_quote(&host_python.to_string_lossy()),
            sh_quote(&dir.join("target.py").to_string_lossy()),
        );
        Launcher {
            name: format!("python{major}.{minor}"),
            script,
            code,
        }
    }
}

/// Make sure a launcher for `platform` running on `host_python` exists under
/// `cache`, and return the path to hand to uv. The directory is named by a
/// hash of its contents and never rewritten, so uv's interpreter cache (keyed
/// by path and mtime) stays valid and concurrent syncs cannot see half a file.
pub fn ensure(
    platform: &EmscriptenPlatform,
    host_python: &Path,
    cache: &Path,
) -> Result<PathBuf, SyncError> {
    let parent = cache.join("sync");
    // The hash covers what goes into the files except the directory itself.
    let probe = Launcher::new(platform, host_python, Path::new("/"));
    let mut h = Sha256::new();
    h.update(probe.script.as_bytes());
    h.update([0]);
    h.update(probe.code.as_bytes());
    let key = &super::fingerprint::hex(&h.finalize())[..16];
    let dir = parent.join(format!("pyodide-{}-{key}", platform.platform_version));
    let launcher = Launcher::new(platform, host_python, &dir);
    let exe = dir.join(&launcher.name);
    if exe.is_file() {
        return Ok(exe);
    }

    std::fs::create_dir_all(&parent).map_err(|e| SyncError::io(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".pyodide-tmp-")
        .tempdir_in(&parent)
        .map_err(|e| SyncError::io(&parent, e))?;
    let write = |name: &str, text: &str, executable: bool| {
        let path = staging.path().join(name);
        crate::fsutil::write_atomic_mode(&path, text.as_bytes(), executable)
            .map_err(|e| SyncError::io(&path, e))
    };
    write("target.py", &launcher.code, false)?;
    write(&launcher.name, &launcher.script, true)?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, &dir) {
        let _ = std::fs::remove_dir_all(&staged);
        // Another sync put the same files there first.
        if !exe.is_file() {
            return Err(SyncError::io(&dir, e));
        }
    }
    Ok(exe)
}

/// The host interpreter that runs the launcher: the one uv was told about
/// (python3 on PATH), else any interpreter uv can find.
pub fn host_python(uv: &Uv, root: &Path) -> Option<PathBuf> {
    if let Some(python) = &uv.host_python {
        return Some(python.clone());
    }
    let mut cmd = uv.command(root);
    cmd.args(["python", "find", "--no-project"]);
    let out = uv.run(cmd, None).ok()?;
    let path = PathBuf::from(out.stdout.trim());
    (out.success() && path.is_file()).then_some(path)
}

/// Quote for a POSIX shell: `'…'` with embedded quotes closed and escaped.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py314() -> EmscriptenPlatform {
        EmscriptenPlatform::for_python(PythonVersion::Py314).expect("3.14 needs a launcher")
    }

    #[test]
    fn only_314_needs_a_launcher() {
        assert!(EmscriptenPlatform::for_python(PythonVersion::Py312).is_none());
        assert!(EmscriptenPlatform::for_python(PythonVersion::Py313).is_none());
        assert_eq!(py314().tag(), "pyemscripten_2026_0_wasm32");
    }

    #[test]
    fn launcher_carries_the_target_and_quotes_paths() {
        let launcher = Launcher::new(&py314(), Path::new("/o'p/python3"), Path::new("/c/d"));
        assert_eq!(launcher.name, "python3.14");
        assert!(
            launcher.code.contains(
                r#"TARGET = {"python": [3, 14, 2], "platform_version": "2026_0", "emscripten": "5.0.3"}"#
            ),
            "{}",
            launcher.code
        );
        assert!(!launcher.code.contains("TARGET = None"));
        assert!(
            launcher
                .script
                .contains(r#"exec '/o'\''p/python3' -I -B '/c/d/target.py' "$@""#),
            "{}",
            launcher.script
        );
    }

    /// The launcher answers as Pyodide 314 would and refuses to run anything else.
    #[test]
    fn launcher_reports_the_target_platform() {
        let Ok(python) = which::which("python3") else {
            eprintln!("SKIP launcher_reports_the_target_platform: no python3 on PATH");
            return;
        };
        let python = crate::uv::resolve_shim(python, "python3");
        let cache = tempfile::tempdir().expect("tempdir");
        let exe = ensure(&py314(), &python, cache.path()).expect("ensure");
        let query = "import sys, platform, sysconfig, importlib.machinery as m; print(sys.platform, \
            platform.python_version(), platform.system(), platform.machine(), platform.release(), \
            sysconfig.get_platform(), sysconfig.get_config_var('PYEMSCRIPTEN_PLATFORM_VERSION'), \
            sys.implementation.cache_tag, m.EXTENSION_SUFFIXES[0]); print(sys.executable)";
        let out = std::process::Command::new(&exe)
            .args(["-I", "-B", "-c", query])
            .output()
            .expect("launcher runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "emscripten 3.14.2 Emscripten wasm32 5.0.3 emscripten-5.0.3-wasm32 2026_0 cpython-314 .cpython-314-wasm32-emscripten.so",
                &exe.to_string_lossy(),
            ]
        );
        let refused = std::process::Command::new(&exe)
            .args(["-m", "pip"])
            .output()
            .expect("launcher runs");
        assert_eq!(refused.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .contains("only answers uv's interpreter query")
        );
    }

    #[test]
    fn ensure_is_content_addressed_and_idempotent() {
        let cache = tempfile::tempdir().expect("tempdir");
        let a = ensure(&py314(), Path::new("/usr/bin/python3"), cache.path()).expect("ensure");
        let b = ensure(&py314(), Path::new("/usr/bin/python3"), cache.path()).expect("again");
        assert_eq!(a, b);
        assert!(a.ends_with("python3.14"));
        let other = ensure(&py314(), Path::new("/opt/python3"), cache.path()).expect("other");
        assert_ne!(a.parent(), other.parent());
        let entries = std::fs::read_dir(cache.path().join("sync"))
            .expect("ls")
            .count();
        assert_eq!(entries, 2, "no staging dirs left behind");
    }
}
