//! A small client for the Cloudflare v4 REST API: credentials from the
//! environment, the `{success, errors, result}` envelope, bounded retries, and
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

/// Environment variable names the client reads, in one place.
pub mod env {
    pub const API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
    pub const API_KEY: &str = "CLOUDFLARE_API_KEY";
    pub const EMAIL: &str = "CLOUDFLARE_EMAIL";
    pub const ACCOUNT_ID: &str = "CLOUDFLARE_ACCOUNT_ID";
    pub const BASE_URL: &str = "CLOUDFLARE_API_BASE_URL";
    /// Seconds a request may go without progress before it times out.
    pub const TIMEOUT: &str = "PYWRANGLER_API_TIMEOUT";
}

/// The public API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
