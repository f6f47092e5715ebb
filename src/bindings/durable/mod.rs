//! Durable Objects (`durable_objects.bindings[]`): the config entry,
//! `env.<NAME>` as a `DurableObjectNamespace`, ids and calls into the
//! Worker's classes, per-object storage (KV, SQL, alarms: [`storage`]), the
//! `durable_object_namespace` upload binding and the stub.

pub mod storage;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use storage::{DurableStorage, check_id, id_from_name};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{
    BindingsConfig, HostCall, LocalBindings, OpError, OpResult, Reply, rpc_call, sqlite,
};

/// `durable_objects`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DurableObjects {
    pub bindings: Vec<DurableObjectBinding>,
}

/// `durable_objects.bindings[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DurableObjectBinding {
    pub name: String,
    pub class_name: String,
    /// Set when the class lives in another Worker.
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::DurableObject],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "do",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    let bindings = &cfg.durable_objects.bindings;
    let kind = BindingKind::DurableObject;
    super::declare_list(out, "durable_objects/bindings", bindings, kind, |b| &b.name);
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    d.local.kv_backed_classes = d
        .cfg
        .migrations
        .iter()
        .flat_map(|m| m.new_classes.iter().cloned())
        .collect();
    for b in &d.cfg.durable_objects.bindings {
        d.local
            .durable_objects
            .push((b.name.clone(), b.class_name.clone()));
        d.env.insert(
            b.name.clone(),
            json!({"type": "durable_object", "class_name": b.class_name}),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for d in &cfg.durable_objects.bindings {
        out.push(compact(json!({
            "name": d.name,
            "type": "durable_object_namespace",
            "class_name": d.class_name,
            "script_name": d.script_name,
            "environment": d.environment,
        })));
    }
}

fn stub(s: &mut Stub<'_>, name: &str, _: BindingKind) -> (String, String) {
    let b = s
        .cfg
        .durable_objects
        .bindings
        .iter()
        .find(|b| b.name == name);
    let note = match b {
        Some(b) => match &b.script_name {
            Some(script) => format!("Durable Object {} in {script}", b.class_name),
            None => format!("Durable Object {}", b.class_name),
        },
        None => "Durable Object".into(),
    };
    ("DurableObjectNamespace".into(), note)
}

/// The storage of every object, under the state's `v3/do` folder.
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    sql_limit: Duration,
) -> DurableStorage {
    DurableStorage::new(&v3.join("do"))
        .with_time_limit(sql_limit)
        .with_kv_backed(config.kv_backed_classes.clone())
}

/// `do.id` mints ids, `do.call` calls into an object, the rest is storage.
fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    let args = c.args;
    match c.op {
        "id" => {
            let class = args.get("class").and_then(Value::as_str).unwrap_or("");
            let name = args.get("name").and_then(Value::as_str);
            let id = match (name, args.get("id").and_then(Value::as_str)) {
                (Some(n), _) => id_from_name(class, n),
                (None, Some(id)) => {
                    check_id(id)?;
                    id.to_ascii_lowercase()
                }
                (None, None) => sqlite::random_hex(32),
            };
            let mut v = json!({ "id": id });
            if let Some(n) = name {
                v["name"] = json!(n);
            }
            Ok(Reply::value(v))
        }
        "call" => {
            let class = args
                .get("class")
                .and_then(Value::as_str)
                .ok_or_else(|| OpError::invalid("do.call needs `class`"))?;
            if !b.config.durable_objects.iter().any(|(_, c)| c == class) {
                return Err(OpError::NoBinding {
                    kind: "Durable Object class",
                    name: class.to_string(),
                });
            }
            let id = args
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| OpError::invalid("do.call needs `id`"))?;
            check_id(id)?;
            b.rpc(rpc_call(class, Some(id.to_string()), args, c.body))
        }
        _ => b.durable.handle(c.op, args),
    }
}
