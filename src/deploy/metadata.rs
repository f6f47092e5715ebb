//! The upload's `metadata` JSON and the trigger settings, built from the
//! env-resolved wrangler config with wrangler's field names, so the API sees
//! exactly what `wrangler deploy` would send.

use serde_json::{Map, Value, json};

use super::upload::{QueueConsumerSpec, TriggerSpec};
use crate::config::{Migration, Route, WranglerConfig};

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
    if let Some(l) = &cfg.limits {
        m.insert("limits".into(), compact(json!(l)));
    }
    if let Some(msg) = &opts.message {
        m.insert("annotations".into(), json!({"workers/message": msg}));
    }
    if let Some(o) = observability(cfg) {
        m.insert("observability".into(), o);
    }
    Value::Object(m)
}

/// Every binding in wrangler's order and shape.
pub fn bindings(cfg: &WranglerConfig) -> Vec<Value> {
    let mut out = Vec::new();
    // Required secrets not provided in the upload are inherited from the deployed Worker.
    if let Some(s) = &cfg.secrets {
        for name in &s.required {
            if !cfg.vars.contains_key(name) {
                out.push(json!({"name": name, "type": "inherit"}));
            }
        }
    }
    for (name, value) in &cfg.vars {
        out.push(match value {
            Value::String(s) => json!({"name": name, "type": "plain_text", "text": s}),
            other => json!({"name": name, "type": "json", "json": other}),
        });
    }
    for kv in &cfg.kv_namespaces {
        out.push(match &kv.id {
            Some(id) => json!({"name": kv.binding, "type": "kv_namespace", "namespace_id": id}),
            None => json!({"name": kv.binding, "type": "inherit"}),
        });
    }
    for d in &cfg.durable_objects.bindings {
        let mut b =
            json!({"name": d.name, "type": "durable_object_namespace", "class_name": d.class_name});
        put_opt(&mut b, "script_name", d.script_name.as_deref());
        put_opt(&mut b, "environment", d.environment.as_deref());
        out.push(b);
    }
    for q in &cfg.queues.producers {
        let mut b = json!({"type": "queue", "name": q.binding, "queue_name": q.queue});
        if let (Some(d), Some(o)) = (q.delivery_delay, b.as_object_mut()) {
            o.insert("delivery_delay".into(), d.into());
        }
        out.push(b);
    }
    for r in &cfg.r2_buckets {
        out.push(match &r.bucket_name {
            Some(bucket) => {
                let mut b = json!({"name": r.binding, "type": "r2_bucket", "bucket_name": bucket});
                put_opt(&mut b, "jurisdiction", r.jurisdiction.as_deref());
                b
            }
            None => json!({"name": r.binding, "type": "inherit"}),
        });
    }
    for d in &cfg.d1_databases {
        out.push(match &d.database_id {
            Some(id) => json!({"name": d.binding, "type": "d1", "id": id}),
            None => json!({"name": d.binding, "type": "inherit"}),
        });
    }
    for s in &cfg.services {
        let mut b = json!({"name": s.binding, "type": "service", "service": s.service});
        put_opt(&mut b, "environment", s.environment.as_deref());
        put_opt(&mut b, "entrypoint", s.entrypoint.as_deref());
        out.push(b);
    }
    out
}

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
    };
    (spec, warnings)
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

fn put_opt(b: &mut Value, key: &str, v: Option<&str>) {
    if let (Some(v), Some(o)) = (v, b.as_object_mut()) {
        o.insert(key.into(), v.into());
    }
}

/// Drop `null` members recursively (wrangler's JSON.stringify drops `undefined`).
fn compact(v: Value) -> Value {
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
