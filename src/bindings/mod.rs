//! Binding kinds, one unit each (the shape of miniflare's `plugins/<kind>/`):
//! a kind's folder holds its config schema, the `env` entry `dev` gives the
//! guest, its local implementation (store and host ops), its deploy metadata,
//! its `types` stub and its tests. [`KINDS`] lists the units; config, `dev`,
//! `deploy` and `types` go through it instead of matching on kind names.
//! The guest side of a kind is one module of `_pywrangler/bindings/`.

pub mod analytics_engine;
pub mod assets;
pub mod d1;
pub mod durable;
pub mod hyperdrive;
pub mod kv;
pub mod pipelines;
pub mod queue;
pub mod r2;
pub mod ratelimit;
pub mod remote;
pub mod secrets_store;
pub mod send_email;
pub mod service;
pub mod unsafe_;
pub mod vars;
pub mod version_metadata;
pub mod worker_loader;
pub mod workflows;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::config::{BindingKind, Project, WranglerConfig};
use crate::dev::bindings::{BindingsConfig, HostCall, LocalBindings, OpResult, Reply};
use crate::dev::settings::SessionFlags;
use crate::types_gen::json_shape::Shapes;

/// One binding a config declares: its name, kind and JSON pointer.
pub type Declared<'a> = (&'a str, BindingKind, String);

/// What one binding kind contributes to each command.
pub struct Kind {
    /// The config kinds this unit owns (vars and secrets share one unit).
    pub kinds: &'static [BindingKind],
    /// Its bindings in config order (name checks, `types`, `dev` warnings).
    pub declared: for<'a> fn(&'a WranglerConfig, &mut Vec<Declared<'a>>),
    /// `dev`: its guest `env` entries and its local store settings.
    pub dev: fn(&mut DevEnv<'_>) -> anyhow::Result<()>,
    /// `deploy`: its entries of the upload metadata's `bindings` of one of
    /// its kinds, in wrangler's shape (the order across kinds is
    /// `deploy::metadata`'s).
    pub upload: fn(&WranglerConfig, BindingKind, &mut Vec<Value>),
    /// `types`: the stub type and comment of one of its bindings.
    pub stub: fn(&mut Stub<'_>, &str, BindingKind) -> (String, String),
    /// The `host_call` ops it answers under `dev`, if any.
    pub host: Option<HostOps>,
}

/// A kind's `host_call` ops: the family (`kv` for `kv.get`) and the handler.
pub struct HostOps {
    pub family: &'static str,
    pub call: fn(&LocalBindings, HostCall<'_>) -> OpResult<Reply>,
}

/// What a kind's `dev` step reads and fills.
pub struct DevEnv<'a> {
    pub project: &'a Project,
    pub cfg: &'a WranglerConfig,
    /// Directory of the wrangler config (relative paths start there).
    pub config_dir: &'a Path,
    pub flags: &'a SessionFlags,
    /// The `configure` event's `env`: `{NAME: {"type": …}}`.
    pub env: &'a mut BTreeMap<String, Value>,
    /// What `LocalBindings` opens.
    pub local: &'a mut BindingsConfig,
    /// What `dev` prints at start about the bindings.
    pub notes: &'a mut DevNotes,
}

/// What the kinds' `dev` steps report, printed once at start.
#[derive(Debug, Default)]
pub struct DevNotes {
    /// `NAME (service)` of bindings that run only on Cloudflare.
    pub remote_only: Vec<String>,
    /// Names of bindings `dev` does not emulate.
    pub not_emulated: Vec<String>,
    /// Other warnings (e.g. ignored lines of `_redirects`).
    pub warnings: Vec<String>,
}

impl DevNotes {
    /// The warnings to print, the binding lists first.
    pub fn into_warnings(self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.remote_only.is_empty() {
            out.push(format!(
                "these bindings run only on Cloudflare, so calls to them fail under `pywrangler-rs dev`: {}",
                self.remote_only.join(", ")
            ));
        }
        if !self.not_emulated.is_empty() {
            out.push(format!(
                "these bindings are not emulated by `pywrangler-rs dev` yet, so calls to them fail locally: {}",
                self.not_emulated.join(", ")
            ));
        }
        out.extend(self.warnings);
        out
    }
}

/// What a kind's `types` step reads and fills.
pub struct Stub<'a> {
    pub cfg: &'a WranglerConfig,
    /// `TypedDict`s declared for JSON values.
    pub shapes: &'a mut Shapes,
}

/// Every unit (`binding_names` sorts their bindings into config order).
pub static KINDS: &[Kind] = &[
    vars::KIND,
    kv::KIND,
    r2::KIND,
    d1::KIND,
    durable::KIND,
    queue::KIND,
    service::KIND,
    workflows::KIND,
    assets::KIND,
    send_email::KIND,
    analytics_engine::KIND,
    hyperdrive::KIND,
    secrets_store::KIND,
    ratelimit::KIND,
    version_metadata::KIND,
    worker_loader::KIND,
    pipelines::KIND,
    remote::KIND,
    unsafe_::KIND,
];

/// The unit that owns `kind` (every kind has one: a unit test checks).
pub fn of(kind: BindingKind) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.kinds.contains(&kind))
}

/// [`Kind::declared`] for a config list: `(name, kind, /key/i)` per entry.
pub fn declare_list<'a, T>(
    out: &mut Vec<Declared<'a>>,
    key: &str,
    items: &'a [T],
    kind: BindingKind,
    name: impl Fn(&'a T) -> &'a str,
) {
    for (i, b) in items.iter().enumerate() {
        out.push((name(b), kind, format!("/{key}/{i}")));
    }
}

/// [`Kind::declared`] for a single config object: `(name, kind, /key)`.
pub fn declare_one<'a, T>(
    out: &mut Vec<Declared<'a>>,
    key: &str,
    item: Option<&'a T>,
    kind: BindingKind,
    name: impl Fn(&'a T) -> &'a str,
) {
    if let Some(b) = item {
        out.push((name(b), kind, format!("/{key}")));
    }
}

/// The host ops of the family `family` (`kv`, `d1`, …).
pub fn host_ops(family: &str) -> Option<&'static HostOps> {
    KINDS
        .iter()
        .filter_map(|k| k.host.as_ref())
        .find(|h| h.family == family)
}

/// The upload binding that keeps the deployed Worker's value (a binding
/// declared without its resource id, or a required secret).
fn inherit(name: &str) -> Value {
    serde_json::json!({"name": name, "type": "inherit"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_and_op_family_has_one_unit() {
        let mut kinds = Vec::new();
        let mut families = Vec::new();
        for k in KINDS {
            for kind in k.kinds {
                assert!(!kinds.contains(kind), "{kind:?} is owned twice");
                kinds.push(*kind);
            }
            if let Some(h) = &k.host {
                assert!(!families.contains(&h.family), "{} twice", h.family);
                families.push(h.family);
            }
        }
        assert_eq!(
            of(BindingKind::R2Bucket).map(|k| k.kinds),
            Some(&[BindingKind::R2Bucket][..])
        );
        assert!(host_ops("kv").is_some() && host_ops("nope").is_none());
    }

    #[test]
    fn every_binding_kind_has_a_unit() {
        // The upload order names each kind once (secrets go with vars), and
        // `Unsafe` is the last variant.
        let mut all = crate::deploy::metadata::UPLOAD_ORDER.to_vec();
        all.push(BindingKind::Secret);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), BindingKind::Unsafe as usize + 1);
        for kind in all {
            assert!(of(kind).is_some(), "{kind:?} has no unit");
        }
    }
}
