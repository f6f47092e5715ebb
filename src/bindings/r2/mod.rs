//! R2 (`r2_buckets[]`): the config entry, `env.<NAME>` as an `R2Bucket`, the
//! local bucket in miniflare's layout ([`bucket`] for objects, [`multipart`]
//! for multipart uploads, [`cond`] for preconditions and checksums, [`store`]
//! for the files on disk), the `r2_bucket` upload binding and the stub.

pub mod bucket;
pub mod cond;
pub mod multipart;
pub mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{BindingsConfig, Clock, HostCall, LocalBindings, OpResult, Reply};

/// `r2_buckets[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct R2Bucket {
    pub binding: String,
    #[serde(default)]
    pub bucket_name: Option<String>,
    #[serde(default)]
    pub preview_bucket_name: Option<String>,
    #[serde(default)]
    pub jurisdiction: Option<String>,
    #[serde(default)]
    pub remote: Option<bool>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::R2Bucket],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "r2",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "r2_buckets",
        &cfg.r2_buckets,
        BindingKind::R2Bucket,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for r2 in &d.cfg.r2_buckets {
        let bucket = r2
            .preview_bucket_name
            .clone()
            .or_else(|| r2.bucket_name.clone())
            .unwrap_or_else(|| r2.binding.clone());
        d.local.r2.push((r2.binding.clone(), bucket));
        d.env.insert(r2.binding.clone(), json!({"type": "r2"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for r in &cfg.r2_buckets {
        out.push(match &r.bucket_name {
            Some(bucket) => compact(json!({
                "name": r.binding,
                "type": "r2_bucket",
                "bucket_name": bucket,
                "jurisdiction": r.jurisdiction,
            })),
            None => super::inherit(&r.binding),
        });
    }
}

fn stub(s: &mut Stub<'_>, name: &str, _: BindingKind) -> (String, String) {
    let b = s.cfg.r2_buckets.iter().find(|b| b.binding == name);
    let note = match b.and_then(|b| b.bucket_name.as_deref()) {
        Some(bucket) => format!("R2 bucket {bucket}"),
        None => "R2 bucket".into(),
    };
    ("R2Bucket".into(), note)
}

/// Open each configured bucket under the state's `v3` folder.
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    clock: &Clock,
) -> OpResult<HashMap<String, bucket::R2Bucket>> {
    let mut r2 = HashMap::new();
    for (binding, name) in &config.r2 {
        r2.insert(
            binding.clone(),
            bucket::R2Bucket::open(v3, name, clock.clone())?,
        );
    }
    Ok(r2)
}

fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    b.r2.get(c.binding)
        .ok_or_else(|| c.no_binding("R2 bucket"))?
        .handle(c.op, c.args, c.body)
}
