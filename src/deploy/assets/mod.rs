//! Static assets at deploy, with wrangler's protocol (`syncAssets`): open an
//! upload session with the manifest, upload only the buckets of files the
//! API asks for (authenticated with the session JWT), and attach the
//! completion token and the asset config to the Worker's metadata. The
//! requests go through [`queue`], which retries them as wrangler does.

pub mod queue;

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Map, Value, json};

use crate::api::{Client, RequestBody};
use crate::assets::manifest::{self, Manifest, ManifestEntry};
use crate::config::Project;
use crate::diagnostics::UserError;
use crate::printer;

/// The assets of a deploy: the manifest and the `config` sent in the metadata.
#[derive(Debug, Clone)]
pub struct PreparedAssets {
    pub manifest: Manifest,
    /// `metadata.assets.config`: the settings as written, plus the raw
    /// `_redirects` and `_headers` files.
    pub config: Value,
}

impl PreparedAssets {
    /// `N files, 1.23 MiB` for the size report.
    pub fn summary(&self) -> String {
        format!(
            "Assets: {} files, {}",
            self.manifest.entries.len(),
            super::size::human(self.manifest.total_size())
        )
    }

    /// `metadata.assets` (the JWT is absent on a dry run).
    pub fn metadata(&self, jwt: Option<&str>) -> Value {
        let mut m = Map::new();
        if let Some(j) = jwt {
            m.insert("jwt".into(), j.into());
        }
        m.insert("config".into(), self.config.clone());
        Value::Object(m)
    }
}

/// Build the manifest and config of the project's assets, if it has any.
pub fn prepare(project: &Project) -> anyhow::Result<Option<PreparedAssets>> {
    let Some(dir) = project.assets_dir()? else {
        return Ok(None);
    };
    let Some(assets) = &project.config.assets else {
        return Ok(None);
    };
    let manifest = manifest::build(&dir).map_err(|e| {
        let mut u = UserError::new(e.to_string());
        if let Some(h) = e.hint() {
            u = u.hint(h);
        }
        u
    })?;
    let mut config = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            config.insert(key.into(), v);
        }
    };
    put("html_handling", assets.html_handling.map(|h| json!(h)));
    put(
        "not_found_handling",
        assets.not_found_handling.map(|h| json!(h)),
    );
    put(
        "run_worker_first",
        assets.run_worker_first.as_ref().map(|r| json!(r)),
    );
    for file in ["_redirects", "_headers"] {
        let path = dir.join(file);
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| UserError::new(format!("cannot read {}: {e}", path.display())))?;
            put(file, Some(text.into()));
        }
    }
    Ok(Some(PreparedAssets {
        manifest,
        config: Value::Object(config),
    }))
}

/// Upload what the API lacks; returns the completion token. `backoff` is
/// the first wait before retrying a failed request ([`queue::DEFAULT_BACKOFF`]).
pub fn upload(
    client: &Client,
    account: &str,
    script: &str,
    assets: &PreparedAssets,
    backoff: Duration,
) -> anyhow::Result<String> {
    let started = Instant::now();
    printer::info("Starting asset upload...");
    let session = client.send(
        Method::POST,
        &format!("/accounts/{account}/workers/scripts/{script}/assets-upload-session"),
        &[],
        &[],
        RequestBody::Json(json!({"manifest": assets.manifest.to_json()})),
    )?;
    if session.is_null() {
        anyhow::bail!(UserError::new(
            "An unexpected response has been received from the Cloudflare API for assets upload. Please try again."
        ));
    }
    let session_jwt = session.get("jwt").and_then(Value::as_str);
    let buckets: Vec<Vec<String>> = session
        .get("buckets")
        .and_then(|b| serde_json::from_value(b.clone()).ok())
        .unwrap_or_default();
    let total = assets.manifest.entries.len();
    let wanted: usize = buckets.iter().map(Vec::len).sum();
    if wanted == 0 {
        let Some(jwt) = session_jwt else {
            anyhow::bail!(UserError::new(
                "Could not find assets information to attach to deployment. Please try again."
            ));
        };
        printer::info(format!(
            "No updated asset files to upload ({total} already uploaded)"
        ));
        return Ok(jwt.to_string());
    }
    let Some(upload_jwt) = session_jwt else {
        anyhow::bail!(UserError::new(
            "An unexpected response has been received from the Cloudflare API for assets upload. Please try again."
        ));
    };
    let mut resolved: Vec<Vec<&ManifestEntry>> = Vec::new();
    for bucket in &buckets {
        let mut files = Vec::new();
        for hash in bucket {
            let Some(entry) = assets.manifest.by_hash(hash) else {
                anyhow::bail!(
                    UserError::new("A file was requested that does not appear to exist.")
                        .hint("the assets directory changed during the deploy; run it again")
                );
            };
            files.push(entry);
        }
        resolved.push(files);
    }
    printer::info(format!(
        "Found {wanted} new or modified static assets to upload. Proceeding with upload..."
    ));
    let payload = jwt_payload(upload_jwt);
    let mode = UploadMode::from_payload(&payload);
    let jobs: Vec<Vec<&ManifestEntry>> = if mode.single {
        resolved.into_iter().flatten().map(|e| vec![e]).collect()
    } else {
        resolved
    };
    let path_bulk = format!("/accounts/{account}/workers/assets/upload");
    let send = |job: &[&ManifestEntry]| {
        if mode.single {
            upload_one(client, upload_jwt, &path_bulk, job[0])
        } else {
            upload_bucket(client, upload_jwt, &path_bulk, job)
        }
    };
    let queue = queue::Queue::new(
        &jobs,
        queue::QueueOptions {
            concurrency: mode.concurrency,
            backoff,
            single: mode.single,
            expires: payload.get("exp").and_then(Value::as_u64),
        },
    );
    let completion = queue.run(send)?;
    let Some(jwt) = completion else {
        anyhow::bail!(UserError::new(
            "Failed to complete asset upload. Please try again."
        ));
    };
    printer::success(format!(
        "Uploaded {wanted} asset files ({} already uploaded) ({:.2} sec)",
        total - wanted,
        started.elapsed().as_secs_f64()
    ));
    Ok(jwt)
}

/// One bucket as `multipart/form-data`: a part per file named by its hash,
/// holding the file's base64 text.
fn upload_bucket(
    client: &Client,
    jwt: &str,
    path: &str,
    files: &[&ManifestEntry],
) -> anyhow::Result<Value> {
    let mut contents = Vec::with_capacity(files.len());
    for e in files {
        let data = std::fs::read(&e.file)
            .map_err(|err| UserError::new(format!("cannot read {}: {err}", e.file.display())))?;
        contents.push((e, base64::engine::general_purpose::STANDARD.encode(data)));
    }
    let build = |_: &crate::api::Activity| {
        let mut form = Form::new().percent_encode_noop();
        for (e, b64) in &contents {
            let part = Part::text(b64.clone()).file_name(e.hash.clone());
            let ct = manifest::content_type(&e.key).unwrap_or_else(|| "application/null".into());
            let part = match part.mime_str(&ct) {
                Ok(p) => p,
                Err(_) => Part::text(b64.clone()).file_name(e.hash.clone()),
            };
            form = form.part(e.hash.clone(), part);
        }
        form
    };
    Ok(client.send_bearer_once(
        jwt,
        Method::POST,
        path,
        &[("base64", "true")],
        RequestBody::Multipart(&build),
    )?)
}

/// One file as the raw request body (single-file mode).
fn upload_one(client: &Client, jwt: &str, path: &str, e: &ManifestEntry) -> anyhow::Result<Value> {
    let data = std::fs::read(&e.file)
        .map_err(|err| UserError::new(format!("cannot read {}: {err}", e.file.display())))?;
    let ct = manifest::content_type(&e.key).unwrap_or_else(|| "application/null".into());
    Ok(client.send_bearer_once(
        jwt,
        Method::POST,
        &format!("{path}/{}", e.hash),
        &[],
        RequestBody::Bytes(&ct, &data),
    )?)
}

/// Buckets wrangler uploads at once in bulk mode.
const BULK_CONCURRENCY: usize = 3;
/// Files wrangler uploads at once in single-file mode, unless the JWT says.
const SINGLE_CONCURRENCY: usize = 50;

/// The upload JWT's payload (not verified, as wrangler), or `null`.
fn jwt_payload(jwt: &str) -> Value {
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            let trimmed = p.trim_end_matches('=');
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        })
        .unwrap_or(Value::Null)
}

/// How the upload JWT asks for the files to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UploadMode {
    /// One request per file (`wrangler_single_asset_uploads`).
    single: bool,
    /// Requests in flight at once (`edge_kv_upload_concurrency` in single mode).
    concurrency: usize,
}

impl UploadMode {
    /// Read from the upload JWT's payload.
    fn from_payload(payload: &Value) -> UploadMode {
        let single = payload
            .get("wrangler_single_asset_uploads")
            .and_then(Value::as_bool)
            == Some(true);
        let concurrency = if single {
            payload
                .get("edge_kv_upload_concurrency")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map_or(SINGLE_CONCURRENCY, |n| n.min(1_000) as usize)
        } else {
            BULK_CONCURRENCY
        };
        UploadMode {
            single,
            concurrency,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        format!("eyJhbGciOiJIUzI1NiJ9.{b}.sig")
    }

    #[test]
    fn the_jwt_payload_picks_the_upload_mode() {
        let mode = |p: &str| UploadMode::from_payload(&jwt_payload(&jwt(p)));
        let single = |concurrency| UploadMode {
            single: true,
            concurrency,
        };
        let bulk = UploadMode {
            single: false,
            concurrency: 3,
        };
        assert_eq!(
            mode(r#"{"wrangler_single_asset_uploads":true}"#),
            single(50)
        );
        assert_eq!(
            mode(r#"{"wrangler_single_asset_uploads":true,"edge_kv_upload_concurrency":8}"#),
            single(8)
        );
        assert_eq!(mode(r#"{"wrangler_single_asset_uploads":false}"#), bulk);
        assert_eq!(mode(r#"{"exp":1}"#), bulk);
        assert_eq!(UploadMode::from_payload(&jwt_payload("not-a-jwt")), bulk);
        assert_eq!(jwt_payload(&jwt(r#"{"exp":17}"#))["exp"], 17);
    }
}
