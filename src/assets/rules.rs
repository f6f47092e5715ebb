//! `_redirects` and `_headers` at the root of the assets directory, parsed
//! as Cloudflare parses them (workers-shared `parseRedirects` /
//! `parseHeaders`: limits, status codes, `*` splats and `:placeholders`) and
//! applied as its asset worker does: redirects before the asset lookup
//! (status 200 proxies to another asset), headers once the response is built.
//! `deploy` sends the raw files; the API parses them itself.

use std::collections::HashSet;
use std::path::Path;

/// Most static (`/exact`) redirect rules.
pub const MAX_STATIC_REDIRECTS: usize = 2_000;
/// Most dynamic (splat or placeholder) redirect rules.
pub const MAX_DYNAMIC_REDIRECTS: usize = 100;
/// Most `_headers` rules.
pub const MAX_HEADER_RULES: usize = 100;
/// Longest line of either file.
pub const MAX_LINE_LENGTH: usize = 2_000;
const STATUSES: [u16; 6] = [200, 301, 302, 303, 307, 308];

/// A line that was ignored, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub line: usize,
    pub message: String,
}

/// One `from to [status]` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub from: String,
    pub to: String,
    pub status: u16,
}

/// One `_headers` rule: a path pattern, the headers it sets and unsets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeaderRule {
    pub path: String,
    pub set: Vec<(String, String)>,
    pub unset: Vec<String>,
}

/// Parsed `_redirects`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Redirects {
    pub rules: Vec<Redirect>,
    pub invalid: Vec<Invalid>,
}

/// Parsed `_headers`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Headers {
    pub rules: Vec<HeaderRule>,
    pub invalid: Vec<Invalid>,
}

fn is_dynamic(from: &str) -> bool {
    from.contains('*') || placeholder_at(from).is_some()
}

/// The first `:name` placeholder of a pattern (a `:` followed by a word character).
fn placeholder_at(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len()).find(|&i| {
        b[i] == b':'
            && b.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    })
}

fn is_absolute_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// Parse `_redirects` text.
pub fn parse_redirects(text: &str) -> Redirects {
    let mut out = Redirects::default();
    let mut seen = HashSet::new();
    let (mut statics, mut dynamics) = (0, 0);
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut bad = |message: String| {
            out.invalid.push(Invalid {
                line: line_no,
                message,
            })
        };
        if line.len() > MAX_LINE_LENGTH {
            bad(format!(
                "Ignoring line {line_no} as it exceeds the maximum allowed length of {MAX_LINE_LENGTH}."
            ));
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if !(2..=3).contains(&tokens.len()) {
            bad(format!(
                "Expected exactly 2 or 3 whitespace-separated tokens. Got {}.",
                tokens.len()
            ));
            continue;
        }
        let (from, to) = (tokens[0], tokens[1]);
        let status = match tokens.get(2) {
            None => 302,
            Some(s) => match s.parse::<u16>() {
                Ok(n) if STATUSES.contains(&n) => n,
                _ => {
                    bad(format!(
                        "Valid status codes are 200, 301, 302 (default), 303, 307, or 308. Got {s}."
                    ));
                    continue;
                }
            },
        };
        if !from.starts_with('/') {
            bad(format!(
                "Only relative URLs are allowed in the source of a redirect: {from} must begin with a forward-slash."
            ));
            continue;
        }
        if !to.starts_with('/') && !is_absolute_url(to) {
            bad(format!(
                "The destination of a redirect must begin with a forward-slash or be a full URL. Got {to}."
            ));
            continue;
        }
        if status == 200 && !to.starts_with('/') {
            bad(format!(
                "Proxy (200) redirects can only point to relative paths. Got {to}"
            ));
            continue;
        }
        if !seen.insert(from.to_string()) {
            bad(format!("Ignoring duplicate rule for path {from}."));
            continue;
        }
        if is_dynamic(from) {
            if dynamics >= MAX_DYNAMIC_REDIRECTS {
                let rest = lines[i..].iter().filter(|l| {
                    let t = l.trim();
                    !t.is_empty() && !t.starts_with('#')
                });
                let n = rest.count();
                bad(format!(
                    "Maximum number of dynamic rules supported is {MAX_DYNAMIC_REDIRECTS}. Skipping remaining {n} lines of file."
                ));
                break;
            }
            dynamics += 1;
        } else {
            if statics >= MAX_STATIC_REDIRECTS {
                bad(format!(
                    "Maximum number of static rules supported is {MAX_STATIC_REDIRECTS}. Skipping line."
                ));
                continue;
            }
            statics += 1;
        }
        out.rules.push(Redirect {
            from: from.to_string(),
            to: to.to_string(),
            status,
        });
    }
    out
}

/// Parse `_headers` text.
pub fn parse_headers(text: &str) -> Headers {
    let mut out = Headers::default();
    let mut current: Option<(usize, HeaderRule)> = None;
    let finish = |out: &mut Headers, current: Option<(usize, HeaderRule)>| {
        if let Some((line, rule)) = current {
            if rule.set.is_empty() && rule.unset.is_empty() {
                out.invalid.push(Invalid {
                    line,
                    message: format!("No headers specified for the path {}.", rule.path),
                });
            } else {
                out.rules.push(rule);
            }
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    for (i, raw) in lines.iter().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() > MAX_LINE_LENGTH {
            out.invalid.push(Invalid {
                line: line_no,
                message: format!(
                    "Ignoring line {line_no} as it exceeds the maximum allowed length of {MAX_LINE_LENGTH}."
                ),
            });
            continue;
        }
        if line.starts_with('/') || is_absolute_url(line) {
            finish(&mut out, current.take());
            if out.rules.len() >= MAX_HEADER_RULES {
                let n = lines[i..]
                    .iter()
                    .filter(|l| {
                        let t = l.trim();
                        !t.is_empty() && !t.starts_with('#')
                    })
                    .count();
                out.invalid.push(Invalid {
                    line: line_no,
                    message: format!(
                        "Maximum number of rules supported is {MAX_HEADER_RULES}. Skipping remaining {n} lines of file."
                    ),
                });
                return out;
            }
            current = Some((
                line_no,
                HeaderRule {
                    path: line.to_string(),
                    ..HeaderRule::default()
                },
            ));
            continue;
        }
        let Some((_, rule)) = current.as_mut() else {
            out.invalid.push(Invalid {
                line: line_no,
                message: "Expected a path beginning with at least one forward-slash.".into(),
            });
            continue;
        };
        if let Some(name) = line.strip_prefix('!') {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                out.invalid.push(Invalid {
                    line: line_no,
                    message: "No header name specified.".into(),
                });
            } else {
                rule.unset.push(name);
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            out.invalid.push(Invalid {
                line: line_no,
                message: "Expected a colon-separated header pair (e.g. name: value).".into(),
            });
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name.is_empty() || value.is_empty() {
            out.invalid.push(Invalid {
                line: line_no,
                message: if name.is_empty() {
                    "No header name specified.".into()
                } else {
                    "No header value specified.".into()
                },
            });
            continue;
        }
        match rule.set.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            None => rule.set.push((name, value.to_string())),
        }
    }
    finish(&mut out, current.take());
    out
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(char),
    /// `*`: any run of characters, captured as `splat`.
    Splat,
    /// `:name`: one or more characters other than `/`.
    Placeholder(String),
}

fn compile(pattern: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '*' {
            out.push(Piece::Splat);
        } else if c == ':' && placeholder_at(&pattern[i..]) == Some(0) {
            let mut name = String::new();
            while let Some(&(_, n)) = chars.peek() {
                if !(n.is_ascii_alphanumeric() || n == '_') {
                    break;
                }
                name.push(n);
                chars.next();
            }
            out.push(Piece::Placeholder(name));
        } else {
            out.push(Piece::Literal(c));
        }
    }
    out
}

/// Match `url` (a path, or `https://host/path` for host rules) against a
/// pattern with `*` (the splat) and `:name` placeholders (one segment), the
/// whole string anchored; returns the captured values.
pub fn match_pattern(pattern: &str, url: &str) -> Option<Vec<(String, String)>> {
    fn go(pieces: &[Piece], s: &[char], caps: &mut Vec<(String, String)>) -> bool {
        let Some((first, rest)) = pieces.split_first() else {
            return s.is_empty();
        };
        match first {
            Piece::Literal(c) => s.first() == Some(c) && go(rest, &s[1..], caps),
            Piece::Splat | Piece::Placeholder(_) => {
                let (name, min, stop_at_slash) = match first {
                    Piece::Placeholder(n) => (n.as_str(), 1, true),
                    _ => ("splat", 0, false),
                };
                let limit = if stop_at_slash {
                    s.iter().position(|c| *c == '/').unwrap_or(s.len())
                } else {
                    s.len()
                };
                // Greedy, as a regex `(.*)` / `([^/]+)` would be.
                for n in (min..=limit).rev() {
                    caps.push((name.to_string(), s[..n].iter().collect()));
                    if go(rest, &s[n..], caps) {
                        return true;
                    }
                    caps.pop();
                }
                false
            }
        }
    }
    let pieces = compile(pattern);
    let chars: Vec<char> = url.chars().collect();
    let mut caps = Vec::new();
    go(&pieces, &chars, &mut caps).then_some(caps)
}

/// Replace `:splat` and `:name` in `target` with the captured values.
fn substitute(target: &str, captures: &[(String, String)]) -> String {
    let mut out = target.to_string();
    // Longer names first, so `:id` does not eat the start of `:identifier`.
    let mut caps: Vec<&(String, String)> = captures.iter().collect();
    caps.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in caps {
        out = out.replace(&format!(":{name}"), value);
    }
    out
}

/// What `_redirects` does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum RedirectOutcome {
    /// Answer with `status` and this `Location`.
    Redirect { status: u16, location: String },
    /// Serve the asset at this path instead (status 200 rules).
    Proxy(String),
}

impl Redirects {
    /// The first rule matching `pathname` (static rules before dynamic ones,
    /// as Cloudflare), keeping the request's query unless the target has one.
    pub fn apply(&self, pathname: &str, search: &str) -> Option<RedirectOutcome> {
        let hit = self
            .rules
            .iter()
            .filter(|r| !is_dynamic(&r.from))
            .find(|r| r.from == pathname)
            .map(|r| (r, Vec::new()))
            .or_else(|| {
                self.rules
                    .iter()
                    .filter(|r| is_dynamic(&r.from))
                    .find_map(|r| match_pattern(&r.from, pathname).map(|c| (r, c)))
            })?;
        let (rule, captures) = hit;
        let to = substitute(&rule.to, &captures);
        let (target, fragment) = match to.find('#') {
            Some(i) => (&to[..i], &to[i..]),
            None => (to.as_str(), ""),
        };
        let location = if target.contains('?') {
            format!("{target}{fragment}")
        } else {
            format!("{target}{search}{fragment}")
        };
        if rule.status == 200 {
            let path = target.split('?').next().unwrap_or(target);
            return Some(RedirectOutcome::Proxy(path.to_string()));
        }
        Some(RedirectOutcome::Redirect {
            status: rule.status,
            location,
        })
    }
}

impl Headers {
    /// Apply every matching rule to `headers`, in file order: unset, then
    /// set (a header set by an earlier rule is appended to).
    pub fn apply(&self, pathname: &str, host: Option<&str>, headers: &mut Vec<(String, String)>) {
        let mut set_here: HashSet<String> = HashSet::new();
        for rule in &self.rules {
            let target = if is_absolute_url(&rule.path) {
                match host {
                    Some(h) => format!("https://{h}{pathname}"),
                    None => continue,
                }
            } else {
                pathname.to_string()
            };
            let pattern = rule.path.replacen("http://", "https://", 1);
            let Some(captures) = match_pattern(&pattern, &target) else {
                continue;
            };
            for name in &rule.unset {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            }
            for (name, value) in &rule.set {
                let value = substitute(value, &captures);
                if set_here.contains(name) {
                    headers.push((name.clone(), value));
                } else {
                    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    headers.push((name.clone(), value));
                    set_here.insert(name.clone());
                }
            }
        }
    }
}

/// Read and parse `<dir>/_redirects` and `<dir>/_headers` (missing files
/// give no rules).
pub fn load(dir: &Path) -> (Redirects, Headers) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    (
        parse_redirects(&read("_redirects")),
        parse_headers(&read("_headers")),
    )
}

/// Warnings naming `file:line` for every ignored line of both files.
pub fn warnings(dir: &Path) -> Vec<String> {
    let (redirects, headers) = load(dir);
    let mut out = Vec::new();
    for (file, invalid) in [
        ("_redirects", &redirects.invalid),
        ("_headers", &headers.invalid),
    ] {
        for i in invalid {
            out.push(format!(
                "{}:{}: {} (line ignored)",
                dir.join(file).display(),
                i.line,
                i.message
            ));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redirects_parse_with_cloudflare_rules() {
        let text = "# comment\n\n/old /new 301\n/a /b\n/blog/* /posts/:splat 308\n\
                    /users/:id /u/:id 200\n/bad\n/x /y 404\n/old /other\nrel /z\n/p https://e.com/p 200\n";
        let r = parse_redirects(text);
        assert_eq!(
            r.rules,
            [
                Redirect {
                    from: "/old".into(),
                    to: "/new".into(),
                    status: 301
                },
                Redirect {
                    from: "/a".into(),
                    to: "/b".into(),
                    status: 302
                },
                Redirect {
                    from: "/blog/*".into(),
                    to: "/posts/:splat".into(),
                    status: 308
                },
                Redirect {
                    from: "/users/:id".into(),
                    to: "/u/:id".into(),
                    status: 200
                },
            ]
        );
        let lines: Vec<usize> = r.invalid.iter().map(|i| i.line).collect();
        assert_eq!(lines, [7, 8, 9, 10, 11]);
        assert_eq!(
            r.invalid[0].message,
            "Expected exactly 2 or 3 whitespace-separated tokens. Got 1."
        );
        assert!(
            r.invalid[1]
                .message
                .starts_with("Valid status codes are 200, 301, 302 (default)")
        );
        assert_eq!(
            r.invalid[2].message,
            "Ignoring duplicate rule for path /old."
        );
        assert!(
            r.invalid[4]
                .message
                .starts_with("Proxy (200) redirects can only point to relative paths")
        );
    }

    #[test]
    fn redirect_limits_are_enforced() {
        let mut text = String::new();
        for i in 0..(MAX_DYNAMIC_REDIRECTS + 3) {
            text.push_str(&format!("/d{i}/* /x\n"));
        }
        let r = parse_redirects(&text);
        assert_eq!(r.rules.len(), MAX_DYNAMIC_REDIRECTS);
        assert_eq!(r.invalid.len(), 1);
        assert!(
            r.invalid[0].message.contains("Skipping remaining 3 lines"),
            "{:?}",
            r.invalid
        );
        let long = format!("/{} /x\n", "a".repeat(MAX_LINE_LENGTH));
        assert!(
            parse_redirects(&long).invalid[0]
                .message
                .contains("maximum allowed length of 2000")
        );
    }

    #[test]
    fn redirects_apply_static_first_with_splats_placeholders_and_query() {
        let r = parse_redirects(
            "/blog/* /posts/:splat 301\n/blog/special /s\n/u/:id/:tab /users/:id?tab=:tab\n/app/* /index.html 200\n",
        );
        assert_eq!(
            r.apply("/blog/special", "?q=1"),
            Some(RedirectOutcome::Redirect {
                status: 302,
                location: "/s?q=1".into()
            })
        );
        assert_eq!(
            r.apply("/blog/2024/post", ""),
            Some(RedirectOutcome::Redirect {
                status: 301,
                location: "/posts/2024/post".into()
            })
        );
        assert_eq!(
            r.apply("/u/7/info", "?ignored=1"),
            Some(RedirectOutcome::Redirect {
                status: 302,
                location: "/users/7?tab=info".into()
            })
        );
        assert_eq!(
            r.apply("/app/x/y", ""),
            Some(RedirectOutcome::Proxy("/index.html".into()))
        );
        assert_eq!(r.apply("/other", ""), None);
        assert_eq!(r.apply("/u/7", ""), None, "a placeholder is one segment");
    }

    #[test]
    fn headers_parse_set_and_detach_rules() {
        // Header lines need no indentation; one before any path is invalid.
        let text = "X-Orphan: 1\n/*\n  X-Frame-Options: DENY\n  X-Robots-Tag: noindex\n/secure/*\n  \
                    ! X-Frame-Options\n  Cache-Control: no-store\n  cache-control: private\n/empty\n/bad\n  no colon\n  : v\n";
        let h = parse_headers(text);
        assert_eq!(h.rules.len(), 2, "{h:?}");
        assert_eq!(h.rules[1].unset, ["x-frame-options"]);
        assert_eq!(
            h.rules[1].set,
            [("cache-control".to_string(), "no-store, private".to_string())]
        );
        let msgs: Vec<(usize, &str)> = h
            .invalid
            .iter()
            .map(|i| (i.line, i.message.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [
                (
                    1,
                    "Expected a path beginning with at least one forward-slash."
                ),
                (9, "No headers specified for the path /empty."),
                (
                    11,
                    "Expected a colon-separated header pair (e.g. name: value)."
                ),
                (12, "No header name specified."),
                (10, "No headers specified for the path /bad."),
            ]
        );
    }

    #[test]
    fn headers_apply_in_order_with_detach_append_and_placeholders() {
        let h = parse_headers(
            "/*\n  X-Frame-Options: DENY\n  Link: </a>\n/docs/:page\n  ! X-Frame-Options\n  Link: </:page>\n  X-Page: :page\n",
        );
        let mut headers = vec![("Content-Type".to_string(), "text/html".to_string())];
        h.apply("/docs/intro", None, &mut headers);
        assert_eq!(
            headers,
            [
                ("Content-Type".to_string(), "text/html".to_string()),
                ("link".to_string(), "</a>".to_string()),
                ("link".to_string(), "</intro>".to_string()),
                ("x-page".to_string(), "intro".to_string()),
            ]
        );
        let mut other = Vec::new();
        h.apply("/", None, &mut other);
        assert_eq!(other.len(), 2);
        assert_eq!(
            other[0],
            ("x-frame-options".to_string(), "DENY".to_string())
        );
    }

    #[test]
    fn warnings_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("_redirects"), "/ok /fine\n/broken\n").unwrap();
        let w = warnings(dir.path());
        assert_eq!(w.len(), 1);
        assert!(w[0].ends_with("_redirects:2: Expected exactly 2 or 3 whitespace-separated tokens. Got 1. (line ignored)"), "{w:?}");
    }
}
