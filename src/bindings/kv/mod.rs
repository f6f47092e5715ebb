//! Workers KV (`kv_namespaces[]`): the config entry, `env.<NAME>` as a
//! `KVNamespace`, the local store in miniflare's layout ([`store`]), the
//! `kv_namespace` upload binding and the `KVNamespace` stub.

pub mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use store::KvStore;

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::dev::bindings::{BindingsConfig, Clock, HostCall, LocalBindings, OpResult, Reply};

/// `kv_namespaces[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvNamespace {
    pub binding: String,
    /// Namespace id; may be absent for local-only development.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub preview_id: Option<String>,
    /// `dev` against the real namespace (wrangler's remote bindings).
    #[serde(default)]
    pub remote: Option<bool>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::KvNamespace],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "kv",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "kv_namespaces",
        &cfg.kv_namespaces,
        BindingKind::KvNamespace,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for kv in &d.cfg.kv_namespaces {
        // Local state is keyed like wrangler dev: the preview id first.
        let id = kv
            .preview_id
            .clone()
            .or_else(|| kv.id.clone())
            .unwrap_or_else(|| kv.binding.clone());
        d.local.kv.push((kv.binding.clone(), id));
        d.env.insert(kv.binding.clone(), json!({"type": "kv"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for kv in &cfg.kv_namespaces {
        out.push(match &kv.id {
            Some(id) => json!({"name": kv.binding, "type": "kv_namespace", "namespace_id": id}),
            None => super::inherit(&kv.binding),
        });
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("KVNamespace".into(), "kv_namespaces".into())
}

/// Open each configured namespace under the state's `v3` folder.
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    clock: &Clock,
) -> OpResult<HashMap<String, KvStore>> {
    let mut kv = HashMap::new();
    for (binding, id) in &config.kv {
        kv.insert(binding.clone(), KvStore::open(v3, id, clock.clone())?);
    }
    Ok(kv)
}

fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    b.kv.get(c.binding)
        .ok_or_else(|| c.no_binding("KV namespace"))?
        .handle(c.op, c.args, c.body)
}
