//! Worker loaders (`worker_loaders[]`): `env.<NAME>` as a `WorkerLoader`
//! (the dynamic workers it starts under `dev` are [`crate::dev::worker_loader`]),
//! the `worker_loader` upload binding and the stub.

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::WorkerLoader],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "worker_loaders",
        &cfg.worker_loaders,
        BindingKind::WorkerLoader,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for w in &d.cfg.worker_loaders {
        d.env
            .insert(w.binding.clone(), json!({"type": "worker_loader"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for w in &cfg.worker_loaders {
        out.push(json!({"name": w.binding, "type": "worker_loader"}));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("WorkerLoader".into(), "worker loader".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loader_is_a_named_binding() {
        let cfg: WranglerConfig =
            serde_json::from_value(json!({"worker_loaders": [{"binding": "A"}, {"binding": "B"}]}))
                .expect("config");
        let mut names = Vec::new();
        declared(&cfg, &mut names);
        assert_eq!(
            names[1],
            (
                "B",
                BindingKind::WorkerLoader,
                "/worker_loaders/1".to_string()
            )
        );
        let mut out = Vec::new();
        upload(&cfg, KIND.kinds[0], &mut out);
        assert_eq!(out[0], json!({"name": "A", "type": "worker_loader"}));
    }
}
