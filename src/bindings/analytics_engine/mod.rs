//! Workers Analytics Engine (`analytics_engine_datasets[]`): `env.<NAME>` as
//! an `AnalyticsEngineDataset` whose writes `dev` accepts and drops (as
//! miniflare does), the `analytics_engine` upload binding and the stub.

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::AnalyticsEngine],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "analytics_engine_datasets",
        &cfg.analytics_engine_datasets,
        BindingKind::AnalyticsEngine,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for a in &d.cfg.analytics_engine_datasets {
        d.env
            .insert(a.binding.clone(), json!({"type": "analytics_engine"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for a in &cfg.analytics_engine_datasets {
        out.push(compact(
            json!({"name": a.binding, "type": "analytics_engine", "dataset": a.dataset}),
        ));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    (
        "AnalyticsEngineDataset".into(),
        "analytics engine dataset".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_without_a_name_is_sent_without_one() {
        let cfg: WranglerConfig = serde_json::from_value(json!({"analytics_engine_datasets": [
            {"binding": "AE", "dataset": "events"},
            {"binding": "BARE"},
        ]}))
        .expect("config");
        let mut out = Vec::new();
        upload(&cfg, KIND.kinds[0], &mut out);
        assert_eq!(
            out,
            [
                json!({"name": "AE", "type": "analytics_engine", "dataset": "events"}),
                json!({"name": "BARE", "type": "analytics_engine"}),
            ]
        );
    }
}
