//! `sync` against real uv and a local find-links directory built here: pure
//! wheels (several versions), Pyodide-tagged wheels, a host-only wheel, an
//! sdist-only package and a fake `workers-runtime-sdk`. PyPI is disabled by
//! pointing uv's default index at an empty local directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Run, cmd, tempdir, write_files};

pub(crate) mod pyemscripten;

/// Builds wheels and sdists with the host python3 (uv needs one anyway).
const MAKE_INDEX: &str = r#"
import sys, zipfile, os
out = sys.argv[1]
def wheel(name, ver, tag="py3-none-any", deps=()):
    dist = f"{name}-{ver}.dist-info"
    with zipfile.ZipFile(os.path.join(out, f"{name}-{ver}-{tag}.whl"), "w") as z:
        z.writestr(f"{name}/__init__.py", f"VERSION = {ver!r}\nTAG = {tag!r}\n")
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n" + "".join(f"Requires-Dist: {d}\n" for d in deps))
        z.writestr(f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: it\nRoot-Is-Purelib: true\nTag: {tag}\n")
        z.writestr(f"{dist}/RECORD", "")
for v in ["1.0", "1.1"]:
    wheel("purepkg", v)
wheel("otherpkg", "1.0")
wheel("nativepkg", "1.0", "cp313-cp313-pyodide_2025_0_wasm32")
wheel("nativepkg", "1.0", "cp312-cp312-pyodide_2024_0_wasm32")
wheel("hostonly", "1.0", "cp313-cp313-manylinux_2_17_x86_64")
wheel("workers_runtime_sdk", "1.9.5")
backend = open(sys.argv[2]).read()
with zipfile.ZipFile(os.path.join(out, "sdistonly-1.0.zip"), "w") as z:
    z.writestr("sdistonly-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: sdistonly\nVersion: 1.0\n")
    z.writestr("sdistonly-1.0/pyproject.toml", "[build-system]\nrequires = []\nbuild-backend = 'simplebackend'\nbackend-path = ['_backend']\n[project]\nname = 'sdistonly'\nversion = '1.0'\n")
    z.writestr("sdistonly-1.0/_backend/simplebackend.py", backend)
    z.writestr("sdistonly-1.0/sdistonly/__init__.py", "BUILT = True\n")
"#;

/// A PEP 517 backend with no requirements, so builds never need an index.
const BACKEND: &str = r#"
import os, zipfile, tomllib
def _meta():
    with open("pyproject.toml", "rb") as f:
        p = tomllib.load(f)["project"]
    return p["name"], p["version"], p.get("dependencies", [])
def get_requires_for_build_wheel(config_settings=None):
    return []
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, deps = _meta()
    dist = f"{name}-{version}.dist-info"
    fn = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, fn), "w") as z:
        for d in sorted(os.listdir(".")):
            if os.path.isfile(os.path.join(d, "__init__.py")):
                for base, _, files in os.walk(d):
                    for f in sorted(files):
                        if not f.endswith(".pyc"):
                            z.write(os.path.join(base, f), os.path.join(base, f))
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {d}\n" for d in deps))
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: it\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return fn
"#;

/// A local package `libs/mylib` (a `[tool.uv.sources]` path dependency in
/// the tests) built by [`BACKEND`]: `mylib/__init__.py` holds `VALUE = 1`, and
/// it depends on `purepkg`.
fn write_mylib(root: &Path) {
    write_files(
        root,
        &[
            (
                "libs/mylib/pyproject.toml",
                "[build-system]\nrequires = []\nbuild-backend = \"simplebackend\"\nbackend-path = [\"_backend\"]\n\n[project]\nname = \"mylib\"\nversion = \"0.1.0\"\ndependencies = [\"purepkg\"]\n",
            ),
            ("libs/mylib/_backend/simplebackend.py", BACKEND),
            ("libs/mylib/mylib/__init__.py", "VALUE = 1\n"),
        ],
    );
}

const WRANGLER_313: &str = "name = \"w\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-10-01\"\ncompatibility_flags = [\"python_workers\"]\n";

/// A temp dir holding the index, an empty "PyPI", a uv cache and the project.
struct Fixture {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new(deps: &[&str]) -> Fixture {
        let dir = tempdir();
        let base = dir.path().to_path_buf();
        for sub in ["index", "empty-index", "uv-cache", "proj/src"] {
            std::fs::create_dir_all(base.join(sub)).expect("mkdir");
        }
        let backend = base.join("simplebackend.py");
        std::fs::write(&backend, BACKEND).expect("write backend");
        let status = Command::new("python3")
            .arg("-c")
            .arg(MAKE_INDEX)
            .arg(base.join("index"))
            .arg(&backend)
            .status()
            .expect("python3 runs");
        assert!(status.success(), "building the test index failed");
        let fx = Fixture {
            root: base.join("proj"),
            base,
            _dir: dir,
        };
        fx.set_deps(deps);
        write_files(
            &fx.root,
            &[
                ("wrangler.toml", WRANGLER_313),
                ("src/entry.py", "def on_fetch(request):\n    return None\n"),
            ],
        );
        fx
    }

    fn set_deps(&self, deps: &[&str]) {
        self.set_pyproject(deps, "");
    }

    /// Change `compatibility_date` (and so the Python version) in wrangler.toml.
    fn set_compat_date(&self, date: &str) {
        let text = WRANGLER_313.replace("2025-10-01", date);
        std::fs::write(self.root.join("wrangler.toml"), text).expect("write wrangler.toml");
    }

    /// The find-links directory the Pyodide index override points at.
    fn index(&self) -> PathBuf {
        self.base.join("index")
    }

    fn set_pyproject(&self, deps: &[&str], extra: &str) {
        let list: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        let text = format!(
            "[project]\nname = \"w\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = [{}]\n{extra}",
            list.join(", ")
        );
        std::fs::write(self.root.join("pyproject.toml"), text).expect("write pyproject");
    }

    fn command(&self) -> Command {
        let mut c = cmd(&self.root);
        let empty = format!("file://{}", self.base.join("empty-index").display());
        c.env("UV_DEFAULT_INDEX", empty)
            .env("PYWRANGLER_PYODIDE_INDEX", self.base.join("index"))
            .env("UV_CACHE_DIR", self.base.join("uv-cache"))
            .env("UV_HTTP_RETRIES", "0")
            .env_remove("PYWRANGLER_UV")
            .env_remove("UV_INDEX_URL")
            .env_remove("UV_EXTRA_INDEX_URL")
            .env_remove("UV_INDEX");
        c
    }

    /// `sync --no-host-venv <args>`.
    fn sync(&self, args: &[&str]) -> Run {
        let mut c = self.command();
        c.arg("sync").arg("--no-host-venv").args(args);
        Run::from_output(c.output().expect("binary runs"))
    }

    fn modules(&self) -> PathBuf {
        self.root.join("python_modules")
    }

    fn lock(&self) -> String {
        std::fs::read_to_string(self.root.join("pylock.toml")).expect("pylock.toml")
    }

    /// Every file under python_modules with its bytes.
    fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        collect(&self.modules(), &self.modules(), &mut out);
        out
    }

    /// Entries of the project root that a sync leaves behind by accident.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .expect("read root")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".python_modules") || n.starts_with("pylock.pywrangler"))
            .collect()
    }
}

fn collect(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, out);
        } else {
            let rel = path.strip_prefix(base).expect("under base");
            out.insert(
                rel.display().to_string(),
                std::fs::read(&path).expect("read"),
            );
        }
    }
}

/// `version = "…"` of a package in pylock.toml.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let doc: toml::Table = lock.parse().expect("pylock parses");
    doc.get("packages")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(name))?
        .get("version")?
        .as_str()
        .map(str::to_string)
}

fn real_uv() -> PathBuf {
    which::which("uv").expect("uv on PATH for tests")
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).expect("write script");
    #[cfg(unix)]
    {
        let mut perms = std::fs::metadata(path).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(path, perms).expect("chmod");
    }
}

#[test]
fn installs_pure_and_pyodide_wheels_flat_with_the_runtime_sdk() {
    let fx = Fixture::new(&["purepkg", "nativepkg"]);
    let run = fx.sync(&[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("Synced 3 packages into python_modules"),
        "{}",
        run.stderr
    );
    let native = std::fs::read_to_string(fx.modules().join("nativepkg/__init__.py"))
        .expect("nativepkg installed flat");
    assert!(native.contains("pyodide_2025_0_wasm32"), "{native}");
    assert!(fx.modules().join("purepkg/__init__.py").is_file());
    assert!(
        fx.modules()
            .join("workers_runtime_sdk/__init__.py")
            .is_file()
    );
    assert!(fx.modules().join(".synced").is_file());
    assert!(!fx.modules().join(".lock").exists());
    assert_eq!(
        locked_version(&fx.lock(), "purepkg").as_deref(),
        Some("1.1")
    );
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
}

#[test]
fn lockfile_lifecycle_pins_noop_and_upgrade() {
    let fx = Fixture::new(&["purepkg==1.0"]);
    fx.sync(&[]).expect_code(0);
    assert_eq!(
        locked_version(&fx.lock(), "purepkg").as_deref(),
        Some("1.0")
    );

    // Relaxing the requirement keeps the pin from pylock.toml.
    fx.set_deps(&["purepkg"]);
    fx.sync(&[]).expect_code(0);
    assert_eq!(
        locked_version(&fx.lock(), "purepkg").as_deref(),
        Some("1.0")
    );

    // Adding a dependency keeps the existing pin too.
    fx.set_deps(&["purepkg", "otherpkg"]);
    fx.sync(&[]).expect_code(0);
    let lock = fx.lock();
    assert_eq!(locked_version(&lock, "purepkg").as_deref(), Some("1.0"));
    assert_eq!(locked_version(&lock, "otherpkg").as_deref(), Some("1.0"));

    // A no-op rerun changes nothing, not even the mtime of pylock.toml.
    let lock_path = fx.root.join("pylock.toml");
    let mtime = std::fs::metadata(&lock_path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let tree = fx.tree();
    let started = Instant::now();
    let run = fx.sync(&[]);
    let elapsed = started.elapsed();
    run.expect_code(0);
    assert!(run.stderr.contains("up to date"), "{}", run.stderr);
    assert!(
        elapsed < Duration::from_millis(500),
        "no-op took {elapsed:?}"
    );
    assert_eq!(fx.lock(), lock);
    assert_eq!(fx.tree(), tree);
    assert_eq!(
        std::fs::metadata(&lock_path)
            .and_then(|m| m.modified())
            .expect("mtime"),
        mtime
    );

    // --force re-resolves but the lock stays byte-identical.
    fx.sync(&["--force"]).expect_code(0);
    assert_eq!(fx.lock(), lock);

    // --upgrade moves the pin forward.
    fx.sync(&["--upgrade"]).expect_code(0);
    assert_eq!(
        locked_version(&fx.lock(), "purepkg").as_deref(),
        Some("1.1")
    );
    let installed =
        std::fs::read_to_string(fx.modules().join("purepkg/__init__.py")).expect("read");
    assert!(installed.contains("'1.1'"), "{installed}");
}

#[test]
fn dropped_packages_are_removed() {
    let fx = Fixture::new(&["purepkg", "otherpkg"]);
    fx.sync(&[]).expect_code(0);
    assert!(fx.modules().join("otherpkg").is_dir());
    fx.set_deps(&["purepkg"]);
    fx.sync(&[]).expect_code(0);
    assert!(!fx.modules().join("otherpkg").exists());
    assert!(!fx.modules().join("otherpkg-1.0.dist-info").exists());
    assert!(fx.modules().join("purepkg").is_dir());
    assert_eq!(locked_version(&fx.lock(), "otherpkg"), None);
}

#[test]
fn compat_date_change_that_changes_python_resyncs() {
    let fx = Fixture::new(&["nativepkg"]);
    fx.sync(&[]).expect_code(0);
    let native = fx.modules().join("nativepkg/__init__.py");
    assert!(
        std::fs::read_to_string(&native)
            .expect("read")
            .contains("pyodide_2025_0")
    );

    // A new date that keeps Python 3.13 changes nothing that sync produces.
    let later = WRANGLER_313.replace("2025-10-01", "2025-11-01");
    std::fs::write(fx.root.join("wrangler.toml"), later).expect("write");
    let run = fx.sync(&[]);
    run.expect_code(0);
    assert!(run.stderr.contains("up to date"), "{}", run.stderr);

    // Before 2025-09-29 the Worker runs Python 3.12 (Pyodide 0.27).
    let older = WRANGLER_313.replace("2025-10-01", "2025-06-01");
    std::fs::write(fx.root.join("wrangler.toml"), older).expect("write");
    let run = fx.sync(&["--json"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("Synced"),
        "expected a re-sync: {}",
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["python"], "3.12");
    assert_eq!(json["platform"], "wasm32-pyodide2024");
    assert!(
        std::fs::read_to_string(&native)
            .expect("read")
            .contains("pyodide_2024_0")
    );
}

#[test]
fn json_summary_and_quiet() {
    let fx = Fixture::new(&["purepkg==1.0"]);
    let run = fx.sync(&["--json", "-q"]);
    run.expect_code(0);
    assert_eq!(run.stderr, "", "-q prints nothing on success");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json on stdout");
    assert_eq!(json["skipped"], false);
    assert_eq!(json["python"], "3.13");
    let packages = json["packages"].as_array().expect("packages");
    let names: Vec<(&str, &str)> = packages
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![("purepkg", "1.0"), ("workers-runtime-sdk", "1.9.5")]
    );
    assert!(json["size_bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(json["host_venv"], "disabled");

    let again = fx.sync(&["--json"]);
    again.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&again.stdout).expect("json");
    assert_eq!(json["skipped"], true);
    assert_eq!(json["packages"].as_array().map(Vec::len), Some(2));
}

#[test]
fn uv_sources_path_dependency_is_installed_and_tracked_by_content() {
    let fx = Fixture::new(&[]);
    write_mylib(&fx.root);
    fx.set_pyproject(
        &["mylib"],
        "\n[tool.uv.sources]\nmylib = { path = \"libs/mylib\" }\n",
    );
    fx.sync(&[]).expect_code(0);
    let installed = fx.modules().join("mylib/__init__.py");
    assert_eq!(
        std::fs::read_to_string(&installed).expect("mylib"),
        "VALUE = 1\n"
    );
    assert!(
        fx.modules().join("purepkg").is_dir(),
        "its dependency came along"
    );

    // Editing the local package (not pyproject or the lock) triggers a re-sync.
    std::fs::write(fx.root.join("libs/mylib/mylib/__init__.py"), "VALUE = 2\n").expect("edit");
    let run = fx.sync(&[]);
    run.expect_code(0);
    assert!(run.stderr.contains("Synced"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&installed).expect("mylib"),
        "VALUE = 2\n"
    );
}

#[test]
fn failed_install_keeps_the_previous_tree_byte_identical() {
    let fx = Fixture::new(&["purepkg"]);
    fx.sync(&[]).expect_code(0);
    let tree = fx.tree();
    let lock = fx.lock();

    // A uv that dies (SIGKILL) half-way through writing the target dir.
    let wrapper = fx.base.join("uv-dies.sh");
    script(
        &wrapper,
        &format!(
            "case \"$*\" in *--target*) for a in \"$@\"; do [ \"$prev\" = --target ] && mkdir -p \"$a/purepkg\" && echo broken > \"$a/purepkg/__init__.py\"; prev=$a; done; kill -9 $$;; esac\nexec {} \"$@\"\n",
            real_uv().display()
        ),
    );
    fx.set_deps(&["purepkg", "otherpkg"]);
    let run = Run::from_output(
        fx.command()
            .env("PYWRANGLER_UV", &wrapper)
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("runs"),
    );
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("uv was interrupted while installing packages"),
        "{}",
        run.stderr
    );
    assert_eq!(fx.tree(), tree, "python_modules changed");
    assert_eq!(fx.lock(), lock, "pylock.toml changed");
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());

    // The next normal sync completes.
    fx.sync(&[]).expect_code(0);
    assert!(fx.modules().join("otherpkg").is_dir());
}

#[test]
fn killed_sync_keeps_the_previous_tree_and_the_next_run_recovers() {
    let fx = Fixture::new(&["purepkg"]);
    fx.sync(&[]).expect_code(0);
    let tree = fx.tree();

    // A uv that hangs during install; we then kill pywrangler-rs itself.
    let pidfile = fx.base.join("uv.pid");
    let wrapper = fx.base.join("uv-hangs.sh");
    script(
        &wrapper,
        &format!(
            "case \"$*\" in *--target*) echo $$ > {}; sleep 30; exit 1;; esac\nexec {} \"$@\"\n",
            pidfile.display(),
            real_uv().display()
        ),
    );
    fx.set_deps(&["purepkg", "otherpkg"]);
    let mut child = fx
        .command()
        .env("PYWRANGLER_UV", &wrapper)
        .args(["sync", "--no-host-venv"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pidfile.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pidfile.exists(), "uv install never started");
    child.kill().expect("kill pywrangler-rs");
    let _ = child.wait();
    if let Ok(pid) = std::fs::read_to_string(&pidfile) {
        let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
    }
    assert_eq!(fx.tree(), tree, "python_modules changed");

    let run = fx.sync(&[]);
    run.expect_code(0);
    assert!(fx.modules().join("otherpkg").is_dir());
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
}

#[test]
fn requirements_txt_is_refused_with_a_ready_to_paste_block() {
    let fx = Fixture::new(&[]);
    write_files(
        &fx.root,
        &[("requirements.txt", "fastapi\n# comment\nhttpx>=0.27\n")],
    );
    let run = fx.sync(&[]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("requirements.txt exists. Delete the file to continue."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("dependencies = [\n  \"fastapi\",\n  \"httpx>=0.27\",\n]"),
        "{}",
        run.stderr
    );
    assert!(!fx.modules().exists());
}

#[test]
fn package_without_a_pyodide_or_pure_wheel_is_named() {
    let fx = Fixture::new(&["hostonly"]);
    let run = fx.sync(&[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("`hostonly` is not supported by Python Workers: it has no Pyodide (wasm32-pyodide2025) or pure-Python wheel for Python 3.13"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("--allow-build"), "{}", run.stderr);
    assert!(!fx.modules().exists());
    assert!(!fx.root.join("pylock.toml").exists());
    assert!(fx.leftovers().is_empty(), "{:?}", fx.leftovers());
}

#[test]
fn sdist_only_package_suggests_allow_build_which_builds_it() {
    let fx = Fixture::new(&["sdistonly"]);
    let run = fx.sync(&[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("`sdistonly` is not supported by Python Workers"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--allow-build"), "{}", run.stderr);

    fx.sync(&["--allow-build"]).expect_code(0);
    let built = std::fs::read_to_string(fx.modules().join("sdistonly/__init__.py")).expect("built");
    assert_eq!(built, "BUILT = True\n");
}

#[test]
fn unknown_package_and_verbose_shows_uv() {
    let fx = Fixture::new(&["nosuchpkg"]);
    let run = fx.sync(&[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("`nosuchpkg` was not found"),
        "{}",
        run.stderr
    );
    let verbose = fx.sync(&["-v"]);
    verbose.expect_code(1);
    assert!(verbose.stderr.contains("uv said:"), "{}", verbose.stderr);
    assert!(
        verbose.stderr.contains("not found in the package registry"),
        "{}",
        verbose.stderr
    );
}

#[test]
fn network_failure_gives_the_network_hint() {
    let fx = Fixture::new(&["purepkg"]);
    let run = Run::from_output(
        fx.command()
            .env("PYWRANGLER_PYODIDE_INDEX", "http://127.0.0.1:9/simple")
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("runs"),
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "Installation failed because of a failed fetch. Is your network connection working?"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_index_override_is_a_config_error() {
    let fx = Fixture::new(&["purepkg"]);
    let run = Run::from_output(
        fx.command()
            .env("PYWRANGLER_PYODIDE_INDEX", "no-such-dir")
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("runs"),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("PYWRANGLER_PYODIDE_INDEX=no-such-dir"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_or_old_uv_says_how_to_install() {
    let fx = Fixture::new(&["purepkg"]);
    let run = Run::from_output(
        fx.command()
            .env("PATH", fx.base.join("nothing-here"))
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("runs"),
    );
    run.expect_code(1);
    assert!(run.stderr.contains("uv was not found"), "{}", run.stderr);
    assert!(
        run.stderr.contains("python3 -m pip install uv"),
        "{}",
        run.stderr
    );

    let old = fx.base.join("old-uv.sh");
    script(&old, "echo 'uv 0.4.0 (deadbeef)'\n");
    let run = Run::from_output(
        fx.command()
            .env("PYWRANGLER_UV", &old)
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("runs"),
    );
    run.expect_code(1);
    assert!(run.stderr.contains("uv 0.4.0"), "{}", run.stderr);
    assert!(run.stderr.contains("too old"), "{}", run.stderr);
    assert!(run.stderr.contains("uv self update"), "{}", run.stderr);
}

#[test]
fn host_venv_is_best_effort() {
    // Python 3.13 is selected; without a host 3.13 the venv is skipped with a
    // warning and sync still succeeds. Where 3.13 exists it must be usable.
    let fx = Fixture::new(&["purepkg==1.0"]);
    let run = Run::from_output(
        fx.command()
            .args(["sync", "--json"])
            .output()
            .expect("runs"),
    );
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    if json["host_venv"] == "installed" {
        assert!(fx.root.join(".venv-workers/pyvenv.cfg").is_file());
    } else {
        let reason = json["host_venv"]["skipped"]["reason"]
            .as_str()
            .expect("skip reason");
        assert!(!reason.is_empty());
        assert!(
            run.stderr.contains("warning: skipped the host venv"),
            "{}",
            run.stderr
        );
        assert!(!fx.root.join(".venv-workers").exists());
    }
    assert!(fx.modules().join("purepkg").is_dir());
}
