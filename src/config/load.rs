//! Turn a parsed config document into a typed, env-resolved, validated
//! [`WranglerConfig`]: serde errors are mapped back to file:line:col through
//! the document's pointer map, unknown keys become warnings, and `--env`
//! follows wrangler's inheritance rules.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::checks::{self, FileRefs};
use super::error::{ConfigError, Location};
use super::model::WranglerConfig;
use super::python_version::{PythonVersion, PythonVersionError};
use super::source::{SourceDoc, push_pointer};

/// Config keys that declare bindings (wrangler's binding kinds). Each is sent
/// in the upload; environments never inherit them.
pub const BINDING_KEYS: &[&str] = &[
    "vars",
    "secrets",
    "kv_namespaces",
    "r2_buckets",
    "d1_databases",
    "durable_objects",
    "queues",
    "services",
    "workflows",
    "send_email",
    "analytics_engine_datasets",
    "hyperdrive",
    "secrets_store_secrets",
    "ratelimits",
    "version_metadata",
    "worker_loaders",
    "ai",
    "vectorize",
    "browser",
    "images",
    "media",
    "stream",
    "mtls_certificates",
    "dispatch_namespaces",
    "pipelines",
    "logfwdr",
    "ai_search_namespaces",
    "ai_search",
    "agent_memory",
    "artifacts",
    "flagship",
    "vpc_services",
    "vpc_networks",
    "websearch",
    "unsafe_hello_world",
    "unsafe",
];

/// Keys an environment never inherits besides [`BINDING_KEYS`].
const NOT_INHERITED_EXTRA: &[&str] = &["tail_consumers", "streaming_tail_consumers"];

/// Wrangler keys that pywrangler-rs does not model; they warn differently
/// from typos so the user knows the setting is real but ignored here.
const UNSUPPORTED_KEYS: &[&str] = &[
    "alias",
    "build",
    "cloudchamber",
    "compliance_region",
    "containers",
    "data_blobs",
    "define",
    "find_additional_modules",
    "first_party_worker",
    "jsx_factory",
    "jsx_fragment",
    "keep_names",
    "legacy_env",
    "minify",
    "node_compat",
    "pages_build_output_dir",
    "preserve_file_names",
    "previews",
    "send_metrics",
    "site",
    "text_blobs",
    "tsconfig",
    "upload_source_maps",
    "usage_model",
    "wasm_modules",
];

/// Unsupported keys whose omission changes what runs on Cloudflare (a Worker
/// deployed without them would lose its containers or site): deploy refuses them.
const DEPLOY_BLOCKING_KEYS: &[&str] = &[
    "containers",
    "site",
    "wasm_modules",
    "text_blobs",
    "data_blobs",
];

fn not_inherited(key: &str) -> bool {
    BINDING_KEYS.contains(&key) || NOT_INHERITED_EXTRA.contains(&key)
}

/// A validated config with its chosen environment applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: WranglerConfig,
    pub python: PythonVersion,
    pub warnings: Vec<String>,
    pub files: FileRefs,
    /// Keys deploy would leave out of the upload (each naming file:line:col):
    /// a key it does not understand in a binding position, or a setting whose
    /// omission changes the Worker. Deploy refuses while any remain.
    pub deploy_blockers: Vec<String>,
    /// Where `assets.directory` is written, when assets are configured.
    pub assets_directory_at: Option<Location>,
}

/// Type, env-resolve and validate `doc`.
pub fn resolve(doc: &SourceDoc, env: Option<&str>) -> Result<Resolved, ConfigError> {
    let mut warnings = Vec::new();
    let mut blockers = Vec::new();
    let mut top_map = doc.value.as_object().cloned().unwrap_or_default();
    let envs = top_map.remove("env");
    let top_value = Value::Object(top_map.clone());
    let top: WranglerConfig = typed_blocking(doc, &top_value, "", &mut warnings, &mut blockers)?;

    let envs = match envs {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ConfigError::invalid(
                doc.value_location("/env"),
                "`env` must be an object of named environments",
                Some("write `\"env\": { \"staging\": { ... } }` (TOML: `[env.staging]`)".into()),
            ));
        }
    };

    let Some(env_name) = env else {
        let python = detect_python(doc, &top, &[""])?;
        validate(doc, &top, "", &[""])?;
        let assets_directory_at = super::assets::validate(doc, &top, &[""], &mut warnings)?;
        return Ok(Resolved {
            files: checks::file_refs(doc, &top, "", &[""]),
            config: top,
            python,
            warnings,
            deploy_blockers: blockers.into_iter().map(|(_, m)| m).collect(),
            assets_directory_at,
        });
    };

    let Some(env_value) = envs.get(env_name) else {
        let mut available: Vec<String> = envs.keys().cloned().collect();
        available.sort();
        return Err(ConfigError::UnknownEnv {
            path: doc.path.clone(),
            env: env_name.to_string(),
            available,
        });
    };
    let env_ptr = push_pointer("/env", env_name);
    let Value::Object(env_map) = env_value else {
        return Err(ConfigError::invalid(
            doc.value_location(&env_ptr),
            format!("`env.{env_name}` must be an object"),
            Some(format!("write `\"{env_name}\": {{ ... }}` inside `env`")),
        ));
    };
    // The top level's bindings are not deployed under an environment.
    blockers.retain(|(key, _)| !not_inherited(key));
    let env_cfg: WranglerConfig =
        typed_blocking(doc, env_value, &env_ptr, &mut warnings, &mut blockers)?;

    for key in BINDING_KEYS.iter().chain(NOT_INHERITED_EXTRA) {
        let top_has = top_map.get(*key).is_some_and(|v| !is_empty(v));
        if top_has && !env_map.contains_key(*key) {
            warnings.push(format!(
                "{}: `{key}` exists at the top level but not in `env.{env_name}`; \
                 environments do not inherit `{key}`, so `{env_name}` has none \
                 (add `{key}` to `env.{env_name}` if it needs them)",
                doc.key_location(&push_pointer("", key)),
            ));
        }
    }

    let config = merge(top, env_cfg, env_map, env_name);
    let scopes = [env_ptr.as_str(), ""];
    let python = detect_python(doc, &config, &scopes)?;
    validate(doc, &config, &env_ptr, &scopes)?;
    let assets_directory_at = super::assets::validate(doc, &config, &scopes, &mut warnings)?;
    Ok(Resolved {
        files: checks::file_refs(doc, &config, &env_ptr, &scopes),
        config,
        python,
        warnings,
        deploy_blockers: blockers.into_iter().map(|(_, m)| m).collect(),
        assets_directory_at,
    })
}

/// Apply wrangler's inheritance: inheritable keys come from the top level
/// unless the environment sets them; bindings, vars, secrets and tail
/// consumers come only from the environment.
fn merge(
    top: WranglerConfig,
    env: WranglerConfig,
    env_keys: &Map<String, Value>,
    env_name: &str,
) -> WranglerConfig {
    let has = |key: &str| env_keys.contains_key(key);
    let mut out = env;
    macro_rules! inherit {
        ($($field:ident),* $(,)?) => {
            $( if !has(stringify!($field)) { out.$field = top.$field.clone(); } )*
        };
    }
    inherit!(
        main,
        compatibility_date,
        compatibility_flags,
        account_id,
        base_dir,
        workers_dev,
        preview_urls,
        migrations,
        triggers,
        observability,
        python_modules,
        limits,
        placement,
        logpush,
        rules,
        no_bundle,
        assets,
    );
    // `route` and `routes` are one setting: an env that sets either replaces both.
    if !has("route") && !has("routes") {
        out.route = top.route.clone();
        out.routes = top.routes.clone();
    }
    if !has("name") {
        out.name = top.name.as_ref().map(|n| format!("{n}-{env_name}"));
    }
    // Top-level-only settings.
    out.keep_vars = top.keep_vars;
    out.dev = top.dev;
    out.schema = top.schema;
    out
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

/// Deserialize `value` (found at `base` in `doc`) into `T`, mapping errors
/// to positions and collecting unknown keys as warnings; the ignored keys
/// deploy must not drop are also collected as `(top-level key, message)`.
fn typed_blocking<T: DeserializeOwned>(
    doc: &SourceDoc,
    value: &Value,
    base: &str,
    warnings: &mut Vec<String>,
    blockers: &mut Vec<(String, String)>,
) -> Result<T, ConfigError> {
    let mut unknown = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path<'_>| {
        let mut tokens = Vec::new();
        ignored_tokens(&path, &mut tokens);
        unknown.push(tokens);
    };
    let de = serde_ignored::Deserializer::new(value, &mut on_ignored);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    // Report unknown keys in file order (serde visits them in key order).
    let mut found: Vec<(Location, String)> = Vec::new();
    for tokens in unknown {
        let mut pointer = base.to_string();
        for t in &tokens {
            pointer = push_pointer(&pointer, t);
        }
        let (Some(top), Some(key)) = (tokens.first(), tokens.last()) else {
            continue;
        };
        let loc = doc.key_location(&pointer);
        let dotted = dotted(base, &tokens);
        let unsupported = tokens.len() == 1 && UNSUPPORTED_KEYS.contains(&key.as_str());
        let message = if unsupported {
            format!("{loc}: `{dotted}` is not supported by pywrangler-rs yet; it is ignored")
        } else {
            format!("{loc}: unknown key `{dotted}` in the wrangler config; it is ignored")
        };
        let blocks = if tokens.len() == 1 {
            DEPLOY_BLOCKING_KEYS.contains(&top.as_str())
                || (!unsupported && looks_like_binding(value.get(top.as_str())))
        } else {
            BINDING_KEYS.contains(&top.as_str())
        };
        if blocks {
            let why = if unsupported {
                format!("{loc}: `{dotted}` is not supported by pywrangler-rs")
            } else if tokens.len() == 1 {
                format!(
                    "{loc}: `{dotted}` looks like a binding, but it is not a binding kind pywrangler-rs knows"
                )
            } else {
                format!("{loc}: `{dotted}` is not a key pywrangler-rs knows for `{top}`")
            };
            blockers.push((top.clone(), why));
        }
        found.push((loc, message));
    }
    found.sort_by_key(|(loc, _)| (loc.line, loc.col));
    warnings.extend(found.into_iter().map(|(_, m)| m));
    result.map_err(|err| {
        let mut pointer = base.to_string();
        let mut tokens = Vec::new();
        for seg in err.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => tokens.push(index.to_string()),
                serde_path_to_error::Segment::Map { key } => tokens.push(key.clone()),
                _ => {}
            }
        }
        for t in &tokens {
            pointer = push_pointer(&pointer, t);
        }
        let what = if tokens.is_empty() && base.is_empty() {
            "the config".to_string()
        } else {
            format!("`{}`", dotted(base, &tokens))
        };
        ConfigError::invalid(
            doc.value_location(&pointer),
            format!("invalid {what}: {}", err.inner()),
            shape_hint(tokens.first().map(String::as_str).unwrap_or("")),
        )
    })
}

/// An object with a `binding` or `name`, or a list of them: the shape of
/// every binding kind, so an unknown key holding one is probably a binding.
fn looks_like_binding(value: Option<&Value>) -> bool {
    let named = |v: &Value| {
        v.get("binding")
            .or_else(|| v.get("name"))
            .is_some_and(Value::is_string)
    };
    match value {
        Some(Value::Array(items)) => items.first().is_some_and(named),
        Some(v @ Value::Object(_)) => named(v),
        _ => false,
    }
}

fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn ignored_tokens(path: &serde_ignored::Path<'_>, out: &mut Vec<String>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            ignored_tokens(parent, out);
            out.push(index.to_string());
        }
        Path::Map { parent, key } => {
            ignored_tokens(parent, out);
            out.push(key.clone());
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_tokens(parent, out),
    }
}

/// `env.staging.kv_namespaces[0].binding` style path for messages.
fn dotted(base: &str, tokens: &[String]) -> String {
    let mut s = String::new();
    for t in pointer_tokens(base).iter().chain(tokens) {
        if t.parse::<usize>().is_ok() && !s.is_empty() {
            s.push_str(&format!("[{t}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(t);
        }
    }
    s
}

/// What a correct value of a top-level key looks like.
fn shape_hint(key: &str) -> Option<String> {
    let text = match key {
        "vars" => "`vars` is an object: \"vars\": { \"NAME\": \"value\" } (TOML: [vars])",
        "kv_namespaces" => {
            "`kv_namespaces` is an array: [{ \"binding\": \"KV\", \"id\": \"<namespace id>\" }]"
        }
        "r2_buckets" => {
            "`r2_buckets` is an array: [{ \"binding\": \"BUCKET\", \"bucket_name\": \"b\" }]"
        }
        "d1_databases" => {
            "`d1_databases` is an array: [{ \"binding\": \"DB\", \"database_name\": \"d\", \"database_id\": \"<uuid>\" }]"
        }
        "durable_objects" => {
            "`durable_objects` is an object: { \"bindings\": [{ \"name\": \"MY_DO\", \"class_name\": \"MyDO\" }] }"
        }
        "migrations" => {
            "`migrations` is an array: [{ \"tag\": \"v1\", \"new_sqlite_classes\": [\"MyDO\"] }]"
        }
        "queues" => {
            "`queues` is an object: { \"producers\": [{ \"binding\": \"Q\", \"queue\": \"q\" }], \"consumers\": [{ \"queue\": \"q\" }] }"
        }
        "services" => {
            "`services` is an array: [{ \"binding\": \"SVC\", \"service\": \"other-worker\" }]"
        }
        "secrets" => "`secrets` is an object: { \"required\": [\"TOKEN\"] }",
        "triggers" => "`triggers` is an object: { \"crons\": [\"*/5 * * * *\"] }",
        "compatibility_flags" => {
            "`compatibility_flags` is an array of strings: [\"python_workers\"]"
        }
        "compatibility_date" => "`compatibility_date` is a string: \"2025-11-02\"",
        "main" => "`main` is a string path to the entry module, e.g. \"src/entry.py\"",
        "routes" | "route" => {
            "a route is \"example.com/*\" or { \"pattern\": \"example.com/*\", \"zone_name\": \"example.com\" }"
        }
        "python_modules" => "`python_modules` is an object: { \"exclude\": [\"**/*.pyc\"] }",
        "observability" => "`observability` is an object: { \"enabled\": true }",
        "tail_consumers" => "`tail_consumers` is an array: [{ \"service\": \"tail-worker\" }]",
        "rules" => "`rules` is an array: [{ \"type\": \"Text\", \"globs\": [\"**/*.txt\"] }]",
        _ => "check the value's type against the wrangler configuration reference",
    };
    Some(text.to_string())
}

/// Pointer of `key` in the first scope that sets it (env before top level).
pub(super) fn pointer_in(doc: &SourceDoc, scopes: &[&str], key: &str) -> String {
    for scope in scopes {
        let p = push_pointer(scope, key);
        if doc.has(&p) {
            return p;
        }
    }
    scopes.first().map(|s| s.to_string()).unwrap_or_default()
}

fn detect_python(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scopes: &[&str],
) -> Result<PythonVersion, ConfigError> {
    PythonVersion::detect(cfg.compatibility_date.as_deref(), &cfg.compatibility_flags).map_err(
        |source| {
            let key = match source {
                PythonVersionError::MissingFlag => "compatibility_flags",
                _ => "compatibility_date",
            };
            let pointer = pointer_in(doc, scopes, key);
            let location = if matches!(source, PythonVersionError::MissingFlag) {
                doc.key_location(&pointer)
            } else {
                doc.value_location(&pointer)
            };
            ConfigError::Python { location, source }
        },
    )
}

fn validate(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    binding_scope: &str,
    scopes: &[&str],
) -> Result<(), ConfigError> {
    let root = |doc: &SourceDoc| doc.value_location(scopes.first().copied().unwrap_or(""));
    match cfg.main.as_deref() {
        None => {
            return Err(ConfigError::invalid(
                root(doc),
                "`main` is not set",
                Some(
                    "set \"main\" to the Worker's entry module, e.g. \"main\": \"src/entry.py\""
                        .into(),
                ),
            ));
        }
        Some(main) if !main.ends_with(".py") => {
            return Err(ConfigError::invalid(
                doc.value_location(&pointer_in(doc, scopes, "main")),
                format!("`main` is \"{main}\", which is not a Python module"),
                Some(
                    "point \"main\" at the Worker's .py entry module, e.g. \"src/entry.py\"".into(),
                ),
            ));
        }
        Some(_) => {}
    }
    // A map, not a scan per name: configs with tens of thousands of vars exist.
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (name, _kind, rel) in cfg.binding_names() {
        let pointer = format!("{binding_scope}{rel}");
        if name.is_empty() {
            return Err(ConfigError::invalid(
                doc.value_location(&pointer),
                "a binding name is empty",
                Some("give every binding a name, e.g. \"binding\": \"MY_KV\"".into()),
            ));
        }
        if let Some(first) = seen.get(name) {
            return Err(ConfigError::invalid(
                doc.value_location(&pointer),
                format!(
                    "binding name `{name}` is already used (first at {})",
                    doc.value_location(first)
                ),
                Some("give each binding (vars, secrets, KV, R2, D1, DO, queues, services) a unique name".into()),
            ));
        }
        seen.insert(name, pointer);
    }
    checks::check(doc, cfg, binding_scope, scopes)
}
