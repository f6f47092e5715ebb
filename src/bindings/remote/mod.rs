//! The kinds that run only on Cloudflare (Workers AI, Vectorize, Browser
//! Rendering, Images, …): each reaches a remote resource, so under `dev`
//! the binding exists in `env` and a call to it fails with one message that
//! says it runs only on Cloudflare and how to reach it (the guest's
//! `RemoteOnlyBinding`). `deploy` sends each in wrangler's shape, and
//! `types` gives its stub. Their config shapes are in `crate::config`'s
//! `bindings.rs` (several share one shape).

use serde_json::{Value, json};

use super::{Declared, DevEnv, Kind, Stub, declare_list, declare_one};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;

pub const KIND: Kind = Kind {
    kinds: {
        use BindingKind as K;
        &[
            K::Ai,
            K::Vectorize,
            K::Browser,
            K::Images,
            K::Media,
            K::Stream,
            K::MtlsCertificate,
            K::DispatchNamespace,
            K::Logfwdr,
            K::AiSearchNamespace,
            K::AiSearch,
            K::AgentMemory,
            K::Artifacts,
            K::Flagship,
            K::VpcService,
            K::VpcNetwork,
            K::WebSearch,
        ]
    },
    declared,
    dev,
    upload,
    stub,
    host: None,
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    use BindingKind as K;
    declare_one(out, "ai", cfg.ai.as_ref(), K::Ai, |b| &b.binding);
    declare_list(out, "vectorize", &cfg.vectorize, K::Vectorize, |b| {
        &b.binding
    });
    declare_one(out, "browser", cfg.browser.as_ref(), K::Browser, |b| {
        &b.binding
    });
    declare_one(out, "images", cfg.images.as_ref(), K::Images, |b| {
        &b.binding
    });
    declare_one(out, "media", cfg.media.as_ref(), K::Media, |b| &b.binding);
    declare_one(out, "stream", cfg.stream.as_ref(), K::Stream, |b| {
        &b.binding
    });
    let mtls = &cfg.mtls_certificates;
    declare_list(out, "mtls_certificates", mtls, K::MtlsCertificate, |b| {
        &b.binding
    });
    let dn = &cfg.dispatch_namespaces;
    declare_list(out, "dispatch_namespaces", dn, K::DispatchNamespace, |b| {
        &b.binding
    });
    if let Some(l) = &cfg.logfwdr {
        declare_list(out, "logfwdr/bindings", &l.bindings, K::Logfwdr, |b| {
            &b.name
        });
    }
    let asn = &cfg.ai_search_namespaces;
    declare_list(
        out,
        "ai_search_namespaces",
        asn,
        K::AiSearchNamespace,
        |b| &b.binding,
    );
    declare_list(out, "ai_search", &cfg.ai_search, K::AiSearch, |b| {
        &b.binding
    });
    declare_list(
        out,
        "agent_memory",
        &cfg.agent_memory,
        K::AgentMemory,
        |b| &b.binding,
    );
    declare_list(out, "artifacts", &cfg.artifacts, K::Artifacts, |b| {
        &b.binding
    });
    declare_list(out, "flagship", &cfg.flagship, K::Flagship, |b| &b.binding);
    declare_list(out, "vpc_services", &cfg.vpc_services, K::VpcService, |b| {
        &b.binding
    });
    declare_list(out, "vpc_networks", &cfg.vpc_networks, K::VpcNetwork, |b| {
        &b.binding
    });
    declare_one(
        out,
        "websearch",
        cfg.websearch.as_ref(),
        K::WebSearch,
        |b| &b.binding,
    );
}

/// Each binding is a `RemoteOnlyBinding` naming its service, listed once at
/// start among those that run only on Cloudflare.
fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    let mut names = Vec::new();
    declared(d.cfg, &mut names);
    names.sort_by_key(|(_, kind, _)| *kind);
    for (name, kind, _) in names {
        let what = kind.cloudflare_only().unwrap_or("Cloudflare");
        d.notes.remote_only.push(format!("{name} ({what})"));
        d.env.insert(
            name.to_string(),
            json!({"type": "remote_only", "what": what}),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, kind: BindingKind, out: &mut Vec<Value>) {
    use BindingKind as K;
    match kind {
        K::Vectorize => {
            for v in &cfg.vectorize {
                out.push(
                    json!({"name": v.binding, "type": "vectorize", "index_name": v.index_name}),
                );
            }
        }
        K::AiSearchNamespace => {
            for n in &cfg.ai_search_namespaces {
                out.push(
                json!({"name": n.binding, "type": "ai_search_namespace", "namespace": n.namespace}),
            );
            }
        }
        K::AiSearch => {
            for a in &cfg.ai_search {
                out.push(json!({"name": a.binding, "type": "ai_search", "instance_name": a.instance_name}));
            }
        }
        K::WebSearch => {
            if let Some(w) = &cfg.websearch {
                out.push(json!({"name": w.binding, "type": "websearch"}));
            }
        }
        K::AgentMemory => {
            for n in &cfg.agent_memory {
                out.push(
                    json!({"name": n.binding, "type": "agent_memory", "namespace": n.namespace}),
                );
            }
        }
        K::Artifacts => {
            for n in &cfg.artifacts {
                out.push(json!({"name": n.binding, "type": "artifacts", "namespace": n.namespace}));
            }
        }
        K::Flagship => {
            for f in &cfg.flagship {
                out.push(json!({"name": f.binding, "type": "flagship", "app_id": f.app_id}));
            }
        }
        K::VpcService => {
            for v in &cfg.vpc_services {
                out.push(
                    json!({"name": v.binding, "type": "vpc_service", "service_id": v.service_id}),
                );
            }
        }
        K::VpcNetwork => {
            for v in &cfg.vpc_networks {
                out.push(match (&v.tunnel_id, &v.network_id) {
                    (Some(t), _) => {
                        json!({"name": v.binding, "type": "vpc_network", "tunnel_id": t})
                    }
                    (None, n) => {
                        compact(json!({"name": v.binding, "type": "vpc_network", "network_id": n}))
                    }
                });
            }
        }
        K::DispatchNamespace => {
            for d in &cfg.dispatch_namespaces {
                let outbound = d.outbound.as_ref().map(|o| {
                    compact(json!({
                        "worker": {"service": o.service, "environment": o.environment},
                        "params": o.parameters.as_ref().map(|ps| {
                            ps.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()
                        }),
                    }))
                });
                out.push(compact(json!({
                    "name": d.binding,
                    "type": "dispatch_namespace",
                    "namespace": d.namespace,
                    "outbound": outbound,
                })));
            }
        }
        K::MtlsCertificate => {
            for m in &cfg.mtls_certificates {
                out.push(json!({
                    "name": m.binding,
                    "type": "mtls_certificate",
                    "certificate_id": m.certificate_id,
                }));
            }
        }
        K::Logfwdr => {
            for l in cfg.logfwdr.iter().flat_map(|l| &l.bindings) {
                out.push(json!({"name": l.name, "type": "logfwdr", "destination": l.destination}));
            }
        }
        K::Browser => {
            if let Some(b) = &cfg.browser {
                out.push(json!({"name": b.binding, "type": "browser"}));
            }
        }
        K::Ai => {
            if let Some(a) = &cfg.ai {
                out.push(compact(
                    json!({"name": a.binding, "staging": a.staging, "type": "ai"}),
                ));
            }
        }
        K::Images => {
            if let Some(b) = &cfg.images {
                out.push(json!({"name": b.binding, "type": "images"}));
            }
        }
        K::Stream => {
            if let Some(b) = &cfg.stream {
                out.push(json!({"name": b.binding, "type": "stream"}));
            }
        }
        K::Media => {
            if let Some(b) = &cfg.media {
                out.push(json!({"name": b.binding, "type": "media"}));
            }
        }
        _ => {}
    }
}

fn stub(_: &mut Stub<'_>, _: &str, kind: BindingKind) -> (String, String) {
    use BindingKind as K;
    let ty = match kind {
        K::Ai => "Ai",
        K::Vectorize => "VectorizeIndex",
        K::Browser | K::MtlsCertificate | K::VpcService | K::VpcNetwork => "Fetcher",
        K::DispatchNamespace => "DispatchNamespace",
        _ => "CloudflareBinding",
    };
    let service = kind.cloudflare_only().unwrap_or("Cloudflare");
    (ty.into(), format!("{service} (Cloudflare only)"))
}
