//! A small client for the Cloudflare v4 REST API: credentials (resolved from
//! the environment by the settings layer), the `{success, errors, result}` envelope, bounded retries, and
//! errors that carry the API's code and message (never the credentials).

pub mod account;
pub mod activity;
pub mod auth;
pub mod client;
pub mod error;
pub mod path;
pub mod timeouts;

pub use activity::Activity;
pub use auth::Credentials;
pub use client::{Client, RequestBody};
pub use error::ApiError;
pub use path::path;
pub use timeouts::Timeouts;

/// The names of the variables the settings layer reads for the client
/// (defined in `crate::env_vars`), for messages.
pub mod env {
    pub use crate::env_vars::{
        CLOUDFLARE_ACCOUNT_ID as ACCOUNT_ID, CLOUDFLARE_API_BASE_URL as BASE_URL,
        CLOUDFLARE_API_KEY as API_KEY, CLOUDFLARE_API_TOKEN as API_TOKEN,
        CLOUDFLARE_EMAIL as EMAIL, PYWRANGLER_API_TIMEOUT as TIMEOUT,
    };
}

/// The public API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// How to reach the API, resolved by the settings layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `CLOUDFLARE_API_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub base_url: String,
    /// `PYWRANGLER_API_TIMEOUT`, else the defaults.
    pub timeouts: Timeouts,
    /// The credentials, or why there are none (needed only to upload).
    pub credentials: Result<Credentials, auth::MissingCredentials>,
    /// `CLOUDFLARE_ACCOUNT_ID` (the config's `account_id` wins over it).
    pub account_id: Option<String>,
}
