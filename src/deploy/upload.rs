//! wrangler's deploy call sequence against the API: check the service, upload
//! (PUT the script for new Workers or migrations, else POST a version and
//! deploy it at 100 %), patch script settings, then the triggers.

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use super::bundle::Bundle;
use super::form;
use crate::api::{self, Client, RequestBody};
use crate::printer;

/// wrangler's service/environment tag prefixes (dashboard grouping).
const SERVICE_TAG_PREFIX: &str = "cf:service=";
const ENVIRONMENT_TAG_PREFIX: &str = "cf:environment=";

/// Everything the upload needs besides the bundle.
#[derive(Debug, Clone, Default)]
pub struct UploadSpec {
    pub account_id: String,
    /// Script name (`<name>-<env>` under `--env`).
    pub script_name: String,
    /// Metadata without `migrations` (added here from the remote tag).
    pub metadata: Value,
    /// Config migrations, each an object with its `tag`.
    pub migrations: Vec<Value>,
    /// `secrets.required`: inherited from the deployed Worker, so it must exist.
    pub required_secrets: Vec<String>,
    /// `tail_consumers`, `logpush`, `observability` for `script-settings`.
    pub tail_consumers: Option<Value>,
    pub logpush: Option<bool>,
    pub observability: Option<Value>,
    /// Service tag (top-level name) and env tag, when the config defines environments.
    pub service_tag: Option<String>,
    pub environment_tag: Option<String>,
    pub triggers: TriggerSpec,
}

/// Triggers applied after the upload.
#[derive(Debug, Clone, Default)]
pub struct TriggerSpec {
    pub workers_dev: bool,
    pub preview_urls: Option<bool>,
    /// Route objects (`{"pattern", "zone_name"|"zone_id"}`).
    pub routes: Vec<Value>,
    /// `None` leaves schedules alone; `Some(vec![])` clears them.
    pub crons: Option<Vec<String>>,
    pub consumers: Vec<QueueConsumerSpec>,
    /// Queue names this Worker produces to (listed as targets, as wrangler does).
    pub producers: Vec<String>,
    /// Workflows defined by this Worker: `(name, body of PUT /workflows/<name>)`.
    pub workflows: Vec<(String, Value)>,
}

/// One queue consumer to attach this Worker to.
#[derive(Debug, Clone)]
pub struct QueueConsumerSpec {
    pub queue: String,
    /// The `{"type": "worker", ...}` body (without `script_name`, added here).
    pub body: Value,
}

/// What the deploy produced.
#[derive(Debug, Clone, Default)]
pub struct DeployOutcome {
    pub version_id: Option<String>,
    pub startup_time_ms: Option<u64>,
    pub first_deploy: bool,
    /// URLs and trigger descriptions to print.
    pub targets: Vec<String>,
}

/// The remote state of the service before the upload.
#[derive(Debug, Default)]
struct Remote {
    exists: bool,
    tags: Vec<String>,
    migration_tag: Option<String>,
}

/// Run the whole sequence.
pub fn deploy(
    client: &Client,
    spec: &UploadSpec,
    bundle: &Bundle,
) -> anyhow::Result<DeployOutcome> {
    let a = &spec.account_id;
    let name = &spec.script_name;
    let script = api::path(&["accounts", a, "workers", "scripts", name])?;
    let remote = service(client, a, name)?;
    if !remote.exists && !spec.required_secrets.is_empty() {
        anyhow::bail!(
            crate::diagnostics::UserError::new(format!(
                "the following required secrets have not been set: {}; {name} does not exist yet, so they cannot be inherited",
                spec.required_secrets.join(", ")
            ))
            .hint("deploy once without `secrets.required`, then `npx wrangler secret put <NAME>`")
        );
    }
    let migrations = if spec.migrations.is_empty() {
        None
    } else {
        // wrangler looks the service up again for the migration tag.
        let again = service(client, a, name)?;
        migrations_to_upload(&spec.migrations, again.migration_tag.as_deref())
    };
    let mut metadata = spec.metadata.clone();
    if let (Some(m), Some(obj)) = (&migrations, metadata.as_object_mut()) {
        obj.insert("migrations".into(), m.clone());
    }

    let bar = progress_bar(bundle.total_size());
    let build = |activity: &api::Activity| form::build(bundle, &metadata, bar.as_ref(), activity);
    let next_tags = apply_tags(&remote.tags, spec);
    let mut outcome = DeployOutcome {
        first_deploy: !remote.exists,
        ..DeployOutcome::default()
    };
    if remote.exists && migrations.is_none() {
        let version = client.send(
            Method::POST,
            &format!("{script}/versions"),
            &[("bindings_inherit", "strict")],
            &[],
            RequestBody::Multipart(&build),
        );
        finish_bar(&bar);
        let version = version?;
        let id = version
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        outcome.startup_time_ms = version.get("startup_time_ms").and_then(Value::as_u64);
        client.send(
            Method::POST,
            &format!("{script}/deployments"),
            &[],
            &[],
            RequestBody::Json(json!({
                "strategy": "percentage",
                "versions": [{"version_id": id, "percentage": 100}],
                "annotations": deployment_annotations(&metadata),
            })),
        )?;
        let mut settings = serde_json::Map::new();
        if let Some(t) = &spec.tail_consumers {
            settings.insert("tail_consumers".into(), t.clone());
        }
        if let Some(l) = spec.logpush {
            settings.insert("logpush".into(), l.into());
        }
        settings.insert(
            "observability".into(),
            spec.observability
                .clone()
                .unwrap_or_else(|| json!({"enabled": false})),
        );
        settings.insert("tags".into(), json!(next_tags));
        if let Err(e) = client.send(
            Method::PATCH,
            &format!("{script}/script-settings"),
            &[],
            &[],
            RequestBody::Json(Value::Object(settings)),
        ) {
            printer::warn(format!(
                "could not update the script settings (observability, tags): {e}"
            ));
        }
        outcome.version_id = Some(id);
    } else {
        let result = client.send(
            Method::PUT,
            &script,
            &[("excludeScript", "true"), ("bindings_inherit", "strict")],
            &[],
            RequestBody::Multipart(&build),
        );
        finish_bar(&bar);
        let result = result?;
        outcome.startup_time_ms = result.get("startup_time_ms").and_then(Value::as_u64);
        outcome.version_id = result
            .get("deployment_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if next_tags != remote.tags
            && let Err(e) = client.send(
                Method::PATCH,
                &format!("{script}/script-settings"),
                &[],
                &[],
                RequestBody::Json(json!({"tags": next_tags})),
            )
        {
            printer::warn(format!("could not apply service and environment tags: {e}"));
        }
    }
    if let Some(ms) = outcome.startup_time_ms {
        printer::info(format!("Worker Startup Time: {ms} ms"));
    }
    outcome.targets = triggers(client, a, name, &spec.triggers)?;
    Ok(outcome)
}

/// `{"workers/message": m}` when a message was given, else `{}` (as wrangler sends it).
fn deployment_annotations(metadata: &Value) -> Value {
    match metadata.pointer("/annotations/workers~1message") {
        Some(m) if !m.is_null() => json!({"workers/message": m}),
        _ => json!({}),
    }
}

/// `GET /workers/services/{name}`; a not-found means a new Worker.
fn service(client: &Client, account: &str, name: &str) -> anyhow::Result<Remote> {
    let path = api::path(&["accounts", account, "workers", "services", name])?;
    match client.get(&path, &[]) {
        Ok(v) => {
            let script = v
                .pointer("/default_environment/script")
                .cloned()
                .unwrap_or(Value::Null);
            Ok(Remote {
                exists: true,
                tags: script
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                migration_tag: script
                    .get("migration_tag")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        }
        Err(e) if e.is_not_found() => Ok(Remote::default()),
        Err(e) => Err(e.into()),
    }
}

/// The migrations after the remote tag, as wrangler computes them.
pub fn migrations_to_upload(config: &[Value], remote_tag: Option<&str>) -> Option<Value> {
    let tag_of = |m: &Value| m.get("tag").and_then(Value::as_str).map(str::to_string);
    let strip = |m: &Value| {
        let mut m = m.clone();
        if let Some(o) = m.as_object_mut() {
            o.remove("tag");
        }
        m
    };
    let new_tag = config.last().and_then(tag_of)?;
    let steps = |from: usize| -> Vec<Value> { config[from..].iter().map(strip).collect() };
    match remote_tag {
        None => Some(json!({"new_tag": new_tag, "steps": steps(0)})),
        Some(old) => match config
            .iter()
            .position(|m| tag_of(m).as_deref() == Some(old))
        {
            None => {
                printer::warn(format!(
                    "the deployed Worker has migration tag \"{old}\", which is not in your config; applying all migrations"
                ));
                Some(json!({"old_tag": old, "new_tag": new_tag, "steps": steps(0)}))
            }
            Some(i) if i + 1 == config.len() => None,
            Some(i) => Some(json!({"old_tag": old, "new_tag": new_tag, "steps": steps(i + 1)})),
        },
    }
}

/// wrangler's `applyServiceAndEnvironmentTags`.
fn apply_tags(remote: &[String], spec: &UploadSpec) -> Vec<String> {
    let mut tags: Vec<String> = remote
        .iter()
        .filter(|t| !t.starts_with(SERVICE_TAG_PREFIX) && !t.starts_with(ENVIRONMENT_TAG_PREFIX))
        .cloned()
        .collect();
    if let Some(s) = &spec.service_tag {
        tags.push(format!("{SERVICE_TAG_PREFIX}{s}"));
        if let Some(e) = &spec.environment_tag {
            tags.push(format!("{ENVIRONMENT_TAG_PREFIX}{e}"));
        }
    }
    tags
}

/// workers.dev, routes, schedules and queue consumers; returns the targets.
fn triggers(client: &Client, a: &str, name: &str, t: &TriggerSpec) -> anyhow::Result<Vec<String>> {
    let script = api::path(&["accounts", a, "workers", "scripts", name])?;
    let mut targets = Vec::new();
    if t.workers_dev {
        let sub = client.get(&api::path(&["accounts", a, "workers", "subdomain"])?, &[])?;
        let sub = sub
            .get("subdomain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        targets.push(format!(
            "https://{name}.{}.workers.dev",
            printer::escape_control(sub)
        ));
    }
    client.get(&format!("{script}/subdomain"), &[])?;
    let mut body = json!({"enabled": t.workers_dev});
    if let (Some(p), Some(o)) = (t.preview_urls, body.as_object_mut()) {
        o.insert("previews_enabled".into(), p.into());
    }
    client.send(
        Method::POST,
        &format!("{script}/subdomain"),
        &[],
        &[("Cloudflare-Workers-Script-Api-Date", "2025-08-01")],
        RequestBody::Json(body),
    )?;
    if !t.routes.is_empty() {
        client.send(
            Method::PUT,
            &format!("{script}/routes"),
            &[],
            &[],
            RequestBody::Json(Value::Array(t.routes.clone())),
        )?;
        for r in &t.routes {
            if let Some(p) = r.get("pattern").and_then(Value::as_str) {
                targets.push(p.to_string());
            }
        }
    }
    if let Some(crons) = &t.crons {
        let body: Vec<Value> = crons.iter().map(|c| json!({"cron": c})).collect();
        client.send(
            Method::PUT,
            &format!("{script}/schedules"),
            &[],
            &[],
            RequestBody::Json(Value::Array(body)),
        )?;
        targets.extend(crons.iter().map(|c| format!("schedule: {c}")));
    }
    targets.extend(t.producers.iter().map(|q| format!("Producer for {q}")));
    for c in &t.consumers {
        let queues = client.get(
            &api::path(&["accounts", a, "queues"])?,
            &[("page", "1"), ("name", &c.queue)],
        )?;
        let Some(queue) = queues.as_array().and_then(|q| q.first()) else {
            anyhow::bail!(
                crate::diagnostics::UserError::new(format!("queue \"{}\" does not exist", c.queue))
                    .hint(format!(
                        "create it with `npx wrangler queues create {}`",
                        c.queue
                    ))
            );
        };
        let Some(qid) = queue.get("queue_id").and_then(Value::as_str) else {
            anyhow::bail!(crate::diagnostics::UserError::new(format!(
                "the API listed queue \"{}\" without a queue_id",
                c.queue
            )));
        };
        let mut body = c.body.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("script_name".into(), name.into());
        }
        let existing = queue
            .get("consumers")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter().find(|x| {
                    x.get("script").and_then(Value::as_str) == Some(name)
                        || x.get("service").and_then(Value::as_str) == Some(name)
                })
            })
            .and_then(|x| x.get("consumer_id").and_then(Value::as_str));
        let (method, path) = match existing {
            Some(id) => (
                Method::PUT,
                api::path(&["accounts", a, "queues", qid, "consumers", id])?,
            ),
            None => (
                Method::POST,
                api::path(&["accounts", a, "queues", qid, "consumers"])?,
            ),
        };
        client.send(method, &path, &[], &[], RequestBody::Json(body))?;
        targets.push(format!("Consumer for {}", c.queue));
    }
    for (workflow, body) in &t.workflows {
        client.send(
            Method::PUT,
            &format!("/accounts/{a}/workflows/{workflow}"),
            &[],
            &[],
            RequestBody::Json(body.clone()),
        )?;
        targets.push(format!("workflow: {workflow}"));
    }
    Ok(targets)
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !printer::Printer::get().progress_enabled() {
        return None;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("Uploading {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})")
    {
        bar.set_style(style);
    }
    Some(bar)
}

fn finish_bar(bar: &Option<ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_follow_the_remote_tag() {
        let cfg = vec![
            json!({"tag": "v1", "new_sqlite_classes": ["A"]}),
            json!({"tag": "v2", "deleted_classes": ["B"]}),
        ];
        assert_eq!(
            migrations_to_upload(&cfg, None),
            Some(
                json!({"new_tag": "v2", "steps": [{"new_sqlite_classes": ["A"]}, {"deleted_classes": ["B"]}]})
            )
        );
        assert_eq!(
            migrations_to_upload(&cfg, Some("v1")),
            Some(json!({"old_tag": "v1", "new_tag": "v2", "steps": [{"deleted_classes": ["B"]}]}))
        );
        assert_eq!(migrations_to_upload(&cfg, Some("v2")), None);
    }
}
