//! Queues (`queues.producers[]`, `queues.consumers[]`): the config entries,
//! `env.<NAME>` as a `Queue` producer, the local queue in SQLite that the
//! server's consumer loop drains ([`store`]), the `queue` upload binding and
//! the stub.

pub mod store;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use store::QueueStore;

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{Clock, HostCall, LocalBindings, OpResult, Reply};
use crate::dev::settings::Consumer;

/// `queues`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Queues {
    pub producers: Vec<QueueProducer>,
    pub consumers: Vec<QueueConsumer>,
}

/// `queues.producers[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueProducer {
    pub binding: String,
    pub queue: String,
    #[serde(default)]
    pub delivery_delay: Option<u64>,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `queues.consumers[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueConsumer {
    pub queue: String,
    #[serde(default)]
    pub max_batch_size: Option<u64>,
    /// Seconds.
    #[serde(default)]
    pub max_batch_timeout: Option<f64>,
    #[serde(default)]
    pub max_retries: Option<u64>,
    #[serde(default)]
    pub dead_letter_queue: Option<String>,
    #[serde(default)]
    pub max_concurrency: Option<u64>,
    /// Seconds.
    #[serde(default)]
    pub retry_delay: Option<u64>,
    /// Only `"worker"` (the default) for consumers a Worker config declares.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Pull consumers only; wrangler does not send it for a Worker consumer.
    #[serde(default)]
    pub visibility_timeout_ms: Option<u64>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::QueueProducer],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "queue",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    let producers = &cfg.queues.producers;
    let kind = BindingKind::QueueProducer;
    super::declare_list(out, "queues/producers", producers, kind, |b| &b.binding);
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for p in &d.cfg.queues.producers {
        let delay = p.delivery_delay.unwrap_or(0) as i64;
        d.local
            .queue_producers
            .push((p.binding.clone(), p.queue.clone(), delay));
        d.env.insert(
            p.binding.clone(),
            json!({"type": "queue", "queue": p.queue}),
        );
    }
    Ok(())
}

/// How `dev` consumes each queue, with wrangler's defaults and bounds.
pub(crate) fn consumers(cfg: &WranglerConfig) -> Vec<Consumer> {
    cfg.queues
        .consumers
        .iter()
        .map(|c| Consumer {
            queue: c.queue.clone(),
            max_batch_size: c.max_batch_size.unwrap_or(10).clamp(1, 100) as usize,
            max_batch_timeout: Duration::from_secs_f64(
                c.max_batch_timeout.unwrap_or(5.0).clamp(0.0, 60.0),
            ),
            max_retries: c.max_retries.unwrap_or(3) as i64,
            dead_letter_queue: c.dead_letter_queue.clone(),
            retry_delay: c.retry_delay.unwrap_or(0) as i64,
        })
        .collect()
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for q in &cfg.queues.producers {
        out.push(compact(json!({
            "type": "queue",
            "name": q.binding,
            "queue_name": q.queue,
            "delivery_delay": q.delivery_delay,
        })));
    }
}

fn stub(s: &mut Stub<'_>, name: &str, _: BindingKind) -> (String, String) {
    let b = s.cfg.queues.producers.iter().find(|b| b.binding == name);
    let note = match b {
        Some(b) => format!("queue producer for {}", b.queue),
        None => "queue producer".into(),
    };
    ("Queue".into(), note)
}

/// The one store every local queue lives in, under the state's `v3` folder.
pub(crate) fn open_local(v3: &Path, clock: Clock) -> OpResult<QueueStore> {
    QueueStore::open(&v3.join("queues").join("queues.sqlite"), clock)
}

/// A producer op names its binding, or (from the consumer side) its queue.
fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    let producers = &b.config.queue_producers;
    let (queue, delay) = producers
        .iter()
        .find(|(binding, ..)| binding == c.binding)
        .map(|(_, q, d)| (q.clone(), *d))
        .or_else(|| {
            c.args.get("queue").and_then(Value::as_str).and_then(|q| {
                producers
                    .iter()
                    .find(|(_, name, _)| name == q)
                    .map(|(_, name, d)| (name.clone(), *d))
            })
        })
        .ok_or_else(|| c.no_binding("queue producer"))?;
    b.queues.handle(c.op, &queue, c.args, delay)
}
