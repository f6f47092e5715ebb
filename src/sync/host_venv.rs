//! `.venv-workers/`: the same pinned versions installed for the host so that
//! editors resolve imports. Best effort: without a host interpreter of the
//! Worker's Python version, or without host wheels, we warn and move on.

use std::path::Path;

use super::target::Target;
use super::{Package, RUNTIME_SDK, SyncRequest};
use crate::uv::Uv;

/// Directory of the host venv, beside `python_modules/`.
pub const HOST_VENV: &str = ".venv-workers";

/// Create or refresh the host venv. `Err` carries a one-line reason to warn with.
pub fn update(
    uv: &Uv,
    req: &SyncRequest,
    target: &Target,
    packages: &[Package],
) -> Result<(), String> {
    let venv = req.root.join(HOST_VENV);
    let wanted = req.python.to_string();
    if !venv_matches(&venv, &wanted) {
        if venv.join("pyvenv.cfg").is_file() {
            crate::printer::verbose(format!(
                "recreating {HOST_VENV} for Python {wanted} (version mismatch)"
            ));
            std::fs::remove_dir_all(&venv).map_err(|e| format!("{}: {e}", venv.display()))?;
        } else if venv.exists() {
            return Err(format!(
                "{} exists but is not a virtual environment; remove it to let sync manage it",
                venv.display()
            ));
        }
        // A direct hit on PATH is cheap; otherwise let uv search (slower).
        let python = which::which(format!("python{wanted}"))
            .ok()
            .map(|p| crate::uv::resolve_shim(p, &format!("python{wanted}")))
            .filter(|p| !crate::uv::is_shim(p))
            .map(|p| p.into_os_string())
            .unwrap_or_else(|| wanted.clone().into());
        let mut cmd = uv.command(&req.root);
        cmd.args(["venv", "--quiet", "--python"])
            .arg(&python)
            .arg(&venv);
        let out = uv.run(cmd, None).map_err(|e| e.to_string())?;
        if !out.success() {
            let _ = std::fs::remove_dir_all(&venv);
            return Err(format!(
                "no Python {wanted} interpreter for the host ({})",
                first_error_line(&out.stderr)
            ));
        }
    }

    let pins: String = packages
        .iter()
        .filter(|p| p.version != "local")
        .map(|p| format!("{}=={}\n", p.name, p.version))
        .collect();
    let constraints = tempfile::Builder::new()
        .prefix("pywrangler-pins-")
        .suffix(".txt")
        .tempfile()
        .map_err(|e| e.to_string())?;
    std::fs::write(constraints.path(), pins).map_err(|e| e.to_string())?;

    let mut cmd = uv.command(&req.root);
    cmd.args(["pip", "install", "--quiet", "--python"])
        .arg(&venv)
        .arg("-r")
        .arg(&req.pyproject)
        .arg("-c")
        .arg(constraints.path())
        .arg(RUNTIME_SDK)
        .args(target.index_args());
    let out = uv.run(cmd, None).map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!(
            "the pinned packages do not install on the host ({})",
            first_error_line(&out.stderr)
        ));
    }
    Ok(())
}

/// Whether `venv/pyvenv.cfg` says it runs Python `wanted` (e.g. `3.13`).
fn venv_matches(venv: &Path, wanted: &str) -> bool {
    let Ok(cfg) = std::fs::read_to_string(venv.join("pyvenv.cfg")) else {
        return false;
    };
    cfg.lines().any(|line| {
        let mut kv = line.splitn(2, '=');
        let key = kv.next().unwrap_or("").trim();
        let value = kv.next().unwrap_or("").trim();
        (key == "version_info" || key == "version")
            && (value == wanted || value.starts_with(&format!("{wanted}.")))
    })
}

fn first_error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("uv failed")
        .trim_start_matches("error:")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_version_info() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!venv_matches(dir.path(), "3.13"));
        std::fs::write(
            dir.path().join("pyvenv.cfg"),
            "home = /x\nversion_info = 3.13.2\n",
        )
        .expect("write");
        assert!(venv_matches(dir.path(), "3.13"));
        assert!(!venv_matches(dir.path(), "3.1"));
        assert!(!venv_matches(dir.path(), "3.12"));
    }
}
