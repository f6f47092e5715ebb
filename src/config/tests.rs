//! Unit tests for config loading: every binding kind, env inheritance,
//! error positions and project discovery.

use std::path::Path;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn load_str(name: &str, text: &str, env: Option<&str>) -> Result<WranglerFile, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), name, text);
    load_wrangler(&p, env)
}

const FULL: &str = r#"{
  // every binding kind
  "name": "full",
  "main": "src/entry.py",
  "compatibility_date": "2025-11-02",
  "compatibility_flags": ["python_workers"],
  "account_id": "acc",
  "vars": { "GREETING": "hi", "CONF": { "a": 1, "b": [true, null] }, "N": 3 },
  "kv_namespaces": [{ "binding": "KV", "id": "kv-id", "preview_id": "kv-prev" }],
  "r2_buckets": [{ "binding": "BUCKET", "bucket_name": "bkt", "jurisdiction": "eu" }],
  "d1_databases": [{ "binding": "DB", "database_name": "d", "database_id": "uuid", "migrations_dir": "db/migrations" }],
  "durable_objects": { "bindings": [{ "name": "MY_DO", "class_name": "MyDO", "script_name": "other" }] },
  "migrations": [
    { "tag": "v1", "new_sqlite_classes": ["MyDO"], "new_classes": ["Old"] },
    { "tag": "v2", "renamed_classes": [{ "from": "A", "to": "B" }], "deleted_classes": ["C"],
      "transferred_classes": [{ "from": "X", "from_script": "s", "to": "Y" }] },
  ],
  "triggers": { "crons": ["*/5 * * * *"] },
  "queues": {
    "producers": [{ "binding": "Q", "queue": "q", "delivery_delay": 5 }],
    "consumers": [{ "queue": "q", "max_batch_size": 10, "max_batch_timeout": 5, "max_retries": 3,
                    "dead_letter_queue": "dlq", "max_concurrency": 2, "retry_delay": 1 }],
  },
  "services": [{ "binding": "SVC", "service": "other", "entrypoint": "Foo" }],
  "secrets": { "required": ["TOKEN"] },
  "observability": { "enabled": true, "logs": { "invocation_logs": true } },
  "workers_dev": false,
  "preview_urls": true,
  "routes": ["ex.com/a/*", { "pattern": "ex.com/*", "zone_name": "ex.com" }],
  "python_modules": { "exclude": ["**/*.pyc", "**/tests/**"] },
  "limits": { "cpu_ms": 50 },
  "placement": { "mode": "smart" },
  "logpush": true,
  "tail_consumers": [{ "service": "tail" }],
  "rules": [{ "type": "Text", "globs": ["**/*.sql"] }],
  "no_bundle": true,
  "keep_vars": true,
}"#;

#[test]
fn every_binding_kind_is_typed() {
    let w = load_str("wrangler.jsonc", FULL, None).expect("loads");
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    let c = &w.config;
    assert_eq!(w.python, PythonVersion::Py313);
    assert_eq!(c.vars["GREETING"], "hi");
    assert_eq!(c.vars["CONF"]["b"][0], true);
    assert_eq!(c.vars["N"], 3);
    assert_eq!(c.kv_namespaces[0].preview_id.as_deref(), Some("kv-prev"));
    assert_eq!(c.r2_buckets[0].jurisdiction.as_deref(), Some("eu"));
    assert_eq!(
        c.d1_databases[0].migrations_dir.as_deref(),
        Some("db/migrations")
    );
    assert_eq!(
        c.durable_objects.bindings[0].script_name.as_deref(),
        Some("other")
    );
    assert_eq!(c.migrations[0].new_sqlite_classes, ["MyDO"]);
    assert_eq!(c.migrations[1].renamed_classes[0].to, "B");
    assert_eq!(c.migrations[1].transferred_classes[0].from_script, "s");
    assert_eq!(c.triggers.as_ref().map(|t| t.crons.len()), Some(1));
    assert_eq!(c.queues.producers[0].delivery_delay, Some(5));
    assert_eq!(
        c.queues.consumers[0].dead_letter_queue.as_deref(),
        Some("dlq")
    );
    assert_eq!(c.services[0].entrypoint.as_deref(), Some("Foo"));
    assert_eq!(
        c.secrets.as_ref().map(|s| s.required.clone()),
        Some(vec!["TOKEN".into()])
    );
    assert_eq!(c.routes[0], Route::Pattern("ex.com/a/*".into()));
    assert_eq!(c.routes[1].pattern(), "ex.com/*");
    assert_eq!(c.python_modules.exclude.len(), 2);
    assert_eq!(c.limits.as_ref().and_then(|l| l.cpu_ms), Some(50));
    assert_eq!(c.rules[0].kind, "Text");
    assert_eq!(c.tail_consumers[0].service, "tail");
    assert_eq!(c.keep_vars, Some(true));
    assert_eq!(w.main_module_name(), "entry");
    assert_eq!(w.worker_name(), Some("full"));
    let names: Vec<&str> = c.binding_names().into_iter().map(|(n, _, _)| n).collect();
    assert_eq!(
        names,
        [
            "CONF", "GREETING", "N", "TOKEN", "KV", "BUCKET", "DB", "MY_DO", "Q", "SVC"
        ]
    );
}

/// Files saved on Windows end lines with `\r\n`: the same config either way.
#[test]
fn windows_line_endings_load_the_same_config() {
    let crlf = |t: &str| t.replace('\n', "\r\n");
    let lf = load_str("wrangler.jsonc", FULL, None).expect("loads");
    let w = load_str("wrangler.jsonc", &crlf(FULL), None).expect("loads with CRLF");
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    assert_eq!(w.config.name, lf.config.name);
    assert_eq!(w.config.main.as_deref(), Some("src/entry.py"));
    assert_eq!(w.config.vars, lf.config.vars);
    let toml = "name = \"t\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n[vars]\nA = \"x\"\n";
    let t = load_str("wrangler.toml", &crlf(toml), None).expect("toml loads with CRLF");
    assert_eq!(t.config.main.as_deref(), Some("src/entry.py"));
    assert_eq!(t.config.vars["A"], "x");
}

#[test]
fn toml_config_has_the_same_shape() {
    let text = r#"
name = "t"
main = "src/entry.py"
compatibility_date = 2026-09-08
compatibility_flags = ["python_workers"]
route = "ex.com/*"

[vars]
A = "x"
J = { k = [1, 2] }

[[kv_namespaces]]
binding = "KV"
id = "1"

[[durable_objects.bindings]]
name = "D"
class_name = "Cls"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Cls"]

[[queues.consumers]]
queue = "q"
max_batch_timeout = 0.5

[triggers]
crons = []
"#;
    let w = load_str("wrangler.toml", text, None).expect("loads");
    assert_eq!(w.python, PythonVersion::Py314);
    assert_eq!(w.config.compatibility_date.as_deref(), Some("2026-09-08"));
    assert_eq!(w.config.vars["J"]["k"][1], 2);
    assert_eq!(w.config.durable_objects.bindings[0].class_name, "Cls");
    assert_eq!(w.config.queues.consumers[0].max_batch_timeout, Some(0.5));
    assert_eq!(w.config.triggers, Some(Triggers { crons: vec![] }));
    assert_eq!(w.config.all_routes().len(), 1);
}

const ENVS: &str = r#"{
  "name": "app",
  "main": "src/entry.py",
  "compatibility_date": "2025-01-01",
  "compatibility_flags": ["python_workers"],
  "account_id": "acc",
  "workers_dev": true,
  "routes": ["a.com/*"],
  "triggers": { "crons": ["0 * * * *"] },
  "observability": { "enabled": true },
  "migrations": [{ "tag": "v1", "new_sqlite_classes": ["D"] }],
  "python_modules": { "exclude": ["x"] },
  "vars": { "V": "top" },
  "kv_namespaces": [{ "binding": "KV", "id": "top" }],
  "services": [{ "binding": "S", "service": "s" }],
  "tail_consumers": [{ "service": "t" }],
  "secrets": { "required": ["TOKEN"] },
  "env": {
    "staging": {
      "vars": { "V": "stg" },
      "kv_namespaces": [{ "binding": "KV", "id": "stg" }],
      "compatibility_flags": ["python_workers", "python_workers_20250116"],
      "routes": ["stg.a.com/*"],
    },
    "prod": { "name": "app-production", "main": "src/prod.py", "workers_dev": false },
  },
}"#;

#[test]
fn no_env_uses_top_level() {
    let w = load_str("wrangler.jsonc", ENVS, None).expect("loads");
    assert_eq!(w.worker_name(), Some("app"));
    assert_eq!(w.config.vars["V"], "top");
    assert_eq!(w.python, PythonVersion::Py312);
}

#[test]
fn env_inherits_top_level_settings_but_not_bindings() {
    let w = load_str("wrangler.jsonc", ENVS, Some("staging")).expect("loads");
    let c = &w.config;
    assert_eq!(w.worker_name(), Some("app-staging"));
    // Overridden by the env.
    assert_eq!(c.vars["V"], "stg");
    assert_eq!(c.kv_namespaces[0].id.as_deref(), Some("stg"));
    assert_eq!(c.routes, [Route::Pattern("stg.a.com/*".into())]);
    assert_eq!(w.python, PythonVersion::Py313);
    // Inherited.
    assert_eq!(c.main.as_deref(), Some("src/entry.py"));
    assert_eq!(c.account_id.as_deref(), Some("acc"));
    assert_eq!(c.workers_dev, Some(true));
    assert_eq!(c.compatibility_date.as_deref(), Some("2025-01-01"));
    assert_eq!(
        c.triggers.as_ref().map(|t| t.crons.clone()),
        Some(vec!["0 * * * *".into()])
    );
    assert_eq!(c.observability.as_ref().and_then(|o| o.enabled), Some(true));
    assert_eq!(c.migrations.len(), 1);
    assert_eq!(c.python_modules.exclude, ["x"]);
    // Not inherited: services, secrets, tail consumers.
    assert!(c.services.is_empty());
    assert!(c.secrets.is_none());
    assert!(c.tail_consumers.is_empty());
    // ... and the user is told.
    for key in ["services", "secrets", "tail_consumers"] {
        assert!(
            w.warnings
                .iter()
                .any(|m| m.contains(&format!("`{key}` exists at the top level"))),
            "{key}: {:?}",
            w.warnings
        );
    }
    assert!(
        !w.warnings.iter().any(|m| m.contains("`vars` exists")),
        "{:?}",
        w.warnings
    );
}

#[test]
fn env_can_override_name_and_inherited_keys() {
    let w = load_str("wrangler.jsonc", ENVS, Some("prod")).expect("loads");
    assert_eq!(w.worker_name(), Some("app-production"));
    assert_eq!(w.config.main.as_deref(), Some("src/prod.py"));
    assert_eq!(w.config.workers_dev, Some(false));
    assert!(w.config.vars.is_empty());
    assert!(w.config.kv_namespaces.is_empty());
    assert_eq!(w.main_module_name(), "prod");
}

#[test]
fn unknown_env_lists_the_available_ones() {
    let err = load_str("wrangler.jsonc", ENVS, Some("qa")).expect_err("no qa");
    assert!(
        err.to_string().contains("environment `qa` not found"),
        "{err}"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("available environments: prod, staging")
    );
}

#[test]
fn type_errors_point_into_the_file() {
    let text =
        "{\n  \"main\": \"src/entry.py\",\n  \"kv_namespaces\": [\n    { \"id\": \"x\" }\n  ]\n}";
    let err = load_str("wrangler.jsonc", text, None).expect_err("no binding");
    let msg = err.to_string();
    assert!(
        msg.contains("wrangler.jsonc:4:5: invalid `kv_namespaces[0]`: missing field `binding`"),
        "{msg}"
    );
    assert!(
        err.hint()
            .is_some_and(|h| h.contains("\"binding\": \"KV\""))
    );

    let text = "{\n  \"main\": \"src/entry.py\",\n  \"vars\": [\"a\"]\n}";
    let err = load_str("wrangler.jsonc", text, None).expect_err("vars list");
    assert!(
        err.to_string()
            .contains("wrangler.jsonc:3:11: invalid `vars`: invalid type: sequence"),
        "{err}"
    );

    let text = "main = \"src/entry.py\"\n[env.dev]\ncompatibility_flags = \"python_workers\"\n";
    let err = load_str("wrangler.toml", text, Some("dev")).expect_err("string flags");
    assert!(
        err.to_string()
            .contains("wrangler.toml:3:23: invalid `env.dev.compatibility_flags`"),
        "{err}"
    );
}

#[test]
fn unknown_keys_warn_with_positions() {
    let text = r#"{
  "main": "src/entry.py",
  "compatibility_date": "2025-01-01",
  "compatibility_flags": ["python_workers"],
  "mian": 1,
  "site": { "bucket": "./public" },
  "kv_namespaces": [{ "binding": "KV", "idd": "x" }]
}"#;
    let w = load_str("wrangler.jsonc", text, None).expect("warnings only");
    assert_eq!(w.warnings.len(), 3, "{:?}", w.warnings);
    assert!(
        w.warnings[0].contains(":5:3:"),
        "file order: {:?}",
        w.warnings
    );
    let all = w.warnings.join("\n");
    assert!(all.contains(":5:3: unknown key `mian`"), "{all}");
    assert!(
        all.contains(":6:3: `site` is not supported by pywrangler-rs yet"),
        "{all}"
    );
    assert!(
        all.contains(":7:40: unknown key `kv_namespaces[0].idd`"),
        "{all}"
    );
    // A typo at the top level only warns; what deploy would drop blocks it.
    let blockers = w.deploy_blockers.join("\n");
    assert_eq!(w.deploy_blockers.len(), 2, "{blockers}");
    assert!(
        blockers.contains(":6:3: `site` is not supported"),
        "{blockers}"
    );
    assert!(
        blockers.contains(":7:40: `kv_namespaces[0].idd` is not a key pywrangler-rs knows"),
        "{blockers}"
    );
}

#[test]
fn every_wrangler_binding_kind_loads_without_warnings() {
    let text = r#"{
  "main": "src/entry.py",
  "compatibility_date": "2025-11-02",
  "compatibility_flags": ["python_workers"],
  "kv_namespaces": [{ "binding": "KV", "id": "k", "remote": true }],
  "r2_buckets": [{ "binding": "R2", "bucket_name": "bkt", "remote": false }],
  "d1_databases": [{ "binding": "DB", "database_id": "d", "database_internal_env": "x", "remote": true }],
  "services": [{ "binding": "SVC", "service": "s", "props": { "a": 1 }, "remote": true }],
  "queues": { "producers": [{ "binding": "Q", "queue": "q", "remote": true }],
              "consumers": [{ "queue": "q", "type": "worker", "visibility_timeout_ms": 5 }] },
  "workflows": [{ "binding": "WF", "name": "wf", "class_name": "W", "limits": { "steps": 3 } }],
  "assets": { "directory": "public", "binding": "ASSETS", "html_handling": "none",
              "not_found_handling": "404-page", "run_worker_first": ["/api/*"] },
  "send_email": [{ "name": "EMAIL", "allowed_sender_addresses": ["a@b.c"] }],
  "analytics_engine_datasets": [{ "binding": "AE" }],
  "hyperdrive": [{ "binding": "HD", "id": "h", "localConnectionString": "postgres://x" }],
  "secrets_store_secrets": [{ "binding": "SS", "store_id": "s", "secret_name": "n" }],
  "ratelimits": [{ "name": "RL", "namespace_id": "1", "simple": { "limit": 1, "period": 10 } }],
  "version_metadata": { "binding": "VM" },
  "worker_loaders": [{ "binding": "LOADER" }],
  "ai": { "binding": "AI", "remote": true },
  "vectorize": [{ "binding": "VEC", "index_name": "i" }],
  "browser": { "binding": "BROWSER" },
  "images": { "binding": "IMAGES" },
  "media": { "binding": "MEDIA" },
  "stream": { "binding": "STREAM" },
  "mtls_certificates": [{ "binding": "CERT", "certificate_id": "c" }],
  "dispatch_namespaces": [{ "binding": "DN", "namespace": "n", "outbound": { "service": "o", "parameters": ["p"] } }],
  "pipelines": [{ "binding": "PIPE", "pipeline": "p" }],
  "logfwdr": { "bindings": [{ "name": "LOG", "destination": "d" }] },
  "ai_search_namespaces": [{ "binding": "ASN", "namespace": "n" }],
  "ai_search": [{ "binding": "AS", "instance_name": "i" }],
  "agent_memory": [{ "binding": "MEM", "namespace": "n" }],
  "artifacts": [{ "binding": "ART", "namespace": "n" }],
  "flagship": [{ "binding": "FLAG", "app_id": "a" }],
  "vpc_services": [{ "binding": "VPC", "service_id": "s" }],
  "vpc_networks": [{ "binding": "VPCN", "network_id": "n" }],
  "websearch": { "binding": "WEB" },
  "unsafe_hello_world": [{ "binding": "HELLO", "enable_timer": true }],
  "unsafe": { "bindings": [{ "name": "U", "type": "x", "extra": 1 }], "metadata": { "k": 1 } },
  "streaming_tail_consumers": [{ "service": "t" }]
}"#;
    let w = load_str("wrangler.jsonc", text, None).expect("loads");
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
    assert!(w.deploy_blockers.is_empty(), "{:?}", w.deploy_blockers);
    assert_eq!(w.config.binding_names().len(), 34);
    assert_eq!(
        w.config
            .assets
            .as_ref()
            .and_then(|a| a.run_worker_first.clone()),
        Some(RunWorkerFirst::Rules(vec!["/api/*".into()]))
    );
    let u = &w.config.unsafe_.as_ref().expect("unsafe").bindings[0];
    assert_eq!(u.rest.get("extra"), Some(&serde_json::json!(1)));
}

#[test]
fn binding_names_are_unique_across_every_kind() {
    let text = r#"{
  "main": "src/entry.py",
  "compatibility_date": "2025-11-02",
  "compatibility_flags": ["python_workers"],
  "vars": { "AI": "x" },
  "ai": { "binding": "AI" }
}"#;
    let err = load_str("wrangler.jsonc", text, None).expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("binding name `AI` is already used"),
        "{err}"
    );
}

#[test]
fn an_env_deploy_is_not_blocked_by_the_top_levels_bindings() {
    let text = r#"{
  "main": "src/entry.py",
  "compatibility_date": "2025-11-02",
  "compatibility_flags": ["python_workers"],
  "kv_namespaces": [{ "binding": "KV", "idd": "x" }],
  "env": { "prod": { "kv_namespaces": [{ "binding": "KV", "id": "k" }], "d1_databases": [{ "binding": "DB", "database_id": "d", "typo": 1 }] } }
}"#;
    let w = load_str("wrangler.jsonc", text, Some("prod")).expect("loads");
    assert_eq!(w.deploy_blockers.len(), 1, "{:?}", w.deploy_blockers);
    assert!(
        w.deploy_blockers[0].contains("env.prod.d1_databases[0].typo"),
        "{:?}",
        w.deploy_blockers
    );
}

#[test]
fn validation_errors() {
    let base = |extra: &str| {
        format!(
            "{{\"compatibility_date\": \"2025-01-01\", \"compatibility_flags\": [\"python_workers\"]{extra}}}"
        )
    };
    let err = load_str("wrangler.json", &base(""), None).expect_err("no main");
    assert!(err.to_string().ends_with("`main` is not set"), "{err}");
    let err =
        load_str("wrangler.json", &base(", \"main\": \"src/index.ts\""), None).expect_err("ts");
    assert!(err.to_string().contains("not a Python module"), "{err}");
    let dup = base(
        ", \"main\": \"a.py\", \"vars\": {\"X\": \"1\"}, \"kv_namespaces\": [{\"binding\": \"X\"}]",
    );
    let err = load_str("wrangler.json", &dup, None).expect_err("duplicate");
    assert!(
        err.to_string().contains("binding name `X` is already used"),
        "{err}"
    );

    let err = load_str(
        "wrangler.json",
        "{\"main\": \"a.py\", \"compatibility_date\": \"2025-01-01\"}",
        None,
    )
    .expect_err("flag");
    assert!(matches!(
        err,
        ConfigError::Python {
            source: python_version::PythonVersionError::MissingFlag,
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("`python_workers` compat flag not specified"),
        "{err}"
    );
    let err = load_str(
        "wrangler.json",
        "{\"main\": \"a.py\", \"compatibility_flags\": [\"python_workers\"]}",
        None,
    )
    .expect_err("date");
    assert!(
        err.to_string()
            .ends_with("No compatibility_date specified in wrangler config"),
        "{err}"
    );
    let text = "{\"main\": \"a.py\", \"compatibility_flags\": [\"python_workers\"],\n \"compatibility_date\": \"2025/01/01\"}";
    let err = load_str("wrangler.json", text, None).expect_err("bad date");
    assert!(
        err.to_string()
            .contains(":2:24: Invalid compatibility_date format: 2025/01/01"),
        "{err}"
    );
}

#[test]
fn project_discovery_and_precedence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let sub = root.join("src/deep");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let err = Project::load(&sub, None, None).expect_err("no pyproject");
    assert!(matches!(err, ConfigError::PyprojectNotFound { .. }));

    write(
        root,
        "pyproject.toml",
        "[project]\nname = \"p\"\nversion = \"1\"\ndependencies = [\"six\"]\n",
    );
    let err = Project::load(&sub, None, None).expect_err("no wrangler");
    assert!(
        err.to_string()
            .contains("expected wrangler.json, wrangler.jsonc or wrangler.toml"),
        "{err}"
    );

    let cfg = |name: &str| {
        format!(
            "{{\"name\": \"{name}\", \"main\": \"src/entry.py\", \"compatibility_date\": \"2025-01-01\", \"compatibility_flags\": [\"python_workers\"]}}"
        )
    };
    write(
        root,
        "wrangler.toml",
        "name = \"from-toml\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-01-01\"\ncompatibility_flags = [\"python_workers\"]\n",
    );
    assert_eq!(
        Project::load(&sub, None, None).expect("toml").worker_name(),
        Some("from-toml")
    );
    write(root, "wrangler.jsonc", &cfg("from-jsonc"));
    assert_eq!(
        Project::load(&sub, None, None)
            .expect("jsonc")
            .worker_name(),
        Some("from-jsonc")
    );
    write(root, "wrangler.json", &cfg("from-json"));
    let p = Project::load(&sub, None, None).expect("json");
    assert_eq!(p.worker_name(), Some("from-json"));
    assert_eq!(p.root, root);
    assert_eq!(p.pyproject.dependencies, ["six"]);
    assert_eq!(p.module_root(), root.join("src"));
    assert_eq!(p.main_module_name(), "entry");

    let explicit = Project::load(root, Some(Path::new("wrangler.toml")), None).expect("-c");
    assert_eq!(explicit.worker_name(), Some("from-toml"));
    let err = Project::load(root, Some(Path::new("nope.toml")), None).expect_err("missing -c");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn base_dir_sets_module_root_and_module_name() {
    let text = "{\"main\": \"src/pkg/app.py\", \"base_dir\": \"src\", \"compatibility_date\": \"2025-01-01\", \"compatibility_flags\": [\"python_workers\"]}";
    let w = load_str("wrangler.json", text, None).expect("loads");
    assert!(w.module_root().ends_with("src"));
    assert_eq!(w.main_module_name(), "pkg.app");
}
