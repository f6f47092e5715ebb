//! Pipelines (`pipelines[]`): `env.<NAME>` as a `Pipeline` whose `send`
//! `dev` accepts and drops (as miniflare does), the `pipelines` upload
//! binding (`pipeline`, or the newer `stream`) and the stub.

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Pipeline],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "pipelines",
        &cfg.pipelines,
        BindingKind::Pipeline,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for p in &d.cfg.pipelines {
        d.env
            .insert(p.binding.clone(), json!({"type": "pipelines"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for p in &cfg.pipelines {
        out.push(compact(json!({
            "name": p.binding,
            "type": "pipelines",
            "pipeline": p.pipeline,
            "stream": p.stream,
        })));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("Pipeline".into(), "pipeline".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_sends_the_spelling_the_config_uses() {
        let cfg: WranglerConfig = serde_json::from_value(json!({"pipelines": [
            {"binding": "OLD", "pipeline": "p1"},
            {"binding": "NEW", "stream": "s1"},
        ]}))
        .expect("config");
        let mut out = Vec::new();
        upload(&cfg, KIND.kinds[0], &mut out);
        assert_eq!(
            out,
            [
                json!({"name": "OLD", "type": "pipelines", "pipeline": "p1"}),
                json!({"name": "NEW", "type": "pipelines", "stream": "s1"}),
            ]
        );
    }
}
