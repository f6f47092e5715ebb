//! The multipart body wrangler sends: a `metadata` field (JSON, no part
//! Content-Type) and one file part per module, named by the module name.
//! The same parts are what `--dry-run --outdir` writes to disk.

use std::path::Path;
use std::sync::Arc;

use indicatif::ProgressBar;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::bundle::Bundle;
use crate::api::Activity;

/// Build the upload form; module bytes stream through `activity` (the
/// client's stall watchdog) and tick `progress` as they are sent.
pub fn build(
    bundle: &Bundle,
    metadata: &Value,
    progress: Option<&ProgressBar>,
    activity: &Activity,
) -> Form {
    if let Some(bar) = progress {
        bar.set_position(0);
    }
    // Names go out verbatim (`name="lib/util.py"`) as wrangler's FormData
    // sends them; reqwest's default would switch `/` names to RFC 2231 `name*=`.
    let mut form = Form::new()
        .percent_encode_noop()
        .text("metadata", metadata.to_string());
    for m in &bundle.modules {
        let bar = progress.cloned();
        let body = activity.body(Arc::clone(&m.content), move |n| {
            if let Some(b) = &bar {
                b.inc(n);
            }
        });
        let part = Part::stream_with_length(body, m.content.len() as u64).file_name(m.name.clone());
        // Every content type here is a valid static MIME string.
        let part = match part.mime_str(m.kind.content_type()) {
            Ok(p) => p,
            Err(_) => Part::bytes(m.content.to_vec()).file_name(m.name.clone()),
        };
        form = form.part(m.name.clone(), part);
    }
    form
}

/// Write `metadata.json` and every part under `dir` (the `--dry-run --outdir` output).
pub fn write_outdir(dir: &Path, bundle: &Bundle, metadata: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let pretty = serde_json::to_string_pretty(metadata).unwrap_or_else(|_| metadata.to_string());
    crate::fsutil::write_atomic(&dir.join("metadata.json"), pretty.as_bytes())?;
    for m in &bundle.modules {
        let path = dir.join(&m.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::fsutil::write_atomic(&path, &m.content)?;
    }
    Ok(())
}
