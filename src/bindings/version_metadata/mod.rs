//! Version metadata (`version_metadata`): `env.<NAME>` as the Worker's
//! `WorkerVersionMetadata` (a fresh id and timestamp per `dev` session, as
//! miniflare gives), the `version_metadata` upload binding and its stub.

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::VersionMetadata],
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    if let Some(b) = &cfg.version_metadata {
        out.push((
            b.binding.as_str(),
            BindingKind::VersionMetadata,
            "/version_metadata".into(),
        ));
    }
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    if let Some(b) = &d.cfg.version_metadata {
        d.env.insert(
            b.binding.clone(),
            json!({
                "type": "version_metadata",
                "id": crate::dev::bindings::sqlite::uuid_v4(),
                "tag": "",
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    if let Some(v) = &cfg.version_metadata {
        out.push(json!({"name": v.binding, "type": "version_metadata"}));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("WorkerVersionMetadata".into(), "version metadata".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_metadata_is_one_named_binding() {
        let cfg: WranglerConfig =
            serde_json::from_value(json!({"version_metadata": {"binding": "VM"}})).expect("config");
        let mut names = Vec::new();
        declared(&cfg, &mut names);
        assert_eq!(
            names,
            [(
                "VM",
                BindingKind::VersionMetadata,
                "/version_metadata".to_string()
            )]
        );
        let mut out = Vec::new();
        upload(&cfg, KIND.kinds[0], &mut out);
        assert_eq!(out, [json!({"name": "VM", "type": "version_metadata"})]);
        let mut out = Vec::new();
        upload(&WranglerConfig::default(), KIND.kinds[0], &mut out);
        assert!(out.is_empty());
    }
}
