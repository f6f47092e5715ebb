//! Checks wrangler makes before it uploads, so a deploy never half-succeeds:
//! every queue the Worker produces to or consumes from exists, and every R2
//! bucket it binds exists (wrangler would offer to create it).

use serde_json::Value;

use crate::api::{ApiError, Client};
use crate::config::WranglerConfig;
use crate::diagnostics::UserError;

/// Run the checks against the account; `Err` names the first missing resource.
pub fn check(client: &Client, account: &str, cfg: &WranglerConfig) -> anyhow::Result<()> {
    queues_exist(client, account, cfg)?;
    buckets_exist(client, account, cfg)?;
    Ok(())
}

/// wrangler's `ensureQueuesExistByConfig`: producers, then consumers.
fn queues_exist(client: &Client, account: &str, cfg: &WranglerConfig) -> anyhow::Result<()> {
    let mut names: Vec<&str> = cfg
        .queues
        .producers
        .iter()
        .map(|p| p.queue.as_str())
        .collect();
    names.extend(cfg.queues.consumers.iter().map(|c| c.queue.as_str()));
    if names.is_empty() {
        return Ok(());
    }
    let mut query: Vec<(&str, &str)> = names.iter().map(|n| ("name", *n)).collect();
    query.push(("page", "1"));
    let found = client.get(&format!("/accounts/{account}/queues"), &query)?;
    let found: Vec<&str> = found
        .as_array()
        .map(|qs| {
            qs.iter()
                .filter_map(|q| q.get("queue_name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if let Some(missing) = names.iter().find(|n| !found.contains(n)) {
        return Err(UserError::new(format!(
            "Queue \"{missing}\" does not exist. To create it, run: npx wrangler queues create {missing}"
        ))
        .hint("nothing was uploaded; create the queue, then deploy again")
        .into());
    }
    Ok(())
}

/// Each bound R2 bucket exists (in its jurisdiction).
fn buckets_exist(client: &Client, account: &str, cfg: &WranglerConfig) -> anyhow::Result<()> {
    for r in &cfg.r2_buckets {
        let Some(bucket) = &r.bucket_name else {
            continue;
        };
        let jurisdiction: Vec<(&str, &str)> = r
            .jurisdiction
            .as_deref()
            .map(|j| vec![("cf-r2-jurisdiction", j)])
            .unwrap_or_default();
        let result = client.send(
            reqwest::Method::GET,
            &format!("/accounts/{account}/r2/buckets/{bucket}"),
            &[],
            &jurisdiction,
            crate::api::RequestBody::None,
        );
        match result {
            Ok(_) => {}
            Err(e) if is_missing(&e) => {
                let create = match &r.jurisdiction {
                    Some(j) => format!("npx wrangler r2 bucket create {bucket} --jurisdiction {j}"),
                    None => format!("npx wrangler r2 bucket create {bucket}"),
                };
                return Err(UserError::new(format!(
                    "R2 bucket \"{bucket}\" (binding {}) does not exist. To create it, run: {create}",
                    r.binding
                ))
                .hint("nothing was uploaded; create the bucket, then deploy again")
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// R2 answers a missing bucket with 404 / code 10006.
fn is_missing(e: &ApiError) -> bool {
    e.status == Some(404) || e.has_code(10006)
}
