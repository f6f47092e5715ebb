//! Service bindings (`services[]`): the config entry, `env.<NAME>` as a
//! `Fetcher` whose `fetch` and RPC methods call an entrypoint of this Worker
//! (other Workers do not run locally), the `service` upload binding and the
//! stub.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{HostCall, LocalBindings, OpError, OpResult, Reply, rpc_call};

/// `services[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceBinding {
    pub binding: String,
    pub service: String,
    #[serde(default)]
    pub environment: Option<String>,
    /// A named entrypoint (RPC class) of the target Worker.
    #[serde(default)]
    pub entrypoint: Option<String>,
    /// `ctx.props` passed to the target entrypoint.
    #[serde(default)]
    pub props: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub remote: Option<bool>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Service],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "service",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(out, "services", &cfg.services, BindingKind::Service, |b| {
        &b.binding
    });
}

/// What `dev` serves a service binding with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceTarget {
    pub binding: String,
    pub service: String,
    pub entrypoint: Option<String>,
    /// `props`: the target entrypoint's `ctx.props`.
    pub props: Option<Value>,
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for s in &d.cfg.services {
        d.local.services.push(ServiceTarget {
            binding: s.binding.clone(),
            service: s.service.clone(),
            entrypoint: s.entrypoint.clone(),
            props: s.props.clone().map(Value::Object),
        });
        d.env.insert(
            s.binding.clone(),
            json!({"type": "service", "service": s.service, "entrypoint": s.entrypoint}),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for s in &cfg.services {
        out.push(compact(json!({
            "name": s.binding,
            "type": "service",
            "service": s.service,
            "environment": s.environment,
            "entrypoint": s.entrypoint,
            "props": s.props,
        })));
    }
}

fn stub(s: &mut Stub<'_>, name: &str, _: BindingKind) -> (String, String) {
    let b = s.cfg.services.iter().find(|b| b.binding == name);
    let note = match b {
        Some(b) => match &b.entrypoint {
            Some(ep) => format!("service {} (entrypoint {ep})", b.service),
            None => format!("service {}", b.service),
        },
        None => "service".into(),
    };
    ("Fetcher".into(), note)
}

fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    let binding = c.binding;
    let target = b
        .config
        .services
        .iter()
        .find(|t| t.binding == binding)
        .ok_or_else(|| c.no_binding("service"))?;
    let service = &target.service;
    if *service != b.config.worker_name {
        return Err(OpError::failed(format!(
            "Service binding `{binding}` points at worker `{service}`, which is not running locally; only bindings to this worker (`{}`) are served by `pywrangler-rs dev`",
            b.config.worker_name
        )));
    }
    let entrypoint = c
        .args
        .get("entrypoint")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| target.entrypoint.clone())
        .unwrap_or_else(|| "Default".to_string());
    let mut call = rpc_call(&entrypoint, None, c.args, c.body);
    call.props = target.props.clone();
    b.rpc(call)
}
