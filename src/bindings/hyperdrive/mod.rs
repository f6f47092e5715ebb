//! Hyperdrive (`hyperdrive[]`): under `dev`, `env.<NAME>` connects to a local
//! Postgres found as wrangler finds it (the environment variable, then
//! `localConnectionString`); the `hyperdrive` upload binding; the stub.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::diagnostics::UserError;

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Hyperdrive],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "hyperdrive",
        &cfg.hyperdrive,
        BindingKind::Hyperdrive,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for h in &d.cfg.hyperdrive {
        let connection_string = local_string(d.cfg, &d.flags.hyperdrive_local, &h.binding)?;
        d.env.insert(
            h.binding.clone(),
            json!({"type": "hyperdrive", "connection_string": connection_string}),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for h in &cfg.hyperdrive {
        out.push(json!({"name": h.binding, "type": "hyperdrive", "id": h.id}));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("Hyperdrive".into(), "hyperdrive".into())
}

/// Hyperdrive's local database, found as wrangler finds it: the environment
/// variable first (`from_env`, the deprecated spelling already folded in by
/// the settings layer), then `localConnectionString`.
fn local_string(
    cfg: &WranglerConfig,
    from_env: &BTreeMap<String, String>,
    binding: &str,
) -> anyhow::Result<String> {
    let from_env = from_env.get(binding).cloned();
    let configured = cfg
        .hyperdrive
        .iter()
        .find(|h| h.binding == binding)
        .and_then(|h| h.local_connection_string.clone());
    from_env.or(configured).ok_or_else(|| {
        UserError::usage(format!(
            "When developing locally, you should use a local Postgres connection string to emulate Hyperdrive functionality. \
             Please setup Postgres locally and set the value of the 'CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_{binding}' variable \
             or \"{binding}\"'s \"localConnectionString\" to the Postgres connection string."
        ))
        .hint(format!(
            "e.g. add \"localConnectionString\": \"postgres://user:password@127.0.0.1:5432/db\" to the `hyperdrive` entry `{binding}`"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WranglerConfig {
        serde_json::from_value(json!({"hyperdrive": [
            {"binding": "HD", "id": "h1", "localConnectionString": "postgres://cfg"},
            {"binding": "BARE", "id": "h2"},
        ]}))
        .expect("config")
    }

    #[test]
    fn the_environment_wins_over_local_connection_string() {
        let cfg = config();
        let mut env = BTreeMap::new();
        assert_eq!(
            local_string(&cfg, &env, "HD").expect("cfg"),
            "postgres://cfg"
        );
        env.insert("HD".to_string(), "postgres://env".to_string());
        assert_eq!(
            local_string(&cfg, &env, "HD").expect("env"),
            "postgres://env"
        );
        let err = local_string(&cfg, &env, "BARE").expect_err("no local database");
        assert!(
            err.to_string()
                .contains("CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_BARE"),
            "{err}"
        );
    }

    #[test]
    fn upload_sends_the_config_id() {
        let mut out = Vec::new();
        upload(&config(), KIND.kinds[0], &mut out);
        assert_eq!(
            out,
            [
                json!({"name": "HD", "type": "hyperdrive", "id": "h1"}),
                json!({"name": "BARE", "type": "hyperdrive", "id": "h2"}),
            ]
        );
    }
}
