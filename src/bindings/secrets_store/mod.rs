//! Secrets Store (`secrets_store_secrets[]`): the config entry, `env.<NAME>`
//! with `get()`, the local stores in miniflare's layout ([`store`]), the
//! `secrets_store_secret` upload binding and the stub.

pub mod store;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::dev::bindings::{BindingsConfig, Clock, HostCall, LocalBindings, OpResult, Reply};

/// `secrets_store_secrets[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretsStoreSecret {
    pub binding: String,
    pub store_id: String,
    pub secret_name: String,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::SecretsStoreSecret],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "secrets",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    let secrets = &cfg.secrets_store_secrets;
    let kind = BindingKind::SecretsStoreSecret;
    super::declare_list(out, "secrets_store_secrets", secrets, kind, |b| &b.binding);
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for s in &d.cfg.secrets_store_secrets {
        d.local
            .secrets_store
            .push((s.binding.clone(), s.store_id.clone(), s.secret_name.clone()));
        d.env
            .insert(s.binding.clone(), json!({"type": "secrets_store_secret"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for s in &cfg.secrets_store_secrets {
        out.push(json!({
            "name": s.binding,
            "type": "secrets_store_secret",
            "store_id": s.store_id,
            "secret_name": s.secret_name,
        }));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("SecretsStoreSecret".into(), "secrets store secret".into())
}

/// Each binding's store under `v3`.
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    clock: &Clock,
) -> OpResult<HashMap<String, store::SecretsStoreSecret>> {
    let mut out = HashMap::new();
    for (binding, store_id, name) in &config.secrets_store {
        out.insert(
            binding.clone(),
            store::SecretsStoreSecret::open(v3, store_id, name, clock.clone())?,
        );
    }
    Ok(out)
}

fn host_call(b: &LocalBindings, call: HostCall<'_>) -> OpResult<Reply> {
    b.secrets
        .get(call.binding)
        .ok_or_else(|| call.no_binding("secrets store secret"))?
        .handle(call.op)
}
