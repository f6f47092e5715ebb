//! Rate limiting (`ratelimits[]`): the config entry, `env.<NAME>` with
//! `limit()`, the local counters in miniflare's layout ([`store`]), the
//! `ratelimit` upload binding and the `RateLimit` stub.

pub mod store;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use store::{RateLimitConfig, RateLimiter};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::dev::bindings::{BindingsConfig, Clock, HostCall, LocalBindings, OpResult, Reply};

/// `ratelimits[]` (named by `name`, as in wrangler).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub name: String,
    pub namespace_id: String,
    pub simple: RateLimitSimple,
}

/// `ratelimits[].simple`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RateLimitSimple {
    pub limit: u64,
    /// Seconds: 10 or 60.
    pub period: u64,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::RateLimit],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "ratelimit",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "ratelimits",
        &cfg.ratelimits,
        BindingKind::RateLimit,
        |b| &b.name,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for r in &d.cfg.ratelimits {
        d.local.ratelimits.push(RateLimitConfig {
            binding: r.name.clone(),
            namespace_id: r.namespace_id.clone(),
            limit: r.simple.limit,
            period: r.simple.period,
        });
        d.env.insert(r.name.clone(), json!({"type": "ratelimit"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for r in &cfg.ratelimits {
        out.push(json!({
            "name": r.name,
            "type": "ratelimit",
            "namespace_id": r.namespace_id,
            "simple": {"limit": r.simple.limit, "period": r.simple.period},
        }));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("RateLimit".into(), "rate limit".into())
}

/// Each binding's counters under `v3` (bindings sharing a namespace id
/// share one file).
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    clock: &Clock,
) -> OpResult<HashMap<String, RateLimiter>> {
    let mut out = HashMap::new();
    for rl in &config.ratelimits {
        out.insert(
            rl.binding.clone(),
            RateLimiter::open(v3, rl.clone(), clock.clone())?,
        );
    }
    Ok(out)
}

fn host_call(b: &LocalBindings, call: HostCall<'_>) -> OpResult<Reply> {
    b.ratelimits
        .get(call.binding)
        .ok_or_else(|| call.no_binding("rate limit"))?
        .handle(call.op, call.args)
}
