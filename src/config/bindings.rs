//! Config shapes of the binding kinds whose unit (`src/bindings/<kind>/`)
//! does not hold its own: shapes several kinds share, the Cloudflare-only and
//! pass-through kinds, Analytics Engine, Hyperdrive, pipelines and `assets`;
//! with wrangler 4's key names (`config-schema.json`). Deploy sends each of
//! them; a key of a binding kind that is not modelled is an error at deploy,
//! never a silent drop.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `assets`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Assets {
    /// Directory of static files, relative to the config file.
    pub directory: Option<String>,
    /// Name of the `Fetcher` binding to the assets, if the Worker wants one.
    pub binding: Option<String>,
    pub html_handling: Option<HtmlHandling>,
    pub not_found_handling: Option<NotFoundHandling>,
    /// `true`, or rules like `["/api/*", "!/api/docs"]`.
    pub run_worker_first: Option<RunWorkerFirst>,
}

/// `assets.html_handling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HtmlHandling {
    AutoTrailingSlash,
    ForceTrailingSlash,
    DropTrailingSlash,
    None,
}

/// `assets.not_found_handling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotFoundHandling {
    SinglePageApplication,
    #[serde(rename = "404-page")]
    NotFoundPage,
    None,
}

/// `assets.run_worker_first`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunWorkerFirst {
    All(bool),
    Rules(Vec<String>),
}

/// `analytics_engine_datasets[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsEngineDataset {
    pub binding: String,
    #[serde(default)]
    pub dataset: Option<String>,
}

/// `hyperdrive[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hyperdrive {
    pub binding: String,
    pub id: String,
    /// The database `dev` connects to instead (wrangler's key spelling).
    #[serde(default, rename = "localConnectionString")]
    pub local_connection_string: Option<String>,
}

/// A binding that is only a name: `version_metadata`, `worker_loaders[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedBinding {
    pub binding: String,
}

/// A single binding to a Cloudflare service: `browser`, `images`, `media`, `stream`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceOnly {
    pub binding: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `ai`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ai {
    pub binding: String,
    #[serde(default)]
    pub staging: Option<bool>,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `vectorize[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vectorize {
    pub binding: String,
    pub index_name: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `mtls_certificates[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MtlsCertificate {
    pub binding: String,
    pub certificate_id: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `dispatch_namespaces[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DispatchNamespace {
    pub binding: String,
    pub namespace: String,
    #[serde(default)]
    pub outbound: Option<DispatchOutbound>,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `dispatch_namespaces[].outbound`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DispatchOutbound {
    pub service: String,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub parameters: Option<Vec<String>>,
}

/// `pipelines[]`: `pipeline` (wrangler 4) or `stream` (its newer spelling).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    pub binding: String,
    #[serde(default)]
    pub pipeline: Option<String>,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `logfwdr`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logfwdr {
    pub bindings: Vec<LogfwdrBinding>,
}

/// `logfwdr.bindings[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogfwdrBinding {
    pub name: String,
    pub destination: String,
}

/// A binding to a namespace-like resource: `ai_search_namespaces[]`,
/// `agent_memory[]`, `artifacts[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamespaceBinding {
    pub binding: String,
    pub namespace: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `ai_search[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiSearch {
    pub binding: String,
    pub instance_name: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `flagship[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flagship {
    pub binding: String,
    pub app_id: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `vpc_services[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcService {
    pub binding: String,
    pub service_id: String,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `vpc_networks[]`: by `tunnel_id` or `network_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VpcNetwork {
    pub binding: String,
    #[serde(default)]
    pub tunnel_id: Option<String>,
    #[serde(default)]
    pub network_id: Option<String>,
    #[serde(default)]
    pub remote: Option<bool>,
}

/// `unsafe_hello_world[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsafeHelloWorld {
    pub binding: String,
    #[serde(default)]
    pub enable_timer: Option<bool>,
}

/// `unsafe`: bindings and metadata passed to the API as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Unsafe {
    pub bindings: Vec<UnsafeBinding>,
    /// Merged into the upload metadata last, overriding what was built.
    pub metadata: Map<String, Value>,
    /// Cap'n Proto schemas: not supported (an error at deploy).
    pub capnp: Option<Value>,
}

/// `unsafe.bindings[]`: `name`, `type` and any other keys, sent verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UnsafeBinding {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `streaming_tail_consumers[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamingTailConsumer {
    pub service: String,
}
