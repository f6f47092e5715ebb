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
    let mode = UploadMode::from_jwt(upload_jwt);
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
    let completion = upload_concurrently(&jobs, mode.concurrency, wanted, send)?;
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

/// Send `jobs` with up to `concurrency` in flight, as wrangler does; returns
/// the last completion token an answer carried. The first failure stops the
/// jobs not yet started and is returned once those in flight end.
fn upload_concurrently<'a, F>(
    jobs: &[Vec<&'a ManifestEntry>],
    concurrency: usize,
    wanted: usize,
    send: F,
) -> anyhow::Result<Option<String>>
where
    F: Fn(&[&'a ManifestEntry]) -> anyhow::Result<Value> + Sync,
{
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    // (files uploaded, last completion token, first error)
    let progress: Mutex<(usize, Option<String>, Option<anyhow::Error>)> =
        Mutex::new((0, None, None));
    let workers = concurrency.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while !failed.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let result = send(job);
                    let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(v) => {
                            p.0 += job.len();
                            printer::verbose(format!("Uploaded {} of {wanted} assets", p.0));
                            if let Some(jwt) = v.get("jwt").and_then(Value::as_str) {
                                p.1 = Some(jwt.to_string());
                            }
                        }
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            if p.2.is_none() {
                                let what = if job.len() == 1 {
                                    format!("uploading asset {}", job[0].key)
                                } else {
                                    format!(
                                        "uploading a bucket of {} assets ({}, ...)",
                                        job.len(),
                                        job[0].key
                                    )
                                };
                                p.2 = Some(e.context(what));
                            }
                        }
                    }
                }
            });
        }
    });
    let (_, completion, error) = progress.into_inner().unwrap_or_else(|e| e.into_inner());
    match error {
        Some(e) => Err(e),
        None => Ok(completion),
    }
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

/// Buckets wrangler uploads at once in bulk mode.
const BULK_CONCURRENCY: usize = 3;
/// Files wrangler uploads at once in single-file mode, unless the JWT says.
const SINGLE_CONCURRENCY: usize = 50;

/// How the upload JWT asks for the files to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UploadMode {
    /// One request per file (`wrangler_single_asset_uploads`).
    single: bool,
    /// Requests in flight at once (`edge_kv_upload_concurrency` in single mode).
    concurrency: usize,
}

impl UploadMode {
    /// Read from the JWT's payload (not verified, as wrangler).
    fn from_jwt(jwt: &str) -> UploadMode {
        let payload = jwt.split('.').nth(1).and_then(|p| {
            let trimmed = p.trim_end_matches('=');
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(trimmed)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        });
        let payload = payload.unwrap_or(Value::Null);
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
        let mode = |p: &str| UploadMode::from_jwt(&jwt(p));
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
        assert_eq!(UploadMode::from_jwt("not-a-jwt"), bulk);
    }

    fn entries(n: usize) -> Vec<ManifestEntry> {
        (0..n)
            .map(|i| ManifestEntry {
                key: format!("/f{i}"),
                hash: format!("{i:032x}"),
                size: 1,
                file: std::path::PathBuf::from(format!("f{i}")),
            })
            .collect()
    }

    #[test]
    fn uploads_run_concurrently_and_keep_the_completion_token() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let files = entries(9);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(2).map(|c| c.iter().collect()).collect();
        let (now, most, sent) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let barrier = std::sync::Barrier::new(3);
        let token = upload_concurrently(&jobs, 3, 9, |job| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(n, Ordering::SeqCst);
            // The first three requests meet: all three are in flight at once.
            if sent.fetch_add(1, Ordering::SeqCst) < 3 {
                barrier.wait();
            }
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(if job.iter().any(|e| e.key == "/f8") {
                json!({"jwt": "done"})
            } else {
                json!({})
            })
        })
        .unwrap();
        assert_eq!(token.as_deref(), Some("done"));
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(sent.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_failed_upload_stops_the_rest() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let files = entries(10);
        let jobs: Vec<Vec<&ManifestEntry>> = files.chunks(1).map(|c| c.iter().collect()).collect();
        let sent = AtomicUsize::new(0);
        let err = upload_concurrently(&jobs, 1, 10, |job| {
            sent.fetch_add(1, Ordering::SeqCst);
            if job[0].key == "/f2" {
                anyhow::bail!("HTTP 500");
            }
            Ok(json!({}))
        })
        .unwrap_err();
        assert_eq!(format!("{err:#}"), "uploading asset /f2: HTTP 500");
        assert_eq!(
            sent.load(Ordering::SeqCst),
            3,
            "nothing sent after the failure"
        );
    }
}
