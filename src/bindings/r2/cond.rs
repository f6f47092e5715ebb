//! R2 request preconditions (`onlyIf`) and upload checksums, evaluated the
//! way R2 (and miniflare, which mirrors its gateway) evaluates them.
//!
//! The guest sends `only_if` already normalised:
//! `{"etag_matches":[{"type":"strong"|"weak"|"wildcard","value"?}],
//! "etag_does_not_match":[…],"uploaded_before":ms,"uploaded_after":ms,
//! "seconds_granularity":bool}`.

use md5::{Digest, Md5};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

use crate::dev::bindings::sqlite;
use crate::dev::bindings::{OpError, OpResult};

/// One entity tag in a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Etag {
    /// `*`: matches any existing object.
    Wildcard,
    /// A strong tag (the plain etag).
    Strong(String),
    /// A weak tag (`W/"…"` in a header); only matches weakly.
    Weak(String),
}

/// A parsed `onlyIf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditional {
    /// Proceed only if the etag is one of these.
    pub etag_matches: Option<Vec<Etag>>,
    /// Proceed only if the etag is none of these.
    pub etag_does_not_match: Option<Vec<Etag>>,
    /// Proceed only if uploaded strictly before this time (ms).
    pub uploaded_before: Option<i64>,
    /// Proceed only if uploaded strictly after this time (ms).
    pub uploaded_after: Option<i64>,
    /// Compare times at whole-second precision (set for HTTP-date headers).
    pub seconds_granularity: bool,
}

fn etags(v: Option<&Value>) -> OpResult<Option<Vec<Etag>>> {
    let Some(list) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let items = match list {
        Value::Array(a) => a.clone(),
        Value::String(_) => vec![list.clone()],
        _ => return Err(OpError::invalid("onlyIf: etags must be a list")),
    };
    let mut out = Vec::new();
    for item in items {
        let tag = match &item {
            Value::String(s) if s == "*" => Etag::Wildcard,
            Value::String(s) => Etag::Strong(s.clone()),
            Value::Object(o) => {
                let value = o.get("value").and_then(Value::as_str).unwrap_or("");
                match o.get("type").and_then(Value::as_str).unwrap_or("strong") {
                    "wildcard" => Etag::Wildcard,
                    "weak" => Etag::Weak(value.to_string()),
                    _ => Etag::Strong(value.to_string()),
                }
            }
            other => {
                return Err(OpError::invalid(format!("onlyIf: unexpected etag {other}")));
            }
        };
        out.push(tag);
    }
    Ok(Some(out))
}

fn millis(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

impl Conditional {
    /// Parse the `only_if` argument; `None` when absent.
    pub fn from_args(args: &Value) -> OpResult<Option<Conditional>> {
        let Some(o) = args.get("only_if").filter(|v| v.is_object()) else {
            return Ok(None);
        };
        Ok(Some(Conditional {
            etag_matches: etags(o.get("etag_matches"))?,
            etag_does_not_match: etags(o.get("etag_does_not_match"))?,
            uploaded_before: millis(o.get("uploaded_before")),
            uploaded_after: millis(o.get("uploaded_after")),
            seconds_granularity: o
                .get("seconds_granularity")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }))
    }

    /// Whether the precondition holds for an object with this etag and
    /// upload time (`None`: no object under the key). RFC 7232 section 6.
    pub fn holds(&self, object: Option<(&str, i64)>) -> bool {
        let Some((etag, uploaded)) = object else {
            return self.etag_matches.is_none() && self.uploaded_after.is_none();
        };
        let truncate = |ms: i64| {
            if self.seconds_granularity {
                ms.div_euclid(1000) * 1000
            } else {
                ms
            }
        };
        let if_match = self
            .etag_matches
            .as_ref()
            .is_none_or(|l| includes(l, etag, false));
        let if_none_match = self
            .etag_does_not_match
            .as_ref()
            .is_none_or(|l| !includes(l, etag, true));
        let modified = truncate(uploaded);
        let if_modified_since = match self.uploaded_after {
            None => true,
            Some(t) => {
                truncate(t) < modified || (self.etag_does_not_match.is_some() && if_none_match)
            }
        };
        let if_unmodified_since = match self.uploaded_before {
            None => true,
            Some(t) => modified < truncate(t) || (self.etag_matches.is_some() && if_match),
        };
        if_match && if_none_match && if_modified_since && if_unmodified_since
    }
}

fn includes(list: &[Etag], etag: &str, weak_comparison: bool) -> bool {
    list.iter().any(|c| match c {
        Etag::Wildcard => true,
        Etag::Strong(v) => v == etag,
        Etag::Weak(v) => weak_comparison && v == etag,
    })
}

/// The checksum algorithms `put` accepts: (option name, R2's display name).
pub const ALGORITHMS: [(&str, &str); 5] = [
    ("md5", "MD5"),
    ("sha1", "SHA-1"),
    ("sha256", "SHA-256"),
    ("sha384", "SHA-384"),
    ("sha512", "SHA-512"),
];

/// Hex digest of `body` with the named algorithm.
pub fn digest_hex(field: &str, body: &[u8]) -> String {
    match field {
        "sha1" => sqlite::hex(&Sha1::digest(body)),
        "sha256" => sqlite::hex(&Sha256::digest(body)),
        "sha384" => sqlite::hex(&Sha384::digest(body)),
        "sha512" => sqlite::hex(&Sha512::digest(body)),
        _ => sqlite::hex(&Md5::digest(body)),
    }
}

/// Verify the checksum the worker supplied (`md5`, `sha1`, … as hex) and
/// return the checksums to store: the supplied ones, as miniflare stores them
/// (the md5 of a single-part object is its etag and is added when read).
pub fn verify_checksums(args: &Value, body: &[u8]) -> OpResult<serde_json::Map<String, Value>> {
    let mut out = serde_json::Map::new();
    for (field, name) in ALGORITHMS {
        let Some(provided) = args.get(field).and_then(Value::as_str) else {
            continue;
        };
        let actual = digest_hex(field, body);
        if !provided.eq_ignore_ascii_case(&actual) {
            return Err(OpError::failed(format!(
                "put: The {name} checksum you specified did not match what we received.\n\
                 You provided a {name} checksum with value: {}\n\
                 Actual {name} was: {actual} (10037)",
                provided.to_ascii_lowercase()
            )));
        }
        out.insert(field.to_string(), Value::String(actual));
    }
    Ok(out)
}
