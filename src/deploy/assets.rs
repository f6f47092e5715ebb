//! Static assets at deploy, with wrangler's protocol (`syncAssets`): open an
//! upload session with the manifest, upload only the buckets of files the
//! API asks for (authenticated with the session JWT), and attach the
//! completion token and the asset config to the Worker's metadata.

use std::time::Instant;

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

/// Upload what the API lacks; returns the completion token.
pub fn upload(
    client: &Client,
    account: &str,
    script: &str,
    assets: &PreparedAssets,
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
    let single = single_mode(upload_jwt);
    let jobs: Vec<Vec<&ManifestEntry>> = if single {
        resolved.into_iter().flatten().map(|e| vec![e]).collect()
    } else {
        resolved
    };
    let path_bulk = format!("/accounts/{account}/workers/assets/upload");
    // One request at a time: the API client is not shared across threads
    // (wrangler sends up to 3 buckets, or 50 single files, at once).
    let mut done = 0;
    let mut completion: Option<String> = None;
    for job in &jobs {
        let result = if single {
            upload_one(client, upload_jwt, &path_bulk, job[0])?
        } else {
            upload_bucket(client, upload_jwt, &path_bulk, job)?
        };
        done += job.len();
        printer::verbose(format!("Uploaded {done} of {wanted} assets"));
        if let Some(jwt) = result.get("jwt").and_then(Value::as_str) {
            completion = Some(jwt.to_string());
        }
    }
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
    Ok(client.send_bearer(
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
    Ok(client.send_bearer(
        jwt,
        Method::POST,
        &format!("{path}/{}", e.hash),
        &[],
        RequestBody::Bytes(&ct, &data),
    )?)
}

/// Whether the upload JWT asks for one request per file
/// (`wrangler_single_asset_uploads` in its payload; not verified, as wrangler).
fn single_mode(jwt: &str) -> bool {
    let Some(payload) = jwt.split('.').nth(1) else {
        return false;
    };
    let trimmed = payload.trim_end_matches('=');
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed));
    decoded
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| {
            v.get("wrangler_single_asset_uploads")
                .and_then(Value::as_bool)
        })
        == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
        format!("eyJhbGciOiJIUzI1NiJ9.{b}.sig")
    }

    #[test]
    fn the_jwt_payload_picks_the_upload_mode() {
        assert!(single_mode(&jwt(
            r#"{"wrangler_single_asset_uploads":true}"#
        )));
        assert!(!single_mode(&jwt(
            r#"{"wrangler_single_asset_uploads":false}"#
        )));
        assert!(!single_mode(&jwt(r#"{"exp":1}"#)));
        assert!(!single_mode("not-a-jwt"));
    }
}
