//! `unsafe.bindings[]` and `unsafe_hello_world[]`: bindings wrangler passes
//! through to Cloudflare as written. `deploy` sends them unchanged (the
//! `unsafe` entries with their extra keys); `dev` has no local meaning for
//! them, so each is listed as not emulated and calls to it fail; `types`
//! gives `Any`.

use serde_json::{Map, Value, json};

use super::{Declared, DevEnv, Kind, Stub, declare_list};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::UnsafeHelloWorld, BindingKind::Unsafe],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    use BindingKind as K;
    let hw = &cfg.unsafe_hello_world;
    declare_list(out, "unsafe_hello_world", hw, K::UnsafeHelloWorld, |b| {
        &b.binding
    });
    if let Some(u) = &cfg.unsafe_ {
        declare_list(out, "unsafe/bindings", &u.bindings, K::Unsafe, |b| &b.name);
    }
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    let mut names = Vec::new();
    declared(d.cfg, &mut names);
    for (name, _, _) in names {
        d.notes.not_emulated.push(name.to_string());
        d.env.insert(name.to_string(), json!({"type": "unsafe"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, kind: BindingKind, out: &mut Vec<Value>) {
    use BindingKind as K;
    match kind {
        K::UnsafeHelloWorld => {
            for h in &cfg.unsafe_hello_world {
                out.push(compact(json!({
                    "name": h.binding,
                    "type": "unsafe_hello_world",
                    "enable_timer": h.enable_timer,
                })));
            }
        }
        K::Unsafe => {
            for u in cfg.unsafe_.iter().flat_map(|u| &u.bindings) {
                let mut b = Map::new();
                b.insert("name".into(), u.name.clone().into());
                b.insert("type".into(), u.kind.clone().into());
                b.extend(u.rest.clone());
                out.push(Value::Object(b));
            }
        }
        _ => {}
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("Any".into(), "unsafe binding".into())
}
