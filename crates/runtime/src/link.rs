//! Guests shipped as `dylink.0` parts (the 3.14 guest: the project's `main.so`
//! plus componentize-py's `libpython3.14.so`) are fused into one core module
//! by `pywrangler-wasmlink` on first use and cached, so neither the build nor
//! a user's machine needs a wasm toolchain.
//!
//! The guest directory's `LINK` file is the plan:
//! ```text
//! stack_size=8388608
//! keep_exports=memory,_initialize,wizer-initialize,...
//! input=main main.so
//! input=py libpython3.14.so
//! ```
//! Inputs are listed in symbol precedence order (the first definer wins).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache::io;
use crate::error::RuntimeError;
use crate::guest::hex;
use crate::native::{ExtModule, NativePackage};

/// The plan's file name in a guest directory.
pub(crate) const PLAN_FILE: &str = "LINK";

/// A parsed `LINK` file.
#[derive(Debug, PartialEq)]
struct Plan {
    stack_size: u32,
    keep_exports: Vec<String>,
    /// (label, file relative to the guest directory)
    inputs: Vec<(String, String)>,
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Io {
        action: "reading the link plan",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
    }
}

fn parse(text: &str, path: &Path) -> Result<Plan, RuntimeError> {
    let mut plan = Plan {
        stack_size: 0,
        keep_exports: Vec::new(),
        inputs: Vec::new(),
    };
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| invalid(path, format!("line {}: {why}", n + 1));
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad("expected key=value"))?;
        match key {
            "stack_size" => {
                plan.stack_size = value
                    .parse()
                    .map_err(|_| bad("stack_size is not a number"))?;
            }
            "keep_exports" => {
                plan.keep_exports = value.split(',').map(str::to_string).collect();
            }
            "input" => {
                let (label, file) = value
                    .split_once(' ')
                    .ok_or_else(|| bad("expected `input=<label> <file>`"))?;
                if file.contains("..") || Path::new(file).is_absolute() {
                    return Err(bad("input files must be inside the guest directory"));
                }
                plan.inputs.push((label.to_string(), file.to_string()));
            }
            _ => return Err(bad(&format!("unknown key `{key}`"))),
        }
    }
    if plan.inputs.is_empty() || plan.stack_size == 0 || plan.keep_exports.is_empty() {
        return Err(invalid(
            path,
            "needs stack_size, keep_exports and at least one input",
        ));
    }
    Ok(plan)
}

/// A linked guest.
#[derive(Debug, Clone)]
pub(crate) struct LinkedGuest {
    /// The core module.
    pub wasm: PathBuf,
    /// Its cache key (names the file): stands in for a hash of its contents.
    pub key: String,
    /// Native packages whose extension modules could not be linked, with the reason.
    pub refused: Vec<NativePackage>,
}

/// ABI prefix of Pyodide extension modules: their import `X` binds to the guest's `__em_X`
/// adapter where one exists (`guest/314/emscripten_abi.c`).
const EMSCRIPTEN_ABI_PREFIX: &str = "__em_";

/// The linked `pyworker.wasm` of the guest in `dir` plus the extension modules `natives`
/// (empty: the plain guest), linking it now unless a previous run already did. The key covers
/// the plan, each input's and native module's path, size and mtime, this runtime's version
/// and the linker's output version. A native module that cannot be linked (C++ needing
/// libc++, a Pyodide shared library, an unsupported feature) is left out and reported in
/// [`LinkedGuest::refused`]; its import fails with that reason.
pub(crate) fn ensure_linked(
    dir: &Path,
    cache_root: &Path,
    python: &str,
    progress: &crate::ProgressSink,
    natives: &[ExtModule],
) -> Result<LinkedGuest, RuntimeError> {
    let plan_path = dir.join(PLAN_FILE);
    let text = std::fs::read_to_string(&plan_path).map_err(io("reading", &plan_path))?;
    let plan = parse(&text, &plan_path)?;
    let mut key = Sha256::new();
    key.update(crate::RUNTIME_VERSION.as_bytes());
    key.update(pywrangler_wasmlink::OUTPUT_VERSION.to_le_bytes());
    key.update([0]);
    key.update(text.as_bytes());
    for (_, file) in &plan.inputs {
        let path = dir.join(file);
        key.update(path.to_string_lossy().as_bytes());
        crate::cache::hash_stamp(&mut key, &path)?;
    }
    for m in natives {
        key.update(m.rel.as_bytes());
        key.update([0]);
        crate::cache::hash_stamp(&mut key, &m.path)?;
    }
    let key = hex(&key.finalize()[..16]);
    let out_dir = cache_root.join("guest-link");
    let out = out_dir.join(format!("{key}.wasm"));
    let refused_file = out_dir.join(format!("{key}.refused.json"));
    if out.is_file() {
        let refused = std::fs::read(&refused_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<Refusal>>(&b).ok())
            .unwrap_or_default();
        return Ok(LinkedGuest {
            wasm: out,
            key,
            refused: group_refused(natives, &refused),
        });
    }
    let started = std::time::Instant::now();
    progress.emit(if natives.is_empty() {
        crate::Progress::Linking {
            python: python.to_string(),
        }
    } else {
        crate::Progress::LinkingNative {
            python: python.to_string(),
            modules: natives.iter().map(|m| m.rel.clone()).collect(),
        }
    });
    let mut base = Vec::with_capacity(plan.inputs.len());
    for (label, file) in &plan.inputs {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        base.push(pywrangler_wasmlink::Input::new(label.clone(), bytes));
    }
    let options = pywrangler_wasmlink::Options {
        stack_size: plan.stack_size,
        keep_exports: plan.keep_exports,
        strip_exceptions: true,
        ..pywrangler_wasmlink::Options::default()
    };
    let (linked, refused) = link_natives(&base, natives, &options).map_err(|e| {
        RuntimeError::Wasm(anyhow::Error::from(*e).context(format!(
            "linking the guest in {} (from {})",
            dir.display(),
            plan_path.display()
        )))
    })?;
    std::fs::create_dir_all(&out_dir).map_err(io("creating", &out_dir))?;
    if !natives.is_empty() {
        let json = serde_json::to_vec(&refused).unwrap_or_default();
        crate::cache::write_atomic(&refused_file, &json)?;
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&out_dir).map_err(io("writing in", &out_dir))?;
    std::io::Write::write_all(&mut tmp, &linked).map_err(io("writing", tmp.path()))?;
    // Another process may have linked the same plan meanwhile: its file is identical.
    tmp.persist(&out).map_err(|e| RuntimeError::Io {
        action: "writing",
        path: out.clone(),
        source: e.error,
    })?;
    progress.emit(if natives.is_empty() {
        crate::Progress::Linked {
            python: python.to_string(),
            elapsed: started.elapsed(),
        }
    } else {
        crate::Progress::LinkedNative {
            python: python.to_string(),
            linked: natives.len() - refused.len(),
            refused: refused.len(),
            elapsed: started.elapsed(),
        }
    });
    prune_links(&out_dir, &out);
    Ok(LinkedGuest {
        wasm: out,
        key,
        refused: group_refused(natives, &refused),
    })
}

/// One extension module left out of a link, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Refusal {
    rel: String,
    reason: String,
}

/// Links `base` (the guest's plan) with as many of `natives` as can be linked, dropping each
/// module the linker blames until the rest links. Fails only when the base itself does not.
fn link_natives(
    base: &[pywrangler_wasmlink::Input],
    natives: &[ExtModule],
    options: &pywrangler_wasmlink::Options,
) -> Result<(Vec<u8>, Vec<Refusal>), Box<pywrangler_wasmlink::LinkError>> {
    let mut refused: Vec<Refusal> = Vec::new();
    let mut candidates: Vec<(&ExtModule, Vec<u8>)> = Vec::new();
    for m in natives {
        let refuse = |reason: String| Refusal {
            rel: m.rel.clone(),
            reason,
        };
        let bytes = match std::fs::read(&m.path) {
            Ok(b) => b,
            Err(e) => {
                refused.push(refuse(format!("cannot read {}: {e}", m.path.display())));
                continue;
            }
        };
        match pywrangler_wasmlink::needed_libraries(&bytes) {
            Ok(libs) if !libs.is_empty() => {
                refused.push(refuse(format!(
                    "{} needs the shared libraries {}, which Pyodide loads and the local guest does not have",
                    m.rel,
                    libs.join(", ")
                )));
                continue;
            }
            Err(e) => {
                refused.push(refuse(format!("{} is not valid WebAssembly: {e}", m.rel)));
                continue;
            }
            Ok(_) => {}
        }
        if let Some((other, _)) = candidates.iter().find(|(c, _)| c.init == m.init) {
            refused.push(refuse(format!(
                "{} defines {} like {}; the guest links both into one namespace",
                m.rel, m.init, other.rel
            )));
            continue;
        }
        candidates.push((m, bytes));
    }
    // Each failed attempt drops at least one module, so this ends.
    loop {
        let mut inputs = base.to_vec();
        for (m, bytes) in &candidates {
            inputs.push(
                pywrangler_wasmlink::Input::new(m.rel.clone(), bytes.clone())
                    .with_abi_prefix(EMSCRIPTEN_ABI_PREFIX),
            );
        }
        let table: Vec<pywrangler_wasmlink::ExtEntry> = candidates
            .iter()
            .map(|(m, _)| pywrangler_wasmlink::ExtEntry {
                path: m.rel.clone(),
                init: m.init.clone(),
            })
            .collect();
        inputs.push(pywrangler_wasmlink::Input::new(
            EXT_TABLE_INPUT,
            pywrangler_wasmlink::ext_table(&table),
        ));
        let err = match pywrangler_wasmlink::link(&inputs, options) {
            Ok(linked) => return Ok((linked.wasm, refused)),
            Err(e) => e,
        };
        let blamed: Vec<String> = err
            .inputs()
            .into_iter()
            .filter(|i| candidates.iter().any(|(m, _)| m.rel == *i))
            .map(str::to_string)
            .collect();
        if blamed.is_empty() {
            return Err(Box::new(err));
        }
        for rel in blamed {
            refused.push(Refusal {
                reason: refusal_reason(&err, &rel),
                rel: rel.clone(),
            });
            candidates.retain(|(m, _)| m.rel != rel);
        }
    }
}

/// The generated input that lists the linked extension modules for `dlopen`.
const EXT_TABLE_INPUT: &str = "extension-table";

/// Why the link refused `rel`, in a user's terms.
fn refusal_reason(err: &pywrangler_wasmlink::LinkError, rel: &str) -> String {
    use pywrangler_wasmlink::LinkError;
    match err {
        LinkError::Undefined(list) => {
            let names: Vec<&str> = list
                .iter()
                .filter(|u| u.input == rel)
                .map(|u| u.field.as_str())
                .collect();
            let cxx = names
                .iter()
                .any(|n| n.starts_with("_Z") || n.starts_with("__cxa_"));
            let shown: Vec<&str> = names.iter().take(5).copied().collect();
            let more = match names.len().saturating_sub(shown.len()) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            if cxx {
                format!(
                    "{rel} is C++ and needs Emscripten's C++ runtime (libc++), which the local guest does not have ({}{more})",
                    shown.join(", ")
                )
            } else {
                format!(
                    "{rel} needs {}{more}, which the local guest does not provide",
                    shown.join(", ")
                )
            }
        }
        e => e.to_string(),
    }
}

/// Groups refused modules by package, for the import error.
fn group_refused(natives: &[ExtModule], refused: &[Refusal]) -> Vec<NativePackage> {
    let mut out: Vec<NativePackage> = Vec::new();
    for r in refused {
        let Some(m) = natives.iter().find(|m| m.rel == r.rel) else {
            continue;
        };
        match out.iter_mut().find(|p| p.package == m.package) {
            Some(p) => p.files.push(PathBuf::from(&m.rel)),
            None => out.push(NativePackage {
                package: m.package.clone(),
                files: vec![PathBuf::from(&m.rel)],
                reason: Some(r.reason.clone()),
            }),
        }
    }
    out
}

/// Keeps the newest few per-project linked guests (those with a `.refused.json` beside them;
/// each project with native modules has its own), always including `keep`, the one just
/// located. The plain guests' links are never pruned: another process may be about to read one
/// it located at start-up (one per guest build).
fn prune_links(out_dir: &Path, keep: &Path) {
    const KEEP: usize = 12;
    let keep_stem = keep.file_stem().map(|s| s.to_string_lossy().into_owned());
    crate::cache::prune_groups(out_dir, KEEP - 1, |path, name| {
        let stem = name.split('.').next().unwrap_or(name);
        let per_project = path
            .with_file_name(format!("{stem}.refused.json"))
            .is_file();
        (per_project && keep_stem.as_deref() != Some(stem)).then(|| stem.to_string())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_old_project_links_but_never_plain_ones_or_the_one_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let touch = |name: &str, age: u64| {
            let p = dir.path().join(name);
            std::fs::write(&p, "x").expect("write");
            let f = std::fs::File::options().write(true).open(&p).expect("open");
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(10_000 - age))
                .expect("mtime");
        };
        touch("plain.wasm", 1_000);
        for i in 0..14u64 {
            touch(&format!("p{i:02}.wasm"), i);
            touch(&format!("p{i:02}.refused.json"), i);
        }
        // p13 is the oldest, but it is the link being used.
        prune_links(dir.path(), &dir.path().join("p13.wasm"));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wasm"))
            .collect();
        left.sort();
        let mut want: Vec<String> = (0..11).map(|i| format!("p{i:02}.wasm")).collect();
        want.push("p13.wasm".into());
        want.push("plain.wasm".into());
        assert_eq!(left, want);
        assert!(!dir.path().join("p12.refused.json").exists());
        assert!(dir.path().join("p13.refused.json").exists());
    }

    #[test]
    fn parses_a_plan_in_order() {
        let plan = parse(
            "stack_size=1024\nkeep_exports=memory,_initialize\n# c\ninput=main main.so\ninput=py lib.so\n",
            Path::new("LINK"),
        )
        .expect("valid");
        assert_eq!(plan.stack_size, 1024);
        assert_eq!(plan.keep_exports, ["memory", "_initialize"]);
        assert_eq!(
            plan.inputs,
            [
                ("main".to_string(), "main.so".to_string()),
                ("py".to_string(), "lib.so".to_string())
            ]
        );
    }

    #[test]
    fn refuses_plans_that_escape_or_are_incomplete() {
        let p = Path::new("/g/LINK");
        for bad in [
            "stack_size=1\nkeep_exports=m\ninput=x ../x.so\n",
            "stack_size=1\nkeep_exports=m\ninput=x /etc/x.so\n",
            "stack_size=1\nkeep_exports=m\n",
            "stack_size=x\nkeep_exports=m\ninput=a a.so\n",
            "frobnicate=1\n",
        ] {
            let err = parse(bad, p).expect_err(bad).to_string();
            assert!(err.contains("/g/LINK"), "{err}");
        }
    }
}
