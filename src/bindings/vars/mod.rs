//! Vars and secrets (`vars`, `secrets.required`): plain-text and JSON values
//! in `env`, secrets from `.dev.vars` (or `.env`) under `dev`, the
//! `plain_text`/`json`/`inherit` upload bindings and their stub types.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::push_pointer;
use crate::config::{BindingKind, WranglerConfig};
use crate::diagnostics::UserError;
use crate::types_gen::json_shape;

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Var, BindingKind::Secret],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    for name in cfg.vars.keys() {
        out.push((name.as_str(), BindingKind::Var, push_pointer("/vars", name)));
    }
    if let Some(secrets) = &cfg.secrets {
        for (i, name) in secrets.required.iter().enumerate() {
            out.push((
                name.as_str(),
                BindingKind::Secret,
                format!("/secrets/required/{i}"),
            ));
        }
    }
}

/// Config vars, then secrets (`.dev.vars`, else `.env`), then `--var`: each
/// overrides the one before.
fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for (k, v) in &d.cfg.vars {
        d.env.insert(k.clone(), json!({"type": "var", "value": v}));
    }
    let env_name = d.flags.env.as_deref();
    let secrets = if crate::config::dev_vars_path(d.config_dir, env_name).is_some() {
        crate::config::read_dev_vars(d.config_dir, env_name)?
    } else if let Some(path) = dot_env_file(d.config_dir, env_name) {
        read_dot_env(&path)?
    } else {
        Vec::new()
    };
    for (k, v) in secrets {
        d.env.insert(k, json!({"type": "secret", "value": v}));
    }
    for (k, v) in &d.flags.vars {
        d.env.insert(k.clone(), json!({"type": "var", "value": v}));
    }
    Ok(())
}

/// Without `.dev.vars`, wrangler reads secrets from `.env` (or `.env.<env>`).
fn dot_env_file(dir: &Path, env: Option<&str>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(env) = env {
        candidates.push(dir.join(format!(".env.{env}")));
    }
    candidates.push(dir.join(".env"));
    candidates.into_iter().find(|p| p.is_file())
}

fn read_dot_env(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| {
        UserError::usage(format!("cannot read {}: {e}", path.display()))
            .hint("each line of .env is NAME=value (dotenv syntax)")
    })?;
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| {
            UserError::usage(format!("{}: {e}", path.display()))
                .hint("each line of .env is NAME=value (dotenv syntax)")
        })?;
        out.push((k, v));
    }
    Ok(out)
}

/// Required secrets not in the upload are inherited from the deployed
/// Worker; then string vars, then JSON vars (wrangler's order).
fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    if let Some(s) = &cfg.secrets {
        for name in &s.required {
            if !cfg.vars.contains_key(name) {
                out.push(super::inherit(name));
            }
        }
    }
    for (name, value) in &cfg.vars {
        if let Value::String(s) = value {
            out.push(json!({"name": name, "type": "plain_text", "text": s}));
        }
    }
    for (name, value) in &cfg.vars {
        if !value.is_string() {
            out.push(json!({"name": name, "type": "json", "json": value}));
        }
    }
}

/// A string var is `str`, a JSON var a `TypedDict` of its shape.
fn stub(s: &mut Stub<'_>, name: &str, kind: BindingKind) -> (String, String) {
    if kind == BindingKind::Secret {
        return ("str".into(), "secret".into());
    }
    match s.cfg.vars.get(name) {
        Some(Value::String(_)) | None => ("str".into(), "var".into()),
        Some(v) => {
            let seed = format!("_Var_{}", json_shape::sanitize(name));
            (s.shapes.type_of(&seed, v), "JSON var".into())
        }
    }
}
