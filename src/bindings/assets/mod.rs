//! Static assets (`assets`): `dev` serves the directory before the Worker
//! (`crate::dev::assets`, with `_redirects` and `_headers`), and the
//! optional `assets.binding` is `env.<NAME>` as a `Fetcher` answering like
//! the asset worker; `deploy` uploads the files (`crate::deploy::assets`) and
//! sends the `assets` binding; the stub is `Fetcher`.

use serde_json::{Value, json};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::assets::AssetsOptions;
use crate::config::{BindingKind, WranglerConfig};
use crate::dev::assets::{AssetRequest, path_of_url};
use crate::dev::bindings::{HostCall, LocalBindings, OpResult, Reply};

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Assets],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "assets",
        call: host_call,
    }),
};

fn binding(cfg: &WranglerConfig) -> Option<&str> {
    cfg.assets.as_ref().and_then(|a| a.binding.as_deref())
}

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    if let Some(b) = binding(cfg) {
        out.push((b, BindingKind::Assets, "/assets/binding".into()));
    }
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    let Some(assets) = AssetsOptions::from_project(d.project)? else {
        return Ok(());
    };
    d.notes
        .warnings
        .extend(crate::assets::rules::warnings(&assets.dir));
    if let Some(name) = &assets.binding {
        d.env.insert(name.clone(), json!({"type": "assets"}));
    }
    d.local.assets = Some(std::sync::Arc::new(assets));
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    if let Some(b) = binding(cfg) {
        out.push(json!({"name": b, "type": "assets"}));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("Fetcher".into(), "static assets".into())
}

/// `env.ASSETS.fetch(...)`: the asset worker's answer, without the router.
fn host_call(b: &LocalBindings, call: HostCall<'_>) -> OpResult<Reply> {
    let opts = b
        .config
        .assets
        .as_ref()
        .filter(|a| a.binding.as_deref() == Some(call.binding))
        .ok_or_else(|| call.no_binding("assets"))?;
    let request = call.args.get("request").unwrap_or(&Value::Null);
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET");
    let url = request.get("url").and_then(Value::as_str).unwrap_or("/");
    let headers: Vec<(&str, &str)> = request
        .get("headers")
        .and_then(Value::as_array)
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    let reply = crate::dev::assets::fetch(
        opts,
        &AssetRequest {
            method,
            path_and_query: path_of_url(url),
            header: &header,
        },
    );
    let pairs: Vec<Value> = reply.headers.iter().map(|(k, v)| json!([k, v])).collect();
    Ok(Reply::with_body(
        json!({"status": reply.status, "headers": pairs, "url": url}),
        reply.body,
    ))
}
