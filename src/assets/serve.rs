//! The asset worker's path resolution (`handler.ts`): percent-decode the
//! path, find the file `html_handling` maps it to (or a 307 to the path it
//! should be served at), fall back to `not_found_handling`, and answer only
//! GET and HEAD. Storage is behind [`Lookup`], so `dev` can look at the disk
//! while the rules stay the ones production applies.

use crate::config::{HtmlHandling, NotFoundHandling};

/// Finds assets by decoded path (`/a/b.html`); returns the asset's ETag.
pub trait Lookup {
    fn exists(&self, path: &str) -> Option<String>;
}

/// An asset to serve, by ETag, with the status to serve it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetIntent {
    pub etag: String,
    /// 200, or 404 for a `404.html` page.
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Intent {
    Asset(AssetIntent),
    Redirect(String),
}

/// What the asset worker answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No asset for this path (the router sends it on to the Worker).
    NoIntent,
    /// 307 to this location (path and query).
    Redirect(String),
    /// 405: an asset matched but the method is not GET or HEAD.
    MethodNotAllowed,
    /// Serve this asset.
    Serve(AssetIntent),
}

/// The asset worker's settings for one request.
pub struct Resolver<'a, L: Lookup> {
    pub html_handling: HtmlHandling,
    pub not_found_handling: NotFoundHandling,
    pub lookup: &'a L,
}

impl<L: Lookup> Resolver<'_, L> {
    /// Resolve `method pathname?search` (pathname as the client sent it;
    /// `search` empty or starting with `?`).
    pub fn resolve(&self, method: &str, pathname: &str, search: &str) -> Outcome {
        let decoded = decode_path(pathname);
        let Some(intent) = self.intent(&decoded, false) else {
            return Outcome::NoIntent;
        };
        if !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD") {
            return Outcome::MethodNotAllowed;
        }
        match intent {
            Intent::Redirect(to) => Outcome::Redirect(format!("{}{search}", encode_path(&to))),
            Intent::Asset(asset) => {
                let canonical = encode_path(&decoded);
                if canonical != pathname {
                    Outcome::Redirect(format!("{canonical}{search}"))
                } else {
                    Outcome::Serve(asset)
                }
            }
        }
    }

    fn exists(&self, path: &str) -> Option<String> {
        self.lookup.exists(path)
    }

    fn serve(&self, path: &str) -> Option<Intent> {
        self.exists(path)
            .map(|etag| Intent::Asset(AssetIntent { etag, status: 200 }))
    }

    fn intent(&self, p: &str, skip: bool) -> Option<Intent> {
        match self.html_handling {
            HtmlHandling::AutoTrailingSlash => self.auto_trailing_slash(p, skip),
            HtmlHandling::ForceTrailingSlash => self.force_trailing_slash(p, skip),
            HtmlHandling::DropTrailingSlash => self.drop_trailing_slash(p, skip),
            HtmlHandling::None => self.serve(p).or_else(|| self.not_found(p)),
        }
    }

    fn auto_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent> {
        let exact = self.serve(p);
        let found = if let Some(base) = p.strip_suffix("/index") {
            if exact.is_some() {
                return exact;
            }
            self.redirect(&format!("{p}.html"), &format!("{base}/"), skip)
                .or_else(|| self.redirect(&format!("{base}.html"), base, skip))
        } else if let Some(base) = p.strip_suffix("/index.html") {
            self.redirect(p, &format!("{base}/"), skip)
                .or_else(|| self.redirect(&format!("{base}.html"), base, skip))
        } else if let Some(base) = p.strip_suffix('/') {
            self.serve(&format!("{p}index.html"))
                .or_else(|| self.redirect(&format!("{base}.html"), base, skip))
        } else if let Some(base) = p.strip_suffix(".html") {
            self.redirect(p, base, skip)
                .or_else(|| self.redirect(&format!("{base}/index.html"), &format!("{base}/"), skip))
        } else {
            None
        };
        found
            .or(exact)
            .or_else(|| self.serve(&format!("{p}.html")))
            .or_else(|| self.redirect(&format!("{p}/index.html"), &format!("{p}/"), skip))
            .or_else(|| self.not_found(p))
    }

    fn force_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent> {
        let exact = self.serve(p);
        let found = if let Some(base) = p.strip_suffix("/index") {
            if exact.is_some() {
                return exact;
            }
            self.redirect(&format!("{p}.html"), &format!("{base}/"), skip)
                .or_else(|| self.redirect(&format!("{base}.html"), &format!("{base}/"), skip))
        } else if let Some(base) = p.strip_suffix("/index.html") {
            self.redirect(p, &format!("{base}/"), skip)
                .or_else(|| self.redirect(&format!("{base}.html"), &format!("{base}/"), skip))
        } else if let Some(base) = p.strip_suffix('/') {
            self.serve(&format!("{p}index.html"))
                .or_else(|| self.serve(&format!("{base}.html")))
        } else if let Some(base) = p.strip_suffix(".html") {
            self.redirect(p, &format!("{base}/"), skip)
                .or_else(|| exact.clone())
                .or_else(|| self.redirect(&format!("{base}/index.html"), &format!("{base}/"), skip))
        } else {
            None
        };
        found
            .or(exact)
            .or_else(|| self.redirect(&format!("{p}.html"), &format!("{p}/"), skip))
            .or_else(|| self.redirect(&format!("{p}/index.html"), &format!("{p}/"), skip))
            .or_else(|| self.not_found(p))
    }

    fn drop_trailing_slash(&self, p: &str, skip: bool) -> Option<Intent> {
        let exact = self.serve(p);
        let found = if let Some(base) = p.strip_suffix("/index") {
            if exact.is_some() {
                return exact;
            }
            if p == "/index" {
                self.redirect("/index.html", "/", skip)
            } else {
                self.redirect(&format!("{base}.html"), base, skip)
                    .or_else(|| self.redirect(&format!("{p}.html"), base, skip))
            }
        } else if let Some(base) = p.strip_suffix("/index.html") {
            if p == "/index.html" {
                self.redirect("/index.html", "/", skip)
            } else {
                self.redirect(p, base, skip)
                    .or_else(|| exact.clone())
                    .or_else(|| self.redirect(&format!("{base}.html"), base, skip))
            }
        } else if let Some(base) = p.strip_suffix('/') {
            if p == "/" {
                self.serve("/index.html")
            } else {
                self.redirect(&format!("{base}.html"), base, skip)
                    .or_else(|| self.redirect(&format!("{base}/index.html"), base, skip))
            }
        } else if let Some(base) = p.strip_suffix(".html") {
            self.redirect(p, base, skip)
                .or_else(|| self.redirect(&format!("{base}/index.html"), base, skip))
        } else {
            None
        };
        found
            .or(exact)
            .or_else(|| self.serve(&format!("{p}.html")))
            .or_else(|| self.serve(&format!("{p}/index.html")))
            .or_else(|| self.not_found(p))
    }

    fn not_found(&self, p: &str) -> Option<Intent> {
        match self.not_found_handling {
            NotFoundHandling::SinglePageApplication => self.serve("/index.html"),
            NotFoundHandling::NotFoundPage => {
                let mut dir = p;
                while !dir.is_empty() {
                    dir = dir.rfind('/').map_or("", |i| &dir[..i]);
                    if let Some(etag) = self.exists(&format!("{dir}/404.html")) {
                        return Some(Intent::Asset(AssetIntent { etag, status: 404 }));
                    }
                }
                None
            }
            NotFoundHandling::None => None,
        }
    }

    /// A redirect to `destination` if that path would serve the same file as
    /// `file` and is not itself a file (`safeRedirect`).
    fn redirect(&self, file: &str, destination: &str, skip: bool) -> Option<Intent> {
        if skip || self.exists(destination).is_some() {
            return None;
        }
        match self.intent(destination, true) {
            Some(Intent::Asset(a)) if Some(&a.etag) == self.exists(file).as_ref() => {
                Some(Intent::Redirect(destination.to_string()))
            }
            _ => None,
        }
    }
}

/// Percent-decode each segment (a malformed one stays as it is) and
/// collapse runs of `/`.
pub fn decode_path(pathname: &str) -> String {
    let joined = pathname
        .split('/')
        .map(|seg| decode_component(seg).unwrap_or_else(|| seg.to_string()))
        .collect::<Vec<_>>()
        .join("/");
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// `decodeURIComponent`: `None` on a malformed escape or invalid UTF-8.
fn decode_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `encodeURIComponent` on each segment.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let mut out = String::with_capacity(seg.len());
            for b in seg.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Headers of a served asset (`getAssetHeaders`).
pub fn asset_headers(
    etag: &str,
    content_type: Option<&str>,
    has_authorization_or_range: bool,
) -> Vec<(String, String)> {
    let mut h = vec![("ETag".to_string(), format!("\"{etag}\""))];
    if let Some(ct) = content_type {
        h.push(("Content-Type".into(), ct.to_string()));
    }
    if !has_authorization_or_range {
        h.push((
            "Cache-Control".into(),
            "public, max-age=0, must-revalidate".into(),
        ));
    }
    h
}

/// Whether `If-None-Match` names this ETag (strong or weak).
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    let strong = format!("\"{etag}\"");
    let weak = format!("W/{strong}");
    if_none_match.is_some_and(|v| v == strong || v == weak)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files by path; the ETag is the path itself.
    struct Files(Vec<&'static str>);

    impl Lookup for Files {
        fn exists(&self, path: &str) -> Option<String> {
            self.0.contains(&path).then(|| path.to_string())
        }
    }

    fn resolve(
        html: HtmlHandling,
        nf: NotFoundHandling,
        files: &[&'static str],
        p: &str,
    ) -> Outcome {
        let files = Files(files.to_vec());
        Resolver {
            html_handling: html,
            not_found_handling: nf,
            lookup: &files,
        }
        .resolve("GET", p, "")
    }

    fn serves(path: &str) -> Outcome {
        Outcome::Serve(AssetIntent {
            etag: path.into(),
            status: 200,
        })
    }

    fn to(path: &str) -> Outcome {
        Outcome::Redirect(path.into())
    }

    const SITE: &[&str] = &[
        "/index.html",
        "/about.html",
        "/blog/index.html",
        "/logo.png",
    ];

    #[test]
    fn auto_trailing_slash() {
        let r = |p| {
            resolve(
                HtmlHandling::AutoTrailingSlash,
                NotFoundHandling::None,
                SITE,
                p,
            )
        };
        assert_eq!(r("/"), serves("/index.html"));
        assert_eq!(r("/index.html"), to("/"));
        assert_eq!(r("/index"), to("/"));
        assert_eq!(r("/about"), serves("/about.html"));
        assert_eq!(r("/about.html"), to("/about"));
        assert_eq!(r("/about/"), to("/about"));
        assert_eq!(r("/blog/"), serves("/blog/index.html"));
        assert_eq!(r("/blog"), to("/blog/"));
        assert_eq!(r("/blog/index.html"), to("/blog/"));
        assert_eq!(r("/blog.html"), to("/blog/"));
        assert_eq!(r("/logo.png"), serves("/logo.png"));
        assert_eq!(r("/missing"), Outcome::NoIntent);
    }

    #[test]
    fn force_and_drop_trailing_slash() {
        let f = |p| {
            resolve(
                HtmlHandling::ForceTrailingSlash,
                NotFoundHandling::None,
                SITE,
                p,
            )
        };
        assert_eq!(f("/about"), to("/about/"));
        assert_eq!(f("/about/"), serves("/about.html"));
        assert_eq!(f("/blog"), to("/blog/"));
        assert_eq!(f("/"), serves("/index.html"));
        let d = |p| {
            resolve(
                HtmlHandling::DropTrailingSlash,
                NotFoundHandling::None,
                SITE,
                p,
            )
        };
        assert_eq!(d("/blog/"), to("/blog"));
        assert_eq!(d("/blog"), serves("/blog/index.html"));
        assert_eq!(d("/about/"), to("/about"));
        assert_eq!(d("/"), serves("/index.html"));
        assert_eq!(d("/index.html"), to("/"));
        let n = |p| resolve(HtmlHandling::None, NotFoundHandling::None, SITE, p);
        assert_eq!(n("/about"), Outcome::NoIntent);
        assert_eq!(n("/about.html"), serves("/about.html"));
    }

    #[test]
    fn not_found_handling() {
        let spa = resolve(
            HtmlHandling::AutoTrailingSlash,
            NotFoundHandling::SinglePageApplication,
            SITE,
            "/app/route",
        );
        assert_eq!(spa, serves("/index.html"));
        let files = &["/index.html", "/404.html", "/docs/404.html"];
        let page = |p| {
            resolve(
                HtmlHandling::AutoTrailingSlash,
                NotFoundHandling::NotFoundPage,
                files,
                p,
            )
        };
        let status404 = |etag: &str| {
            Outcome::Serve(AssetIntent {
                etag: etag.into(),
                status: 404,
            })
        };
        assert_eq!(page("/docs/a/b"), status404("/docs/404.html"));
        assert_eq!(page("/nope"), status404("/404.html"));
    }

    #[test]
    fn paths_are_decoded_and_redirected_to_their_canonical_form() {
        let files = &["/a b.html", "/[x].txt"];
        let r = |p| {
            resolve(
                HtmlHandling::AutoTrailingSlash,
                NotFoundHandling::None,
                files,
                p,
            )
        };
        assert_eq!(r("/a%20b"), serves("/a b.html"));
        assert_eq!(r("/[x].txt"), to("/%5Bx%5D.txt"));
        assert_eq!(r("/%5Bx%5D.txt"), serves("/[x].txt"));
        assert_eq!(r("//a%20b"), to("/a%20b"));
        assert_eq!(decode_path("/%zz/%E2%82%AC"), "/%zz/€");
    }

    #[test]
    fn only_get_and_head_are_served() {
        let files = Files(SITE.to_vec());
        let r = Resolver {
            html_handling: HtmlHandling::AutoTrailingSlash,
            not_found_handling: NotFoundHandling::None,
            lookup: &files,
        };
        assert_eq!(r.resolve("POST", "/about", ""), Outcome::MethodNotAllowed);
        assert_eq!(r.resolve("POST", "/api", ""), Outcome::NoIntent);
        assert_eq!(r.resolve("HEAD", "/about", ""), serves("/about.html"));
        assert_eq!(r.resolve("GET", "/about.html", "?q=1"), to("/about?q=1"));
        assert!(not_modified(Some("W/\"abc\""), "abc"));
        assert!(!not_modified(Some("\"abd\""), "abc"));
    }
}
