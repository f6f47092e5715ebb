//! `pywrangler-rs types`: write the `js` stub package for the Worker's
//! bindings (`<OUTDIR>/js-stubs/__init__.pyi` + `py.typed`), offline.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cli::TypesArgs;
use crate::config::{self, ConfigError};
use crate::diagnostics::Exit;
use crate::env_vars::EnvVars;
use crate::printer;
use crate::settings::{self, ConfigSelection};
use crate::types_gen::{self, TypesInput};

pub fn run(args: TypesArgs, env: &EnvVars) -> anyhow::Result<Exit> {
    let cwd = settings::current_dir()?;
    let selection = ConfigSelection::resolve(&args.config, env);
    let config_path = match &selection.config {
        Some(c) => cwd.join(c),
        None => {
            // `types` needs no pyproject, but prefers the project root when there is one.
            let dir = config::find_pyproject(&cwd)
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| cwd.clone());
            config::find_wrangler_config(&dir).ok_or(ConfigError::WranglerNotFound { dir })?
        }
    };
    let env = selection.env.as_deref();
    let loaded = config::load_wrangler(&config_path, env)?;
    for warning in &loaded.warnings {
        printer::warn(warning);
    }

    let mut secrets: Vec<String> = config::read_dev_vars(&loaded.dir(), env)?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    secrets.dedup();

    let source = relative_to(&config_path, &cwd);
    let rendered = types_gen::render(&TypesInput {
        config: &loaded.config,
        source,
        env,
        dev_var_secrets: secrets,
    });
    for skipped in &rendered.skipped {
        printer::warn(skipped);
    }

    let outdir = match &args.outdir {
        Some(dir) => cwd.join(dir),
        None => cwd.join("src"),
    };
    let pkg = outdir.join("js-stubs");
    std::fs::create_dir_all(&pkg).with_context(|| format!("cannot create {}", pkg.display()))?;
    let stub_path = pkg.join("__init__.pyi");
    for (path, bytes) in [
        (stub_path.clone(), rendered.stub.as_bytes()),
        (pkg.join("py.typed"), &b""[..]),
    ] {
        crate::fsutil::write_atomic(&path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }

    printer::success(format!(
        "Wrote {} ({} binding{} on `Env`)",
        relative_to(&stub_path, &cwd),
        rendered.bindings,
        if rendered.bindings == 1 { "" } else { "s" }
    ));
    printer::verbose("run `mypy` on the directory holding js-stubs (e.g. `mypy src`)");
    Ok(Exit::Success)
}

/// `path` relative to `base` when it is inside it, for stable messages and headers.
fn relative_to(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
