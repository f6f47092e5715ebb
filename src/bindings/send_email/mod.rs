//! Email sending (`send_email[]`): the config entry, `env.<NAME>` with
//! `send()`, the local outbox that writes messages to files ([`outbox`]),
//! the `send_email` upload binding and the `SendEmail` stub.

pub mod outbox;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use outbox::{EmailOutbox, SendEmailConfig};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{BindingsConfig, HostCall, LocalBindings, OpResult, Reply};

/// `send_email[]` (named by `name`, as in wrangler).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SendEmail {
    pub name: String,
    #[serde(default)]
    pub destination_address: Option<String>,
    #[serde(default)]
    pub allowed_destination_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub allowed_sender_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub remote: Option<bool>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::SendEmail],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "send_email",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "send_email",
        &cfg.send_email,
        BindingKind::SendEmail,
        |b| &b.name,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for e in &d.cfg.send_email {
        d.local.send_email.push(SendEmailConfig {
            binding: e.name.clone(),
            destination_address: e.destination_address.clone(),
            allowed_destination_addresses: e.allowed_destination_addresses.clone(),
            allowed_sender_addresses: e.allowed_sender_addresses.clone(),
        });
        d.env.insert(e.name.clone(), json!({"type": "send_email"}));
    }
    d.local.email_dir = Some(outbox::default_root(&d.project.paths.root));
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for e in &cfg.send_email {
        out.push(compact(json!({
            "name": e.name,
            "type": "send_email",
            "destination_address": e.destination_address,
            "allowed_destination_addresses": e.allowed_destination_addresses,
            "allowed_sender_addresses": e.allowed_sender_addresses,
        })));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("SendEmail".into(), "send_email".into())
}

/// The outbox of every binding (`config.email_dir`, or `tmp/email` beside
/// the state directory).
pub(crate) fn open_local(config: &BindingsConfig) -> EmailOutbox {
    let dir = config.email_dir.clone().unwrap_or_else(|| {
        let state = &config.state_dir;
        state.parent().unwrap_or(state).join("tmp").join("email")
    });
    EmailOutbox::new(dir, config.send_email.clone())
}

fn host_call(b: &LocalBindings, call: HostCall<'_>) -> OpResult<Reply> {
    b.email.handle(call.binding, call.op, call.args, call.body)
}
