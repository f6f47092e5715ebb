//! The upload's `metadata` JSON and the trigger settings, built from the
//! env-resolved wrangler config with wrangler's field names, so the API sees
//! exactly what `wrangler deploy` would send.

use serde_json::{Map, Value, json};

use super::upload::{QueueConsumerSpec, TriggerSpec};
use crate::config::{BindingKind, Migration, Route, WranglerConfig};

/// Flags that change what is sent besides the config.
#[derive(Debug, Clone, Default)]
pub struct MetadataOptions {
    /// `--keep-vars`: keep dashboard vars and secrets not in the config.
    pub keep_vars: bool,
    /// `--message`: the deployment annotation.
    pub message: Option<String>,
}

/// Build the metadata (without `migrations`, which depend on the remote tag).
pub fn build(cfg: &WranglerConfig, main_module: &str, opts: &MetadataOptions) -> Value {
    let mut m = Map::new();
    m.insert("main_module".into(), main_module.into());
    m.insert("bindings".into(), Value::Array(bindings(cfg)));
    if let Some(d) = &cfg.compatibility_date {
        m.insert("compatibility_date".into(), d.clone().into());
    }
    m.insert("compatibility_flags".into(), json!(cfg.compatibility_flags));
    if opts.keep_vars || cfg.keep_vars == Some(true) {
        m.insert(
            "keep_bindings".into(),
            json!(["plain_text", "json", "secret_text", "secret_key"]),
        );
    }
    if let Some(l) = cfg.logpush {
        m.insert("logpush".into(), l.into());
    }
    if let Some(p) = placement(cfg) {
        m.insert("placement".into(), p);
    }
    if let Some(t) = tail_consumers(cfg) {
        m.insert("tail_consumers".into(), t);
    }
    if !cfg.streaming_tail_consumers.is_empty() {
        m.insert(
            "streaming_tail_consumers".into(),
            json!(cfg.streaming_tail_consumers),
        );
    }
    if let Some(l) = &cfg.limits {
        m.insert("limits".into(), compact(json!(l)));
    }
    if let Some(msg) = &opts.message {
        m.insert("annotations".into(), json!({"workers/message": msg}));
    }
    if let Some(o) = observability(cfg) {
        m.insert("observability".into(), o);
    }
    // wrangler merges `unsafe.metadata` last, over anything built above.
    if let Some(u) = &cfg.unsafe_ {
        m.extend(u.metadata.clone());
    }
    Value::Object(m)
}

/// Every binding in wrangler's order and shape (`createWorkerUploadForm`:
/// grouped by kind in a fixed order, unset optional fields left out).
pub fn bindings(cfg: &WranglerConfig) -> Vec<Value> {
    let mut out = Vec::new();
    for &kind in UPLOAD_ORDER {
        if let Some(unit) = crate::bindings::of(kind) {
            (unit.upload)(cfg, kind, &mut out);
        }
    }
    out
}

/// wrangler's order of the kinds in the upload (`Var` stands for the vars
/// unit, which sends required secrets, string vars and JSON vars).
pub(crate) const UPLOAD_ORDER: &[BindingKind] = {
    use BindingKind as K;
    &[
        K::Var,
        K::KvNamespace,
        K::SendEmail,
        K::DurableObject,
        K::Workflow,
        K::QueueProducer,
        K::R2Bucket,
        K::D1Database,
        K::Vectorize,
        K::AiSearchNamespace,
        K::AiSearch,
        K::WebSearch,
        K::AgentMemory,
        K::Hyperdrive,
        K::SecretsStoreSecret,
        K::Artifacts,
        K::UnsafeHelloWorld,
        K::Flagship,
        K::RateLimit,
        K::VpcService,
        K::VpcNetwork,
        K::Service,
        K::AnalyticsEngine,
        K::DispatchNamespace,
        K::MtlsCertificate,
        K::Pipeline,
        K::WorkerLoader,
        K::Logfwdr,
        K::Browser,
        K::Ai,
        K::Images,
        K::Stream,
        K::Media,
        K::VersionMetadata,
        K::Assets,
        K::Unsafe,
    ]
};

/// Config migrations as JSON objects (with `tag`, only the keys that are set).
pub fn migrations(cfg: &WranglerConfig) -> Vec<Value> {
    cfg.migrations.iter().map(migration).collect()
}

fn migration(m: &Migration) -> Value {
    let mut o = Map::new();
    o.insert("tag".into(), m.tag.clone().into());
    put_list(&mut o, "new_classes", &m.new_classes);
    put_list(&mut o, "new_sqlite_classes", &m.new_sqlite_classes);
    put_list(&mut o, "renamed_classes", &m.renamed_classes);
    put_list(&mut o, "deleted_classes", &m.deleted_classes);
    put_list(&mut o, "transferred_classes", &m.transferred_classes);
    Value::Object(o)
}

/// Insert `items` under `key` unless empty (wrangler omits empty migration lists).
fn put_list<T: serde::Serialize>(o: &mut serde_json::Map<String, Value>, key: &str, items: &[T]) {
    if !items.is_empty() {
        o.insert(key.into(), json!(items));
    }
}

/// workers.dev, routes, crons and queue consumers.
pub fn triggers(cfg: &WranglerConfig) -> (TriggerSpec, Vec<String>) {
    let mut warnings = Vec::new();
    let mut routes = Vec::new();
    for r in cfg.all_routes() {
        match r {
            Route::Pattern(p) => routes.push(json!({"pattern": p})),
            Route::Detailed(o) if o.custom_domain == Some(true) => warnings.push(format!(
                "custom domain `{}` is not deployed by pywrangler-rs yet; use `npx wrangler deploy` for custom domains",
                o.pattern
            )),
            Route::Detailed(o) => routes.push(compact(json!(o))),
        }
    }
    let all_routes = cfg.all_routes().len();
    let consumers = cfg
        .queues
        .consumers
        .iter()
        .map(|c| QueueConsumerSpec {
            queue: c.queue.clone(),
            body: compact(json!({
                "type": "worker",
                "dead_letter_queue": c.dead_letter_queue,
                "settings": {
                    "batch_size": c.max_batch_size,
                    "max_retries": c.max_retries,
                    "max_wait_time_ms": c.max_batch_timeout.map(|t| (t * 1000.0).round() as u64),
                    "max_concurrency": c.max_concurrency,
                    "retry_delay": c.retry_delay,
                },
            })),
        })
        .collect();
    let spec = TriggerSpec {
        workers_dev: cfg.workers_dev.unwrap_or(all_routes == 0),
        preview_urls: cfg.preview_urls,
        routes,
        crons: cfg.triggers.as_ref().map(|t| t.crons.clone()),
        consumers,
        producers: cfg
            .queues
            .producers
            .iter()
            .map(|p| p.queue.clone())
            .collect(),
        workflows: workflows(cfg),
    };
    (spec, warnings)
}

/// The workflows this Worker defines (no `script_name`, or its own name), each
/// with the body of wrangler's `PUT /accounts/<id>/workflows/<name>`.
fn workflows(cfg: &WranglerConfig) -> Vec<(String, Value)> {
    let script = cfg.name.as_deref().unwrap_or_default();
    cfg.workflows
        .iter()
        .filter(|w| w.script_name.as_deref().is_none_or(|s| s == script))
        .map(|w| {
            let body = compact(json!({
                "script_name": script,
                "class_name": w.class_name,
                "limits": w.limits.as_ref().map(|l| compact(json!(l))),
            }));
            (w.name.clone(), body)
        })
        .collect()
}

/// wrangler's refusal of `limits` on a workflow another Worker defines.
pub fn check_workflows(cfg: &WranglerConfig) -> Result<(), String> {
    let script = cfg.name.as_deref().unwrap_or_default();
    for w in &cfg.workflows {
        if let Some(other) = w.script_name.as_deref().filter(|s| *s != script)
            && w.limits.is_some()
        {
            return Err(format!(
                "Workflow \"{}\" has \"limits\" configured but references external script \"{other}\". Configure limits on the worker that defines the workflow.",
                w.name
            ));
        }
    }
    Ok(())
}

/// `observability` as configured (wrangler passes it through).
pub fn observability(cfg: &WranglerConfig) -> Option<Value> {
    cfg.observability.as_ref().map(|o| compact(json!(o)))
}

/// `tail_consumers` when any are configured.
pub fn tail_consumers(cfg: &WranglerConfig) -> Option<Value> {
    (!cfg.tail_consumers.is_empty()).then(|| compact(json!(cfg.tail_consumers)))
}

/// wrangler's `parseConfigPlacement` for smart placement.
fn placement(cfg: &WranglerConfig) -> Option<Value> {
    let p = cfg.placement.as_ref()?;
    match (p.mode.as_deref(), p.hint.as_deref()) {
        (_, Some(hint)) => Some(json!({"mode": "smart", "hint": hint})),
        (Some("smart"), None) => Some(json!({"mode": "smart"})),
        _ => None,
    }
}

/// Drop `null` members recursively (wrangler's JSON.stringify drops `undefined`).
/// `v` without its `null` fields (wrangler leaves unset options out).
pub(crate) fn compact(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}
