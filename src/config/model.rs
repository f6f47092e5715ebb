//! The typed wrangler config: one struct for the top level and for each
//! `env.<NAME>` (wrangler uses the same shape for both). Field names are the
//! config keys; absent keys take the defaults wrangler uses.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use super::bindings::*;
pub use crate::bindings::d1::D1Database;
pub use crate::bindings::durable::DurableObjects;
pub use crate::bindings::kv::KvNamespace;
pub use crate::bindings::queue::Queues;
pub use crate::bindings::r2::R2Bucket;
pub use crate::bindings::ratelimit::RateLimit;
pub use crate::bindings::secrets_store::SecretsStoreSecret;
pub use crate::bindings::send_email::SendEmail;
pub use crate::bindings::service::ServiceBinding;
pub use crate::bindings::workflows::WorkflowBinding;

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
    pub workflows: Vec<WorkflowBinding>,
    /// Static assets (inherited by environments, unlike bindings).
    pub assets: Option<Assets>,
    pub send_email: Vec<SendEmail>,
    pub analytics_engine_datasets: Vec<AnalyticsEngineDataset>,
    pub hyperdrive: Vec<Hyperdrive>,
    pub secrets_store_secrets: Vec<SecretsStoreSecret>,
    pub ratelimits: Vec<RateLimit>,
    pub version_metadata: Option<NamedBinding>,
    pub worker_loaders: Vec<NamedBinding>,
    pub ai: Option<Ai>,
    pub vectorize: Vec<Vectorize>,
    pub browser: Option<ServiceOnly>,
    pub images: Option<ServiceOnly>,
    pub media: Option<ServiceOnly>,
    pub stream: Option<ServiceOnly>,
    pub mtls_certificates: Vec<MtlsCertificate>,
    pub dispatch_namespaces: Vec<DispatchNamespace>,
    pub pipelines: Vec<Pipeline>,
    pub logfwdr: Option<Logfwdr>,
    pub ai_search_namespaces: Vec<NamespaceBinding>,
    pub ai_search: Vec<AiSearch>,
    pub agent_memory: Vec<NamespaceBinding>,
    pub artifacts: Vec<NamespaceBinding>,
    pub flagship: Vec<Flagship>,
    pub vpc_services: Vec<VpcService>,
    pub vpc_networks: Vec<VpcNetwork>,
    pub websearch: Option<NamedBinding>,
    pub unsafe_hello_world: Vec<UnsafeHelloWorld>,
    /// `unsafe.bindings` and `unsafe.metadata`, passed through as written.
    #[serde(rename = "unsafe")]
    pub unsafe_: Option<Unsafe>,
    pub secrets: Option<Secrets>,
    pub observability: Option<Observability>,
    pub python_modules: PythonModules,
    pub limits: Option<Limits>,
    pub placement: Option<Placement>,
    pub logpush: Option<bool>,
    pub tail_consumers: Vec<TailConsumer>,
    pub streaming_tail_consumers: Vec<StreamingTailConsumer>,
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
    /// Keep them in Workers Logs (`false` with `destinations` only exports).
    pub persist: Option<bool>,
    /// Logpush/OTel destinations to export to.
    pub destinations: Option<Vec<String>>,
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

/// Which kind of thing a binding name refers to. The variants are in config
/// order (the order [`WranglerConfig::binding_names`] lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BindingKind {
    Var,
    Secret,
    KvNamespace,
    R2Bucket,
    D1Database,
    DurableObject,
    QueueProducer,
    Service,
    Workflow,
    Assets,
    SendEmail,
    AnalyticsEngine,
    Hyperdrive,
    SecretsStoreSecret,
    RateLimit,
    VersionMetadata,
    WorkerLoader,
    Ai,
    Vectorize,
    Browser,
    Images,
    Media,
    Stream,
    MtlsCertificate,
    DispatchNamespace,
    Pipeline,
    Logfwdr,
    AiSearchNamespace,
    AiSearch,
    AgentMemory,
    Artifacts,
    Flagship,
    VpcService,
    VpcNetwork,
    WebSearch,
    UnsafeHelloWorld,
    Unsafe,
}

impl BindingKind {
    /// The Cloudflare service behind a binding of this kind when it has no
    /// local meaning (it reaches a remote resource, so `dev` cannot run it),
    /// named for messages and stubs; `None` for kinds with a local meaning.
    pub fn cloudflare_only(self) -> Option<&'static str> {
        use BindingKind as K;
        Some(match self {
            K::Ai => "Workers AI",
            K::Vectorize => "Vectorize",
            K::Browser => "Browser Rendering",
            K::Images => "Images",
            K::Media => "Media Transformations",
            K::Stream => "Stream",
            K::MtlsCertificate => "mTLS certificate",
            K::DispatchNamespace => "dispatch namespace",
            K::AiSearchNamespace | K::AiSearch => "AI Search",
            K::AgentMemory => "agent memory",
            K::Artifacts => "artifacts",
            K::Flagship => "Flagship",
            K::VpcService | K::VpcNetwork => "Workers VPC",
            K::WebSearch => "web search",
            K::Logfwdr => "logfwdr",
            _ => return None,
        })
    }
}

impl WranglerConfig {
    /// Every binding name with its kind and JSON pointer (relative to this
    /// config), in config order: by kind in [`BindingKind`]'s order, each
    /// kind's bindings in the order written.
    pub fn binding_names(&self) -> Vec<(&str, BindingKind, String)> {
        let mut out = Vec::new();
        for kind in crate::bindings::KINDS {
            (kind.declared)(self, &mut out);
        }
        // Stable: a kind's bindings keep their order.
        out.sort_by_key(|(_, kind, _)| *kind);
        out
    }

    /// All routes (`route` and `routes`).
    pub fn all_routes(&self) -> Vec<&Route> {
        self.route.iter().chain(self.routes.iter()).collect()
    }
}
