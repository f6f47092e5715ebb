//! Render the `js` stub package (`js-stubs/__init__.pyi`) from a wrangler
//! config, with no Node and no network.
//!
//! Why `js.Env`: the workers SDK (workers-runtime-sdk) annotates
//! `WorkerEntrypoint.env` / `DurableObject.env` as `js.Env` and `ctx` as
//! `js.ExecutionContext` / `js.DurableObjectState` (imported under
//! `TYPE_CHECKING`), exactly what the original pywrangler relies on. So we do
//! not need a generic `WorkerEntrypoint[Env]`: declaring `class Env` (one
//! attribute per binding) in a PEP 561 stub package for `js` makes mypy check
//! `self.env.<BINDING>` in ordinary SDK code. mypy finds `js-stubs` when it
//! is run on the directory holding it (`mypy src`, or `[tool.mypy] files =
//! ["src"]`), and needs workers-runtime-sdk installed (`sync` puts it in
//! `.venv-workers`), since the stub takes `Request`/`Response` from `workers`.
//!
//! Types follow what the SDK's binding wrappers return: JS methods keep their
//! JS names (`getWithMetadata`, `sendBatch`, `idFromName`), promises are
//! `Awaitable[...]`, result objects are `TypedDict`s (the SDK converts them
//! to dicts), options can be passed as a dict or as keyword arguments.
//! Durable Object stubs and service bindings type `fetch` precisely and any
//! other attribute as an RPC method returning `Awaitable[Any]` (the DO class's
//! own method signatures are not read). Other `js` globals are `Any`.

pub(crate) mod json_shape;

use std::fmt::Write as _;

use crate::config::{BindingKind, WranglerConfig};

use json_shape::Shapes;

/// The binding and runtime classes every generated stub contains.
const PRELUDE: &str = include_str!("prelude.pyi");

/// What the stub is generated from.
#[derive(Debug, Clone)]
pub struct TypesInput<'a> {
    /// The env-resolved config.
    pub config: &'a WranglerConfig,
    /// The config path as shown in the header (keep it relative for reproducible output).
    pub source: String,
    /// The `--env` in effect.
    pub env: Option<&'a str>,
    /// Secret names from `.dev.vars` (added to `secrets.required`).
    pub dev_var_secrets: Vec<String>,
}

/// The generated stub text and the bindings that could not be declared.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Contents of `js-stubs/__init__.pyi`.
    pub stub: String,
    /// Number of `Env` attributes declared.
    pub bindings: usize,
    /// Binding names left out (not Python identifiers), with the reason.
    pub skipped: Vec<String>,
}

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !KEYWORDS.contains(&name)
}

/// Render the stub for `input`.
pub fn render(input: &TypesInput<'_>) -> Rendered {
    let cfg = input.config;
    let mut shapes = Shapes::default();
    let mut attrs: Vec<(String, String, String)> = Vec::new();
    // Names already declared: a set, as configs can hold tens of thousands of vars.
    let mut declared: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut skipped = Vec::new();
    let mut add = |name: &str, ty: String, note: String, skipped: &mut Vec<String>| {
        if !is_identifier(name) {
            skipped.push(format!(
                "binding `{name}` is not a Python identifier, so it is not declared on `Env` \
                 (reach it with getattr(self.env, \"{name}\"))"
            ));
            return;
        }
        if !declared.insert(name.to_string()) {
            return;
        }
        attrs.push((name.to_string(), ty, note));
    };

    for (name, kind, _) in cfg.binding_names() {
        let (ty, note) = match crate::bindings::of(kind) {
            Some(unit) => {
                let mut stub = crate::bindings::Stub {
                    cfg,
                    shapes: &mut shapes,
                };
                (unit.stub)(&mut stub, name, kind)
            }
            None => {
                let (ty, note) = other_kind(kind);
                let note = match kind.cloudflare_only() {
                    Some(service) => format!("{service} (Cloudflare only)"),
                    None => note.to_string(),
                };
                (ty.into(), note)
            }
        };
        add(name, ty, note, &mut skipped);
    }
    let mut dev_secrets = input.dev_var_secrets.clone();
    dev_secrets.sort();
    for name in &dev_secrets {
        add(
            name,
            "str".into(),
            "secret (.dev.vars)".into(),
            &mut skipped,
        );
    }

    let mut out = String::new();
    out.push_str("# Generated by `pywrangler-rs types` from ");
    out.push_str(&input.source);
    if let Some(env) = input.env {
        let _ = write!(out, " (env: {env})");
    }
    out.push_str(".\n# Do not edit: re-run `pywrangler-rs types` after changing bindings.\n");
    out.push_str(
        "# The workers SDK types `self.env` as `js.Env`; run mypy on the directory holding\n",
    );
    out.push_str("# `js-stubs` (e.g. `mypy src`) so that it finds this package.\n\n");
    out.push_str(PRELUDE);
    out.push_str(
        "\n# --- This Worker's bindings ---------------------------------------------\n\n",
    );
    let decls = shapes.render();
    if !decls.is_empty() {
        out.push_str(&decls);
        out.push('\n');
    }
    out.push_str("class Env:\n");
    if attrs.is_empty() {
        out.push_str("    pass\n");
    }
    for (name, ty, note) in &attrs {
        let _ = writeln!(out, "    {name}: {ty}  # {note}");
    }
    Rendered {
        stub: out,
        bindings: attrs.len(),
        skipped,
    }
}

/// Stub type and comment of the kinds not yet in [`crate::bindings::KINDS`].
fn other_kind(kind: BindingKind) -> (&'static str, &'static str) {
    use BindingKind as K;
    match kind {
        K::Workflow => ("Workflow", "workflow"),
        K::Assets => ("Fetcher", "static assets"),
        K::SendEmail => ("SendEmail", "send_email"),
        K::SecretsStoreSecret => ("SecretsStoreSecret", "secrets store secret"),
        K::RateLimit => ("RateLimit", "rate limit"),
        // Cloudflare-only kinds: the note is `BindingKind::cloudflare_only`'s.
        K::Ai => ("Ai", ""),
        K::Vectorize => ("VectorizeIndex", ""),
        K::Browser | K::MtlsCertificate | K::VpcService | K::VpcNetwork => ("Fetcher", ""),
        K::DispatchNamespace => ("DispatchNamespace", ""),
        K::Images
        | K::Media
        | K::Stream
        | K::AiSearchNamespace
        | K::AiSearch
        | K::AgentMemory
        | K::Artifacts
        | K::Flagship
        | K::WebSearch
        | K::Logfwdr => ("CloudflareBinding", ""),
        K::UnsafeHelloWorld | K::Unsafe => ("Any", "unsafe binding"),
        // The kinds in the registry declare their own stubs.
        _ => ("Any", "binding"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("MY_KV"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("my-kv"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier("class"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn every_binding_kind_gets_a_typed_attribute() {
        let cfg: WranglerConfig = serde_json::from_value(serde_json::json!({
            "ai": {"binding": "AI"},
            "workflows": [{"binding": "WF", "name": "w", "class_name": "W"}],
            "ratelimits": [{"name": "RL", "namespace_id": "1", "simple": {"limit": 1, "period": 10}}],
            "version_metadata": {"binding": "VM"},
            "assets": {"directory": "public", "binding": "ASSETS"},
        }))
        .expect("config");
        let r = render(&TypesInput {
            config: &cfg,
            source: "wrangler.jsonc".into(),
            env: None,
            dev_var_secrets: vec![],
        });
        for line in [
            "    WF: Workflow  # workflow\n",
            "    ASSETS: Fetcher  # static assets\n",
            "    RL: RateLimit  # rate limit\n",
            "    VM: WorkerVersionMetadata  # version metadata\n",
            "    AI: Ai  # Workers AI (Cloudflare only)\n",
        ] {
            assert!(r.stub.contains(line), "missing {line:?} in\n{}", r.stub);
        }
        assert!(
            r.stub.contains("\nclass Workflow:\n"),
            "the prelude declares it"
        );
    }

    #[test]
    fn env_lists_each_binding_once_and_skips_bad_names() {
        let cfg = WranglerConfig {
            vars: [
                ("A".to_string(), serde_json::json!("x")),
                ("my-var".to_string(), serde_json::json!("y")),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let r = render(&TypesInput {
            config: &cfg,
            source: "wrangler.jsonc".into(),
            env: Some("dev"),
            dev_var_secrets: vec!["TOKEN".into(), "A".into()],
        });
        assert!(
            r.stub.starts_with(
                "# Generated by `pywrangler-rs types` from wrangler.jsonc (env: dev).\n"
            )
        );
        assert!(
            r.stub
                .contains("class Env:\n    A: str  # var\n    TOKEN: str  # secret (.dev.vars)\n")
        );
        assert_eq!(r.bindings, 2);
        assert_eq!(r.skipped.len(), 1);
    }

    /// Regression (issue 10, item 12): `types` with 60,000 vars took 9 s in
    /// `render` alone, scanning every declared name (and `TypedDict`) for each
    /// new one (120,000 would take about 36 s). Linear, they render in 2–7 s on a busy
    /// 2-core machine; the 15 s bound sits between.
    #[test]
    fn many_vars_render_in_linear_time() {
        let mut vars = serde_json::Map::new();
        for i in 0..100_000 {
            vars.insert(format!("VAR_{i}"), serde_json::json!("x"));
        }
        for i in 0..20_000 {
            // Distinct shapes, so each needs its own TypedDict.
            vars.insert(
                format!("JSON_{i}"),
                serde_json::json!({ format!("k{i}"): 1 }),
            );
        }
        let cfg = WranglerConfig {
            vars: vars.into_iter().collect(),
            ..Default::default()
        };
        let t = std::time::Instant::now();
        let r = render(&TypesInput {
            config: &cfg,
            source: "wrangler.jsonc".into(),
            env: None,
            dev_var_secrets: vec!["VAR_7".into()],
        });
        let took = t.elapsed();
        assert_eq!(r.bindings, 120_000);
        assert!(r.stub.contains("_Var_JSON_19999 = TypedDict("));
        assert!(
            took < std::time::Duration::from_secs(15),
            "render took {took:?}"
        );
    }
}
