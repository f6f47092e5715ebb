//! API paths built from segments. Every segment (account id, script name,
//! queue id …) is percent-encoded, so a name like `x/../../memberships` stays
//! one segment instead of steering the request to another endpoint.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986 unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A segment that no encoding can keep in place.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{segment}` cannot be sent as a Cloudflare API path segment: an empty, `.` or `..` segment would change which endpoint the request reaches"
)]
pub struct BadSegment {
    pub segment: String,
}

/// `/seg1/seg2/…` with each segment percent-encoded.
///
/// URL parsers resolve `.` and `..` (also as `%2e`) even when encoded, and an
/// empty segment merges with its neighbour, so those are refused.
pub fn path(segments: &[&str]) -> Result<String, BadSegment> {
    let mut out = String::new();
    for s in segments {
        if s.is_empty() || *s == "." || *s == ".." {
            return Err(BadSegment {
                segment: (*s).to_string(),
            });
        }
        out.push('/');
        out.extend(utf8_percent_encode(s, SEGMENT));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_stays_one_segment() {
        assert_eq!(
            path(&[
                "accounts",
                "a1",
                "workers",
                "scripts",
                "x/../../memberships"
            ])
            .expect("ok"),
            "/accounts/a1/workers/scripts/x%2F..%2F..%2Fmemberships"
        );
    }

    #[test]
    fn reserved_and_non_ascii_bytes_are_encoded() {
        assert_eq!(
            path(&["q", "a b?c#d%e&f=g;h", "é"]).expect("ok"),
            "/q/a%20b%3Fc%23d%25e%26f%3Dg%3Bh/%C3%A9"
        );
        assert_eq!(
            path(&["my-worker_1.v2~x"]).expect("ok"),
            "/my-worker_1.v2~x"
        );
    }

    #[test]
    fn dot_segments_and_empty_are_refused() {
        for bad in ["", ".", ".."] {
            let err = path(&["accounts", bad]).expect_err("refused");
            assert_eq!(err.segment, bad);
        }
        // Three dots are an ordinary name.
        assert_eq!(path(&["..."]).expect("ok"), "/...");
    }

    #[test]
    fn every_segment_reaches_the_server_as_one_path_segment() {
        // What reqwest's URL parser makes of the encoded path: no segment is
        // resolved away, whatever the name.
        for name in [
            "x/../../memberships",
            "..%2F..",
            "%2e%2e",
            "a\\..\\b",
            "?x=1#f",
        ] {
            let p = path(&["accounts", "a", "workers", "scripts", name]).expect("ok");
            let url =
                reqwest::Url::parse(&format!("https://api.example/client/v4{p}")).expect("url");
            let segs: Vec<_> = url.path_segments().expect("segments").collect();
            assert_eq!(segs.len(), 7, "{name}: {}", url.path());
            assert_eq!(
                &segs[..6],
                ["client", "v4", "accounts", "a", "workers", "scripts"]
            );
            assert_eq!(url.query(), None, "{name}");
        }
    }
}
