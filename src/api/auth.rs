//! API credentials from the environment. `Debug` never prints the secret, and
//! [`Credentials::redact`] scrubs it from any text before it is shown.

use std::fmt;

use super::env;

/// How requests authenticate.
#[derive(Clone)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// Global API key: `X-Auth-Key` + `X-Auth-Email`.
    Key { key: String, email: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(_) => f.write_str("Credentials::Token(<redacted>)"),
            Credentials::Key { email, .. } => write!(f, "Credentials::Key(<redacted>, {email})"),
        }
    }
}

/// No usable credentials in the environment.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "no Cloudflare credentials: set {} (or {} with {})",
    env::API_TOKEN,
    env::API_KEY,
    env::EMAIL
)]
pub struct MissingCredentials;

impl crate::diagnostics::Diagnostic for MissingCredentials {
    fn hints(&self) -> Vec<String> {
        vec!["create a token at https://dash.cloudflare.com/profile/api-tokens (template \"Edit Cloudflare Workers\")".into()]
    }
}

impl Credentials {
    /// `CLOUDFLARE_API_TOKEN`, else `CLOUDFLARE_API_KEY` + `CLOUDFLARE_EMAIL`
    /// (each given when set to more than blanks).
    pub fn from_values(
        token: Option<&str>,
        key: Option<&str>,
        email: Option<&str>,
    ) -> Result<Credentials, MissingCredentials> {
        if let Some(token) = token {
            return Ok(Credentials::Token(token.trim().to_string()));
        }
        match (key, email) {
            (Some(key), Some(email)) => Ok(Credentials::Key {
                key: key.trim().to_string(),
                email: email.trim().to_string(),
            }),
            _ => Err(MissingCredentials),
        }
    }

    /// Add the auth headers to a request.
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credentials::Token(t) => req.bearer_auth(t),
            Credentials::Key { key, email } => {
                req.header("X-Auth-Key", key).header("X-Auth-Email", email)
            }
        }
    }

    /// Replace the secret anywhere in `text` (server messages can echo headers).
    pub fn redact(&self, text: &str) -> String {
        let secret = match self {
            Credentials::Token(t) => t,
            Credentials::Key { key, .. } => key,
        };
        if secret.len() < 4 {
            return text.to_string();
        }
        text.replace(secret.as_str(), "<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_redact_hide_the_token() {
        let c = Credentials::Token("sekrit-token-123".into());
        assert!(!format!("{c:?}").contains("sekrit"));
        assert_eq!(c.redact("bad sekrit-token-123!"), "bad <redacted>!");
    }
}
