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

/// The linked `pyworker.wasm` of the guest in `dir`, linking it now unless a
/// previous run already did (keyed by the plan, each input's size and mtime,
/// this runtime's version and the linker's output version).
pub(crate) fn ensure_linked(
    dir: &Path,
    cache_root: &Path,
    python: &str,
    progress: &crate::ProgressSink,
) -> Result<PathBuf, RuntimeError> {
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
    let out_dir = cache_root.join("guest-link");
    let out = out_dir.join(format!("{}.wasm", hex(&key.finalize()[..16])));
    if out.is_file() {
        return Ok(out);
    }
    let started = std::time::Instant::now();
    progress.emit(crate::Progress::Linking {
        python: python.to_string(),
    });
    let mut inputs = Vec::with_capacity(plan.inputs.len());
    for (label, file) in &plan.inputs {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        inputs.push(pywrangler_wasmlink::Input::new(label.clone(), bytes));
    }
    let options = pywrangler_wasmlink::Options {
        stack_size: plan.stack_size,
        keep_exports: plan.keep_exports,
        ..pywrangler_wasmlink::Options::default()
    };
    let linked = pywrangler_wasmlink::link(&inputs, &options).map_err(|e| {
        RuntimeError::Wasm(anyhow::Error::from(e).context(format!(
            "linking the guest in {} (from {})",
            dir.display(),
            plan_path.display()
        )))
    })?;
    std::fs::create_dir_all(&out_dir).map_err(io("creating", &out_dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&out_dir).map_err(io("writing in", &out_dir))?;
    std::io::Write::write_all(&mut tmp, &linked.wasm).map_err(io("writing", tmp.path()))?;
    // Another process may have linked the same plan meanwhile: its file is identical.
    tmp.persist(&out).map_err(|e| RuntimeError::Io {
        action: "writing",
        path: out.clone(),
        source: e.error,
    })?;
    progress.emit(crate::Progress::Linked {
        python: python.to_string(),
        elapsed: started.elapsed(),
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
