//! Finding and driving the `uv` binary: `PYWRANGLER_UV`, then the `uv` installed
//! beside this binary (the wheel depends on uv, so a venv or `uv tool` install
//! has it next to us even when that bin dir is not on PATH), then `uv` on PATH,
//! then `python3 -m uv`; checks its version once and runs it with a clean,
//! download-free environment so resolution never fetches an interpreter.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Oldest uv that understands everything we pass (pylock output and install,
/// `wasm32-pyodide*` platforms, PEP 783 `pyemscripten` tags from an
/// interpreter's sysconfig); the same floor as the original pywrangler.
pub const MIN_UV_VERSION: (u64, u64, u64) = (0, 13, 4);

/// Environment variable that names the uv binary to use.
pub use crate::env_vars::PYWRANGLER_UV as UV_ENV;

/// How to find and run uv, from the settings layer.
#[derive(Debug, Clone, Default)]
pub struct UvConfig {
    /// `PYWRANGLER_UV`: this uv and no other.
    pub program: Option<PathBuf>,
    /// The user set `UV_PYTHON_DOWNLOADS` themselves; otherwise uv runs
    /// with `never`.
    pub python_downloads_set: bool,
}

/// Variables that would point uv at some other environment than the one we name.
const STRIPPED_ENV: &[&str] = &[
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "UV_PYTHON",
    "UV_PROJECT_ENVIRONMENT",
    "PYTHONHOME",
    "UV_SYSTEM_PYTHON",
];

/// Why uv could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UvError {
    #[error("uv was not found (looked at ${UV_ENV}, `uv` on PATH and `python3 -m uv`)")]
    NotFound,
    #[error("${UV_ENV} points to {0}, which cannot be run: {1}")]
    BadOverride(PathBuf, String),
    #[error("uv {found} at {path} is too old; pywrangler-rs needs uv >= {min}")]
    TooOld {
        found: String,
        min: String,
        path: String,
    },
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// A located uv: the program and any leading arguments (`-m uv`).
#[derive(Debug, Clone)]
pub struct Uv {
    program: PathBuf,
    prefix: Vec<OsString>,
    /// The version uv reported, e.g. `0.13.9`.
    pub version: String,
    /// A host interpreter handed to uv with `--python`, so it does not search
    /// every interpreter on the machine for one matching `--python-version`;
    /// also what runs the 3.14 target interpreter (`sync::interpreter`).
    pub host_python: Option<PathBuf>,
    /// Leave `UV_PYTHON_DOWNLOADS` as the user set it.
    python_downloads_set: bool,
}

/// What a finished uv run produced.
#[derive(Debug)]
pub struct UvOutput {
    /// Exit code; `None` when uv was killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl UvOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// `name` (plus the platform's executable suffix) in this binary's directory.
fn beside_this_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe
        .parent()?
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    path.is_file().then_some(path)
}

impl Uv {
    /// Locate uv and check that it is new enough.
    pub fn find(config: &UvConfig) -> Result<Uv, UvError> {
        let candidates: Vec<(PathBuf, Vec<OsString>)> = match &config.program {
            Some(path) => vec![(path.clone(), Vec::new())],
            None => {
                let mut c = Vec::new();
                if let Some(beside) = beside_this_binary("uv") {
                    c.push((beside, Vec::new()));
                }
                if let Ok(path) = which::which("uv") {
                    c.push((resolve_shim(path, "uv"), Vec::new()));
                }
                if let Some(python) = host_python() {
                    c.push((python, vec!["-m".into(), "uv".into()]));
                }
                c
            }
        };
        let overridden = config.program.is_some();
        for (program, prefix) in candidates {
            match probe_version(&program, &prefix) {
                Ok(version) => {
                    let host_python = host_python();
                    let uv = Uv {
                        program,
                        prefix,
                        version,
                        host_python,
                        python_downloads_set: config.python_downloads_set,
                    };
                    uv.check_version()?;
                    return Ok(uv);
                }
                Err(e) if overridden => return Err(UvError::BadOverride(program, e)),
                Err(_) => continue,
            }
        }
        Err(UvError::NotFound)
    }

    fn check_version(&self) -> Result<(), UvError> {
        let (a, b, c) = MIN_UV_VERSION;
        match parse_version(&self.version) {
            Some(v) if v >= MIN_UV_VERSION => Ok(()),
            _ => Err(UvError::TooOld {
                found: self.version.clone(),
                min: format!("{a}.{b}.{c}"),
                path: self.display(),
            }),
        }
    }

    /// How the user would type this uv (for messages).
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for p in &self.prefix {
            s.push(' ');
            s.push_str(&p.to_string_lossy());
        }
        s
    }

    /// A `uv <args…>` command with a sanitised environment, run in `cwd`.
    pub fn command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.prefix).current_dir(cwd);
        for var in STRIPPED_ENV {
            cmd.env_remove(var);
        }
        // Only registries are reachable in many setups (and production never
        // needs a host interpreter): never try to download one.
        if !self.python_downloads_set {
            cmd.env("UV_PYTHON_DOWNLOADS", "never");
        }
        cmd.env("UV_NO_PROGRESS", "1").env("NO_COLOR", "1");
        cmd
    }

    /// Run a prepared command to completion, feeding `stdin`, capturing output.
    pub fn run(&self, mut cmd: Command, stdin: Option<&str>) -> Result<UvOutput, UvError> {
        crate::printer::verbose(format!("running: {}", describe(&cmd)));
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let spawn_err = |source| UvError::Spawn {
            program: self.display(),
            source,
        };
        let mut child = cmd.spawn().map_err(spawn_err)?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error means uv exited early; its stderr says why.
            let _ = pipe.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        let output = UvOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        for line in output.stderr.lines() {
            crate::printer::verbose(format!("  uv: {line}"));
        }
        Ok(output)
    }
}

/// Names of the host interpreter, in order of preference: Windows installs
/// `python.exe` (a `python3.exe` there is often only the Store's alias).
const PYTHON_NAMES: &[&str] = if cfg!(windows) {
    &["python", "python3"]
} else {
    &["python3"]
};

/// The host's Python on PATH, past pyenv shims and Windows Store aliases.
fn host_python() -> Option<PathBuf> {
    PYTHON_NAMES.iter().find_map(|name| {
        let path = which::which(name).ok()?;
        (!is_store_alias(&path)).then(|| resolve_shim(path, name))
    })
}

/// Whether `path` is a Windows App Execution Alias (`…\WindowsApps\python3.exe`):
/// a stub that opens the Microsoft Store instead of running Python.
fn is_store_alias(path: &Path) -> bool {
    path.components()
        .any(|c| c.as_os_str().eq_ignore_ascii_case("WindowsApps"))
}

/// pyenv's shims are shell scripts that cost ~0.2 s per call and make uv's
/// interpreter search slow; ask pyenv for the real binary once instead.
pub fn resolve_shim(path: PathBuf, name: &str) -> PathBuf {
    if !is_shim(&path) {
        return path;
    }
    let real = Command::new("pyenv")
        .args(["which", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    real.unwrap_or(path)
}

/// Whether `path` is a pyenv-style shim (a script in a `shims` directory).
pub fn is_shim(path: &Path) -> bool {
    path.parent()
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == "shims")
}

/// Run `uv --version` and return the version number it prints.
fn probe_version(program: &Path, prefix: &[OsString]) -> Result<String, String> {
    let out = Command::new(program)
        .args(prefix)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `uv 0.13.9 (x86_64-unknown-linux-gnu)` or `uv 0.13.9`.
    text.split_whitespace()
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| format!("unexpected `--version` output: {}", text.trim()))
}

/// `0.13.9` → `(0, 13, 9)`; pre-release suffixes are ignored.
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let mut parts = v.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u64>().ok()
    });
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::{is_store_alias, parse_version};
    use std::path::PathBuf;

    #[test]
    fn windows_store_aliases_are_not_interpreters() {
        let alias: PathBuf = [
            "C:",
            "Users",
            "ada",
            "AppData",
            "Local",
            "Microsoft",
            "WindowsApps",
        ]
        .iter()
        .collect::<PathBuf>()
        .join("python3.exe");
        assert!(is_store_alias(&alias));
        assert!(!is_store_alias(&PathBuf::from("/usr/bin/python3")));
        let real: PathBuf = ["C:", "Python313", "python.exe"].iter().collect();
        assert!(!is_store_alias(&real));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("0.13.9"), Some((0, 13, 9)));
        assert_eq!(parse_version("0.14"), Some((0, 14, 0)));
        assert_eq!(parse_version("1.0.0rc1"), Some((1, 0, 0)));
        assert_eq!(parse_version("x"), None);
        assert!(parse_version("0.13.3") < Some(super::MIN_UV_VERSION));
    }
}
