//! `sync` for each Pyodide ABI with real wheels: Python 3.14 projects get the
//! PEP 783 `pyemscripten_2026_0_wasm32` cp314 builds, 3.13 keeps 2025's. The
//! wheels are PyPI's own files, pinned by sha256 and downloaded once into
//! `${PYWRANGLER_CACHE_DIR:-~/.cache/pywrangler-rs}/test-wheels/` (never into
//! the repository); each test copies them into its find-links index.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Fixture, collect, write_mylib};
use crate::support::Run;

const FILES: &str = "https://files.pythonhosted.org/packages";

/// A wheel file on PyPI: name, path under `FILES`, sha256.
pub(crate) struct RealWheel {
    pub(crate) file: &'static str,
    pub(crate) path: &'static str,
    pub(crate) sha256: &'static str,
}

pub(crate) const PYDANTIC_CORE_314: RealWheel = RealWheel {
    file: "pydantic_core-2.50.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl",
    path: "83/47/375ab34f3907a0f40cebe2c3cea3e2c25dcf58e0f591991b85604b7258fc",
    sha256: "b2910ec0fa5aeb9bef70156f2b79f4783978fdcfaa7b2f1b5d1814458d2e79a1",
};
pub(crate) const MSGPACK_314: RealWheel = RealWheel {
    file: "msgpack-1.2.4-cp314-cp314-pyemscripten_2026_0_wasm32.whl",
    path: "41/29/efdc3d1d09e4e0e45955b0aad559b4c1f5d908767c9fb1021990c52182a5",
    sha256: "06a0657a4110d563255006b7cb7147432f67827144e429c2cdb1c967548d1817",
};

/// Every real wheel the index holds. Besides what 3.14 needs: msgpack's
/// builds for Pyodide 2025 (3.13), for the next platform (cp315, 2026_5) and
/// for x86-64 Linux, so picking the wrong one cannot go unnoticed.
pub(crate) const WHEELS: &[RealWheel] = &[
    PYDANTIC_CORE_314,
    MSGPACK_314,
    RealWheel {
        file: "msgpack-1.2.4-cp313-cp313-pyemscripten_2025_0_wasm32.whl",
        path: "60/76/7f39f49cbcdaa4aafe64b4941b2640772dbdc1cac3a9332f4c9ba6994da9",
        sha256: "d088d1f552e129859db830692268747aba0a1ee3e6e0fe6344dbb3aab1df9f6c",
    },
    RealWheel {
        file: "msgpack-1.2.4-cp315-cp315-pyemscripten_2026_5_wasm32.whl",
        path: "f4/cf/14db289e0ad531e22ce0f03284865f81d14fbc80bf3f79d3b1714bcf76cf",
        sha256: "b1f08ec826417e3c8dc3edadb50f38debba033af6cb849229f0eac72f80f2342",
    },
    RealWheel {
        file: "msgpack-1.2.4-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        path: "39/8f/bf975b5d2111e4954a0f8567fc6b60bab22c8766dd4fa509af1334c91a4f",
        sha256: "5d65b791ce4283e02b6267742ad540899155e1b32887b9cbdda47f38f5a076b5",
    },
    RealWheel {
        file: "pydantic-2.14.4-py3-none-any.whl",
        path: "8a/8c/824a686c4ba815ddb0722f9e66272088bccd4e1ae1d2f7015375e4a4fc7f",
        sha256: "653a2ad9f6d8858529c77c72717d0ea991d6c6837fe683246b2f4b2bbfc3fadc",
    },
    RealWheel {
        file: "annotated_types-0.8.0-py3-none-any.whl",
        path: "99/91/8acff4f5e50511b911bbccb72b8628a49c68ce14148cd9f6431094859a90",
        sha256: "f072f4d804ea359e4eaf198b1af7a8b0943881a87f31bb764f8bf219bb9419e0",
    },
    RealWheel {
        file: "typing_extensions-4.16.0-py3-none-any.whl",
        path: "49/d3/b8441a820a491ddfc024b0b0cf0393375b75ea13866d9c66727e54c2fc80",
        sha256: "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    },
    RealWheel {
        file: "typing_inspection-0.4.5-py3-none-any.whl",
        path: "de/0c/ea2544850a7c135e15033a5c7a8e7211136184b7ae63e2239d557c2b3019",
        sha256: "bc210535442b39e1bf2805e0c7a17dfd6a4ace760c84c7f7d16245d23a6b1c39",
    },
];

fn cache_dir() -> PathBuf {
    std::env::var_os("PYWRANGLER_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pywrangler-rs")))
        .expect("HOME or PYWRANGLER_CACHE_DIR is set")
        .join("test-wheels")
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An HTTP client that also trusts `SSL_CERT_FILE` (as uv and curl do), for
/// machines behind a TLS-inspecting proxy.
fn http_client(timeout: Duration) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder().timeout(timeout);
    if let Some(pem) = std::env::var_os("SSL_CERT_FILE").and_then(|f| std::fs::read(f).ok()) {
        for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().expect("http client")
}

/// The cached copy of `wheel`, downloaded (and checked) on first use.
pub(crate) fn fetch(wheel: &RealWheel) -> PathBuf {
    let dir = cache_dir();
    let path = dir.join(wheel.file);
    if std::fs::read(&path).is_ok_and(|b| sha256_hex(&b) == wheel.sha256) {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("cache dir");
    let url = format!("{FILES}/{}/{}", wheel.path, wheel.file);
    let body = http_client(Duration::from_secs(120))
        .get(&url)
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.bytes())
        .unwrap_or_else(|e| {
            panic!(
                "downloading {url} failed (needed once, then cached in {}): {e}",
                dir.display()
            )
        });
    assert_eq!(
        sha256_hex(&body),
        wheel.sha256,
        "{url} does not have the pinned sha256"
    );
    let partial = dir.join(format!(".{}.{}", wheel.file, std::process::id()));
    std::fs::write(&partial, &body).expect("write wheel");
    std::fs::rename(&partial, &path).expect("rename wheel");
    path
}

/// A fixture whose index also holds every real wheel.
fn fixture(deps: &[&str], compat_date: &str) -> Fixture {
    let fx = Fixture::new(deps);
    fx.set_compat_date(compat_date);
    for wheel in WHEELS {
        std::fs::copy(fetch(wheel), fx.index().join(wheel.file)).expect("copy wheel");
    }
    fx
}

/// The `Tag:` lines of an installed distribution's WHEEL file.
fn wheel_tags(modules: &Path, dist_info: &str) -> Vec<String> {
    let text = std::fs::read_to_string(modules.join(dist_info).join("WHEEL"))
        .unwrap_or_else(|e| panic!("{dist_info}/WHEEL: {e}"));
    text.lines()
        .filter_map(|l| l.strip_prefix("Tag: "))
        .map(str::to_string)
        .collect()
}

/// Assert `rel` is installed with the bytes the wheel's RECORD names.
fn assert_recorded(modules: &Path, dist_info: &str, rel: &str) {
    let bytes = std::fs::read(modules.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&bytes));
    let record = std::fs::read_to_string(modules.join(dist_info).join("RECORD")).expect("RECORD");
    let line = format!("{rel},sha256={digest},{}", bytes.len());
    assert!(
        record.lines().any(|l| l == line),
        "{rel} is not the file its wheel records ({line})"
    );
}

/// The wheel files pylock.toml lists for `name`, as (file name, sha256).
fn locked_wheels(lock: &str, name: &str) -> Vec<(String, String)> {
    let doc: toml::Table = lock.parse().expect("pylock parses");
    let package = doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in pylock.toml"));
    package["wheels"]
        .as_array()
        .expect("wheels")
        .iter()
        .map(|w| {
            let url = w["url"].as_str().expect("url");
            (
                url.rsplit('/').next().unwrap_or(url).to_string(),
                w["hashes"]["sha256"].as_str().expect("sha256").to_string(),
            )
        })
        .collect()
}

#[test]
fn py314_gets_the_pyemscripten_2026_0_cp314_wheels_of_pydantic_core_and_msgpack() {
    let fx = fixture(&["pydantic>=2.14", "msgpack"], "2026-11-01");
    let run = fx.sync(&["--json"]);
    run.expect_code(0);
    assert!(
        run.stderr
            .contains("for Python 3.14 (pyemscripten_2026_0_wasm32)"),
        "{}",
        run.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["python"], "3.14");
    assert_eq!(json["platform"], "pyemscripten_2026_0_wasm32");

    let modules = fx.modules();
    for (dist_info, so) in [
        (
            "pydantic_core-2.50.5.dist-info",
            "pydantic_core/_pydantic_core.cpython-314-wasm32-emscripten.so",
        ),
        (
            "msgpack-1.2.4.dist-info",
            "msgpack/_cmsgpack.cpython-314-wasm32-emscripten.so",
        ),
    ] {
        assert_eq!(
            wheel_tags(&modules, dist_info),
            ["cp314-cp314-pyemscripten_2026_0_wasm32"]
        );
        assert_recorded(&modules, dist_info, so);
    }
    assert!(modules.join("pydantic-2.14.4.dist-info").is_dir());
    let native: Vec<String> = fx
        .tree()
        .into_keys()
        .filter(|k| k.ends_with(".so"))
        .collect();
    assert!(
        native
            .iter()
            .all(|k| k.contains(".cpython-314-wasm32-emscripten.")),
        "{native:?}"
    );

    // pylock.toml names exactly the files that were installed.
    let lock = fx.lock();
    for wheel in [PYDANTIC_CORE_314, MSGPACK_314] {
        let name = wheel
            .file
            .split('-')
            .next()
            .expect("name")
            .replace('_', "-");
        assert_eq!(
            locked_wheels(&lock, &name),
            [(wheel.file.to_string(), wheel.sha256.to_string())]
        );
    }

    // Nothing changed: the stamp says so without running uv.
    let again = fx.sync(&[]);
    again.expect_code(0);
    assert!(again.stderr.contains("up to date"), "{}", again.stderr);
}

#[test]
fn py313_keeps_pyodide_2025_and_a_move_to_314_resyncs_with_2026_wheels() {
    let fx = fixture(&["msgpack"], "2025-10-01");
    let run = fx.sync(&["--json"]);
    run.expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(json["platform"], "wasm32-pyodide2025");
    let modules = fx.modules();
    assert_eq!(
        wheel_tags(&modules, "msgpack-1.2.4.dist-info"),
        ["cp313-cp313-pyemscripten_2025_0_wasm32"]
    );
    assert_recorded(
        &modules,
        "msgpack-1.2.4.dist-info",
        "msgpack/_cmsgpack.cpython-313-wasm32-emscripten.so",
    );

    // From 2026-09-08 the Worker runs Python 3.14: a new resolution, new files.
    fx.set_compat_date("2026-11-01");
    let run = fx.sync(&[]);
    run.expect_code(0);
    assert!(run.stderr.contains("Synced"), "{}", run.stderr);
    assert_eq!(
        wheel_tags(&modules, "msgpack-1.2.4.dist-info"),
        ["cp314-cp314-pyemscripten_2026_0_wasm32"]
    );
    assert!(
        modules
            .join("msgpack/_cmsgpack.cpython-314-wasm32-emscripten.so")
            .is_file()
    );
    assert!(
        !modules
            .join("msgpack/_cmsgpack.cpython-313-wasm32-emscripten.so")
            .exists()
    );
    assert_eq!(
        locked_wheels(&fx.lock(), "msgpack"),
        [(MSGPACK_314.file.to_string(), MSGPACK_314.sha256.to_string())]
    );
}

#[test]
fn py314_package_with_only_a_313_pyodide_wheel_is_named_with_the_platform_tag() {
    // The fixture's `nativepkg` has cp313 pyodide_2025_0 and cp312 pyodide_2024_0 wheels only.
    let fx = Fixture::new(&["nativepkg"]);
    fx.set_compat_date("2026-11-01");
    let run = fx.sync(&[]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "`nativepkg` is not supported by Python Workers: it has no Pyodide (pyemscripten_2026_0_wasm32) or pure-Python wheel for Python 3.14"
        ),
        "{}",
        run.stderr
    );
    assert!(!fx.modules().exists());
    assert!(!fx.root.join("pylock.toml").exists());
}

#[test]
fn py314_builds_sdists_and_path_dependencies_with_the_host_python() {
    // Builds run on the host CPython, as they do for 3.12/3.13: the target
    // interpreter only describes the platform to uv's resolver and installer.
    let fx = Fixture::new(&[]);
    fx.set_compat_date("2026-11-01");
    write_mylib(&fx.root);
    fx.set_pyproject(
        &["mylib", "sdistonly"],
        "\n[tool.uv.sources]\nmylib = { path = \"libs/mylib\" }\n",
    );
    let run = fx.sync(&["--allow-build"]);
    run.expect_code(0);
    let modules = fx.modules();
    assert_eq!(
        std::fs::read_to_string(modules.join("mylib/__init__.py")).expect("mylib"),
        "VALUE = 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(modules.join("sdistonly/__init__.py")).expect("built"),
        "BUILT = True\n"
    );
    assert!(modules.join("purepkg/__init__.py").is_file());
}

#[test]
fn deploy_uploads_exactly_the_synced_314_files() {
    let fx = fixture(&["msgpack"], "2026-11-01");
    fx.sync(&[]).expect_code(0);
    let out = fx.base.join("out");
    let run = Run::from_output(
        fx.command()
            .args(["deploy", "--dry-run", "--skip-validation", "--outdir"])
            .arg(&out)
            .output()
            .expect("binary runs"),
    );
    run.expect_code(0);
    let mut synced = std::collections::BTreeMap::new();
    collect(&fx.modules(), &fx.modules(), &mut synced);
    let mut uploaded = std::collections::BTreeMap::new();
    collect(
        &out.join("python_modules"),
        &out.join("python_modules"),
        &mut uploaded,
    );
    assert!(uploaded.contains_key("msgpack/_cmsgpack.cpython-314-wasm32-emscripten.so"));
    // sync's own files stay home (issue 15); everything else is uploaded.
    for own in [".synced", "pyvenv.cfg"] {
        assert!(synced.remove(own).is_some(), "sync wrote no {own}");
    }
    let synced_names: BTreeSet<&String> = synced.keys().collect();
    let uploaded_names: BTreeSet<&String> = uploaded.keys().collect();
    assert_eq!(uploaded_names, synced_names);
    assert_eq!(
        uploaded, synced,
        "uploaded bytes differ from python_modules"
    );
}

/// The same resolution against PyPI itself, when it can be reached (it is
/// skipped, not failed, offline). The Pyodide index is left out.
#[test]
fn py314_against_pypi_when_reachable() {
    let reachable = http_client(Duration::from_secs(10))
        .get("https://pypi.org/simple/msgpack/")
        .send()
        .is_ok_and(|r| r.status().is_success());
    if !reachable {
        eprintln!("SKIP py314_against_pypi_when_reachable: https://pypi.org is not reachable");
        return;
    }
    let fx = Fixture::new(&["pydantic>=2.14", "msgpack"]);
    fx.set_compat_date("2026-11-01");
    let only_sdk = fx.base.join("only-sdk");
    std::fs::create_dir_all(&only_sdk).expect("mkdir");
    std::fs::copy(
        fx.index()
            .join("workers_runtime_sdk-1.9.5-py3-none-any.whl"),
        only_sdk.join("workers_runtime_sdk-1.9.5-py3-none-any.whl"),
    )
    .expect("copy sdk");
    let mut cmd: Command = fx.command();
    cmd.env_remove("UV_DEFAULT_INDEX")
        .env("PYWRANGLER_PYODIDE_INDEX", &only_sdk)
        .args(["sync", "--no-host-venv"]);
    let run = Run::from_output(cmd.output().expect("binary runs"));
    run.expect_code(0);
    let modules = fx.modules();
    for so in [
        "pydantic_core/_pydantic_core.cpython-314-wasm32-emscripten.so",
        "msgpack/_cmsgpack.cpython-314-wasm32-emscripten.so",
    ] {
        assert!(modules.join(so).is_file(), "{so} missing: {}", run.stderr);
    }
}

#[test]
fn py314_without_any_host_python_says_what_is_missing() {
    let fx = Fixture::new(&["purepkg"]);
    fx.set_compat_date("2026-11-01");
    let empty = fx.base.join("no-pythons");
    std::fs::create_dir_all(&empty).expect("mkdir");
    // The uv binary itself (a pyenv shim needs bash and PATH, which are taken away).
    let mut uv = which::which("uv").expect("uv on PATH for tests");
    if uv
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|d| d == "shims")
    {
        let out = Command::new("pyenv")
            .args(["which", "uv"])
            .output()
            .expect("pyenv runs");
        uv = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    }
    let run = Run::from_output(
        fx.command()
            .env("PYWRANGLER_UV", uv)
            .env("PATH", &empty)
            .env("UV_PYTHON_INSTALL_DIR", &empty)
            .args(["sync", "--no-host-venv"])
            .output()
            .expect("binary runs"),
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "syncing for Python 3.14 (pyemscripten_2026_0_wasm32) needs a host Python to describe that platform to uv"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("uv python install"), "{}", run.stderr);
    assert!(!fx.modules().exists());
}
