//! Worker names: Cloudflare accepts lowercase letters, digits and dashes, at most
//! 63 characters, not starting or ending with a dash. `init` derives one from the
//! directory name and checks one given with `--name`.

/// Longest Worker name Cloudflare accepts.
pub const MAX_LEN: usize = 63;

/// Used when nothing usable is left of the directory name.
const FALLBACK: &str = "my-worker";

/// Whether `name` is a valid Worker name as it stands.
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Turn any string (usually a directory name) into a valid Worker name:
/// lowercase, other characters become single dashes, trimmed to 63 characters.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_LEN);
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        FALLBACK.to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_examples() {
        assert_eq!(sanitize("hello"), "hello");
        assert_eq!(sanitize("My Worker_2"), "my-worker-2");
        assert_eq!(sanitize("--a..b--"), "a-b");
        assert_eq!(sanitize("Übung"), "bung");
        assert_eq!(sanitize("___"), FALLBACK);
        assert_eq!(sanitize(""), FALLBACK);
        let long = "x".repeat(70) + "-y";
        assert_eq!(sanitize(&long).len(), MAX_LEN);
        // Truncation must not leave a trailing dash.
        let edge = "a".repeat(62) + "-bc";
        assert_eq!(sanitize(&edge), "a".repeat(62));
    }

    #[test]
    fn sanitized_names_are_valid() {
        for raw in ["A", "a b c", "-x-", "日本", "9lives", &"z-".repeat(40)] {
            let name = sanitize(raw);
            assert!(is_valid(&name), "{raw:?} -> {name:?}");
        }
    }

    #[test]
    fn validity() {
        assert!(is_valid("hello-python"));
        assert!(!is_valid("Hello"));
        assert!(!is_valid("-a"));
        assert!(!is_valid("a-"));
        assert!(!is_valid("a_b"));
        assert!(!is_valid(""));
        assert!(!is_valid(&"a".repeat(64)));
    }
}
