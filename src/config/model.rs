//! The typed wrangler config: one struct for the top level and for each
//! `env.<NAME>` (wrangler uses the same shape for both). Field names are the
//! config keys; absent keys take the defaults wrangler uses.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::source::push_pointer;

/// A wrangler config (top level or one environment), after `--env` is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WranglerConfig {
    /// Worker name; for an environment, `<name>-<env>` unless the env sets its own.
    pub name: Option<String>,
    /// Entry module, relative to the config file (e.g. `src/entry.py`).
    pub main: Option<String>,
    pub compatibility_date: Option<String>,
    pub compatibility_flags: Vec<String>,
    pub account_id: Option<String>,
    /// Module root for upload; defaults to the directory of `main`.
    pub base_dir: Option<String>,
    /// Deploy to `<name>.<subdomain>.workers.dev` (wrangler: true when there are no routes).
    pub workers_dev: Option<bool>,
    pub preview_urls: Option<bool>,
    /// A single route (wrangler's `route`).
    pub route: Option<Route>,
    pub routes: Vec<Route>,
    /// Plain-text and JSON vars (a non-string value is a JSON binding).
    pub vars: BTreeMap<String, serde_json::Value>,
    pub kv_namespaces: Vec<KvNamespace>,
    pub r2_buckets: Vec<R2Bucket>,
    pub d1_databases: Vec<D1Database>,
    pub durable_objects: DurableObjects,
    pub migrations: Vec<Migration>,
    /// `None` leaves deployed schedules alone; `Some` with no crons clears them.
    pub triggers: Option<Triggers>,
    pub queues: Queues,
    pub services: Vec<ServiceBinding>,
    pub secrets: Option<Secrets>,
    pub observability: Option<Observability>,
    pub python_modules: PythonModules,
    pub limits: Option<Limits>,
    pub placement: Option<Placement>,
    pub logpush: Option<bool>,
    pub tail_consumers: Vec<TailConsumer>,
    pub rules: Vec<ModuleRule>,
    pub no_bundle: Option<bool>,
    pub keep_vars: Option<bool>,
    /// Local dev server settings (`dev.port`, `dev.ip`, ...).
    pub dev: Option<DevSettings>,
    /// JSON schema reference written by editors; ignored.
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
}

/// A route: a bare pattern or an object with a zone or custom domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Route {
    /// `"example.com/*"`.
    Pattern(String),
    /// `{ "pattern": ..., "zone_name" | "zone_id": ..., "custom_domain": bool }`.
    Detailed(RouteObject),
}

/// The object form of a route.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteObject {
    pub pattern: String,
    #[serde(default)]
    pub zone_name: Option<String>,
    #[serde(default)]
    pub zone_id: Option<String>,
    #[serde(default)]
    pub custom_domain: Option<bool>,
}

impl Route {
    /// The route's pattern.
    #[cfg(test)]
    pub fn pattern(&self) -> &str {
        match self {
            Route::Pattern(p) => p,
            Route::Detailed(o) => &o.pattern,
        }
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RouteVisitor;
        impl<'de> Visitor<'de> for RouteVisitor {
            type Value = Route;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a route pattern string or an object with `pattern`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Route, E> {
                Ok(Route::Pattern(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Route, A::Error> {
                RouteObject::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Route::Detailed)
            }
        }
        d.deserialize_any(RouteVisitor)
    }
}

/// `kv_namespaces[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KvNamespace {
    pub binding: String,
    /// Namespace id; may be absent for local-only development.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub preview_id: Option<String>,
}

/// `r2_buckets[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct R2Bucket {
    pub binding: String,
    #[serde(default)]
    pub bucket_name: Option<String>,
    #[serde(default)]
    pub preview_bucket_name: Option<String>,
    #[serde(default)]
    pub jurisdiction: Option<String>,
}

/// `d1_databases[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct D1Database {
    pub binding: String,
    #[serde(default)]
    pub database_name: Option<String>,
    #[serde(default)]
    pub database_id: Option<String>,
    #[serde(default)]
    pub preview_database_id: Option<String>,
    /// Directory of `.sql` migrations (wrangler's default: `migrations`).
    #[serde(default)]
    pub migrations_dir: Option<String>,
    #[serde(default)]
    pub migrations_table: Option<String>,
}

/// `durable_objects`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DurableObjects {
    pub bindings: Vec<DurableObjectBinding>,
}

/// `durable_objects.bindings[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DurableObjectBinding {
    pub name: String,
    pub class_name: String,
    /// Set when the class lives in another Worker.
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
}

/// `migrations[]`: one Durable Object migration step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub tag: String,
    #[serde(default)]
    pub new_classes: Vec<String>,
    #[serde(default)]
    pub new_sqlite_classes: Vec<String>,
    #[serde(default)]
    pub renamed_classes: Vec<RenamedClass>,
    #[serde(default)]
    pub deleted_classes: Vec<String>,
    #[serde(default)]
    pub transferred_classes: Vec<TransferredClass>,
}

/// `migrations[].renamed_classes[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RenamedClass {
    pub from: String,
    pub to: String,
}

/// `migrations[].transferred_classes[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferredClass {
    pub from: String,
    pub from_script: String,
    pub to: String,
}

/// `triggers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Triggers {
    pub crons: Vec<String>,
}

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
}

/// `services[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceBinding {
    pub binding: String,
    pub service: String,
    #[serde(default)]
    pub environment: Option<String>,
    /// A named entrypoint (RPC class) of the target Worker.
    #[serde(default)]
    pub entrypoint: Option<String>,
}

/// `secrets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Secrets {
    /// Secret names the Worker needs (values come from `.dev.vars` or the dashboard).
    pub required: Vec<String>,
}

/// `observability`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Observability {
    pub enabled: Option<bool>,
    pub head_sampling_rate: Option<f64>,
    pub logs: Option<ObservabilityLogs>,
    pub traces: Option<ObservabilityLogs>,
}

/// `observability.logs` / `observability.traces`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObservabilityLogs {
    pub enabled: Option<bool>,
    pub head_sampling_rate: Option<f64>,
    pub invocation_logs: Option<bool>,
}

/// `python_modules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PythonModules {
    /// Globs (relative to `python_modules/`) left out of the upload.
    pub exclude: Vec<String>,
}

impl Default for PythonModules {
    fn default() -> Self {
        PythonModules {
            exclude: vec!["**/*.pyc".to_string()],
        }
    }
}

/// `limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub cpu_ms: Option<u64>,
    pub subrequests: Option<u64>,
}

/// `placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    /// `"smart"` or `"off"`.
    pub mode: Option<String>,
    pub hint: Option<String>,
}

/// `tail_consumers[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TailConsumer {
    pub service: String,
    #[serde(default)]
    pub environment: Option<String>,
}

/// `rules[]`: extra module rules (`type` is e.g. `Text`, `Data`, `CompiledWasm`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModuleRule {
    #[serde(rename = "type")]
    pub kind: String,
    pub globs: Vec<String>,
    #[serde(default)]
    pub fallthrough: Option<bool>,
}

/// `dev`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DevSettings {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub local_protocol: Option<String>,
}

/// Which kind of thing a binding name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    Var,
    Secret,
    KvNamespace,
    R2Bucket,
    D1Database,
    DurableObject,
    QueueProducer,
    Service,
}

impl WranglerConfig {
    /// Every binding name with its kind and JSON pointer (relative to this
    /// config), in config order: vars, secrets, KV, R2, D1, DO, queues, services.
    pub fn binding_names(&self) -> Vec<(&str, BindingKind, String)> {
        let mut out = Vec::new();
        for name in self.vars.keys() {
            out.push((name.as_str(), BindingKind::Var, push_pointer("/vars", name)));
        }
        if let Some(secrets) = &self.secrets {
            for (i, name) in secrets.required.iter().enumerate() {
                out.push((
                    name.as_str(),
                    BindingKind::Secret,
                    format!("/secrets/required/{i}"),
                ));
            }
        }
        for (i, b) in self.kv_namespaces.iter().enumerate() {
            out.push((
                b.binding.as_str(),
                BindingKind::KvNamespace,
                format!("/kv_namespaces/{i}"),
            ));
        }
        for (i, b) in self.r2_buckets.iter().enumerate() {
            out.push((
                b.binding.as_str(),
                BindingKind::R2Bucket,
                format!("/r2_buckets/{i}"),
            ));
        }
        for (i, b) in self.d1_databases.iter().enumerate() {
            out.push((
                b.binding.as_str(),
                BindingKind::D1Database,
                format!("/d1_databases/{i}"),
            ));
        }
        for (i, b) in self.durable_objects.bindings.iter().enumerate() {
            let p = format!("/durable_objects/bindings/{i}");
            out.push((b.name.as_str(), BindingKind::DurableObject, p));
        }
        for (i, b) in self.queues.producers.iter().enumerate() {
            let p = format!("/queues/producers/{i}");
            out.push((b.binding.as_str(), BindingKind::QueueProducer, p));
        }
        for (i, b) in self.services.iter().enumerate() {
            out.push((
                b.binding.as_str(),
                BindingKind::Service,
                format!("/services/{i}"),
            ));
        }
        out
    }

    /// All routes (`route` and `routes`).
    pub fn all_routes(&self) -> Vec<&Route> {
        self.route.iter().chain(self.routes.iter()).collect()
    }
}
