//! API failures with the API's own codes, plus the hints users need for the
//! common ones (bad credentials, script too large, startup failures).

use std::fmt;

/// One `{code, message}` from the envelope's `errors`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// A failed API call.
#[derive(Debug)]
pub struct ApiError {
    pub method: String,
    /// Path relative to the base URL (no query, no credentials).
    pub path: String,
    /// HTTP status, or `None` when no response arrived.
    pub status: Option<u16>,
    pub errors: Vec<ApiMessage>,
    /// Transport detail or body excerpt when the envelope had no errors.
    pub detail: Option<String>,
    /// How many attempts were made.
    pub attempts: u32,
    /// Whether the last attempt ended in a timeout (connect, no response, stalled body).
    pub timed_out: bool,
}

/// API error codes with a specific remedy.
pub mod codes {
    pub const AUTH: i64 = 10000;
    pub const STARTUP: i64 = 10021;
    pub const TOO_LARGE: i64 = 10027;
    pub const WORKER_NOT_FOUND: i64 = 10007;
    pub const SERVICE_NOT_FOUND: i64 = 10090;
}

impl ApiError {
    /// Whether the API said the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
            || self
                .errors
                .iter()
                .any(|e| e.code == codes::WORKER_NOT_FOUND || e.code == codes::SERVICE_NOT_FOUND)
    }

    pub fn has_code(&self, code: i64) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    /// Whether this call uploaded the Worker itself (`PUT …/workers/scripts/<name>` or a new
    /// version of it): only there does 10021 mean the Worker failed at startup.
    fn is_script_upload(&self) -> bool {
        let segments: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            [.., "workers", "scripts", _] => self.method == "PUT",
            [.., "workers", "scripts", _, "versions"] => self.method == "POST",
            _ => false,
        }
    }
}

impl crate::diagnostics::Diagnostic for ApiError {
    /// Remedies for the failure, shown as `hint:` lines.
    fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if self.status == Some(401) || self.status == Some(403) || self.has_code(codes::AUTH) {
            hints.push(
                "check CLOUDFLARE_API_TOKEN: it must be valid and have the \"Workers Scripts: Edit\" permission on this account"
                    .to_string(),
            );
        }
        if self.has_code(codes::TOO_LARGE) {
            hints.push(
                "the Worker exceeds the size limit (3 MB free / 10 MB paid, gzipped); run `pywrangler-rs deploy --dry-run` for the per-package size table and drop packages or add `python_modules.exclude` globs"
                    .to_string(),
            );
        }
        if self.has_code(codes::STARTUP) && self.is_script_upload() {
            hints.push(
                "the Worker failed validation at startup: check top-level imports, that there is a `Default` entrypoint, and that top-level code does no I/O or randomness (startup must stay under 1 s)"
                    .to_string(),
            );
        }
        if self.timed_out {
            hints.push(format!(
                "the Cloudflare API did not answer in time: check your network connection and {}, or set {}=<seconds> to wait longer between bytes (default 30)",
                super::env::BASE_URL,
                super::env::TIMEOUT
            ));
        } else if self.status.is_none() {
            hints.push(format!(
                "check your network connection and {}",
                super::env::BASE_URL
            ));
        }
        hints
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Cloudflare API request {} {} failed",
            self.method, self.path
        )?;
        match self.status {
            Some(s) => write!(f, " (HTTP {s}")?,
            None => write!(f, " (no response")?,
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        f.write_str(")")?;
        for e in &self.errors {
            write!(f, "\n  [code {}] {}", e.code, e.message)?;
        }
        if self.errors.is_empty()
            && let Some(d) = &self.detail
        {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Diagnostic;

    fn failed(method: &str, path: &str, code: i64) -> ApiError {
        ApiError {
            method: method.into(),
            path: path.into(),
            status: Some(400),
            errors: vec![ApiMessage {
                code,
                message: "x".into(),
            }],
            detail: None,
            attempts: 1,
            timed_out: false,
        }
    }

    /// An asset upload answered with 10021 once got the "failed validation at startup"
    /// hint, which sent users to their top-level code.
    #[test]
    fn the_startup_hint_is_given_only_for_the_script_upload() {
        let startup = |e: &ApiError| e.hints().iter().any(|h| h.contains("at startup"));
        assert!(startup(&failed(
            "PUT",
            "/accounts/a/workers/scripts/w",
            codes::STARTUP
        )));
        assert!(startup(&failed(
            "POST",
            "/accounts/a/workers/scripts/w/versions",
            codes::STARTUP
        )));
        assert!(!startup(&failed(
            "POST",
            "/accounts/a/workers/assets/upload",
            codes::STARTUP
        )));
        assert!(!startup(&failed(
            "POST",
            "/accounts/a/workers/scripts/w/assets-upload-session",
            codes::STARTUP
        )));
        assert!(!startup(&failed(
            "PUT",
            "/accounts/a/workers/scripts/w",
            10001
        )));
    }
}
