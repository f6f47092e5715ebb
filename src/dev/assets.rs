//! `dev`'s static assets: the router in front of the Worker and the asset
//! worker behind `env.ASSETS`, answering from the files on disk. Each request
//! looks the files up afresh (a few `stat`s), so edits to the assets
//! directory or its `.assetsignore` show up without a restart. Local ETags
//! hash the path, size and mtime, as miniflare's do, so they differ from
//! production's content hashes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::assets::AssetsOptions;
use crate::assets::manifest::{AssetsIgnore, content_type};
use crate::assets::routing::{self, Route};
use crate::assets::serve::{self, Lookup, Outcome, Resolver};
use crate::config::NotFoundHandling;

/// An answer from the assets.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A request as the assets see it.
pub struct AssetRequest<'a> {
    pub method: &'a str,
    /// Path and query as the client sent them (`/a%20b?x=1`).
    pub path_and_query: &'a str,
    /// Header lookup (case-insensitive name).
    pub header: &'a dyn Fn(&str) -> Option<String>,
}

/// For a request from the client: the assets' answer, or `None` when the
/// router sends it to the Worker.
pub fn route(opts: &AssetsOptions, req: &AssetRequest<'_>) -> Option<AssetReply> {
    let (pathname, _) = split_query(req.path_and_query);
    match routing::route(&opts.worker_first, pathname) {
        Route::Worker => None,
        // A `!/` rule: the assets answer even when nothing matches.
        Route::Assets => Some(fetch(opts, req)),
        Route::AssetsFirst { not_found_applies } => {
            let navigate = (req.header)("sec-fetch-mode").is_some_and(|m| m == "navigate");
            let not_found = if not_found_applies || (navigate && opts.navigation_prefers_assets) {
                opts.not_found_handling
            } else {
                NotFoundHandling::None
            };
            // No asset: the router falls through to the Worker.
            answer(opts, req, not_found)
        }
    }
}

/// `env.ASSETS.fetch(...)`: the asset worker alone (no router); 404 when
/// nothing matches.
pub fn fetch(opts: &AssetsOptions, req: &AssetRequest<'_>) -> AssetReply {
    answer(opts, req, opts.not_found_handling).unwrap_or(AssetReply {
        status: 404,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

/// The asset worker's answer; `None` when no asset matches. `_redirects`
/// applies first (a 200 rule serves another asset, and 404s if there is
/// none); `_headers` applies to every answer. Both files are read afresh,
/// like the assets.
fn answer(
    opts: &AssetsOptions,
    req: &AssetRequest<'_>,
    not_found: NotFoundHandling,
) -> Option<AssetReply> {
    use crate::assets::rules::{self, RedirectOutcome};
    let (pathname, search) = split_query(req.path_and_query);
    let (redirects, custom) = rules::load(&opts.dir);
    let host = (req.header)("host");
    let finish = |mut reply: AssetReply| {
        custom.apply(pathname, host.as_deref(), &mut reply.headers);
        reply
    };
    let (target, proxied) = match redirects.apply(pathname, search) {
        Some(RedirectOutcome::Redirect { status, location }) => {
            return Some(finish(AssetReply {
                status,
                headers: vec![("Location".into(), location)],
                body: Vec::new(),
            }));
        }
        Some(RedirectOutcome::Proxy(path)) => (path, true),
        None => (pathname.to_string(), false),
    };
    match resolve(opts, req, not_found, &target, search, proxied) {
        None if proxied => Some(finish(AssetReply {
            status: 404,
            headers: Vec::new(),
            body: Vec::new(),
        })),
        reply => reply.map(finish),
    }
}

/// The asset at `pathname` under `html_handling` and `not_found`. A
/// `proxied` lookup (a `_redirects` 200 rule) serves the file an
/// `html_handling` redirect would lead to instead of redirecting, as the
/// asset worker skips redirects for proxied paths.
fn resolve(
    opts: &AssetsOptions,
    req: &AssetRequest<'_>,
    not_found: NotFoundHandling,
    pathname: &str,
    search: &str,
    proxied: bool,
) -> Option<AssetReply> {
    let disk = match DiskLookup::new(&opts.dir) {
        Ok(d) => d,
        Err(e) => {
            let message = format!("cannot read the assets directory: {e}");
            return Some(text(500, message));
        }
    };
    let outcome = Resolver {
        html_handling: opts.html_handling,
        not_found_handling: not_found,
        lookup: &disk,
    }
    .resolve(req.method, pathname, search);
    let intent = match outcome {
        Outcome::NoIntent => return None,
        Outcome::MethodNotAllowed => return Some(text(405, "Method Not Allowed".into())),
        Outcome::Redirect(location) if proxied => {
            let (path, _) = split_query(&location);
            return resolve(opts, req, not_found, path, search, false);
        }
        Outcome::Redirect(location) => {
            return Some(AssetReply {
                status: 307,
                headers: vec![("Location".into(), location)],
                body: Vec::new(),
            });
        }
        Outcome::Serve(intent) => intent,
    };
    let Some((key, file)) = disk.file_of(&intent.etag) else {
        return Some(text(
            500,
            "the asset disappeared while it was served".into(),
        ));
    };
    let body = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => return Some(text(500, format!("cannot read {}: {e}", file.display()))),
    };
    let private = (req.header)("authorization").is_some() || (req.header)("range").is_some();
    let headers = serve::asset_headers(&intent.etag, content_type(&key).as_deref(), private);
    if serve::not_modified((req.header)("if-none-match").as_deref(), &intent.etag) {
        return Some(AssetReply {
            status: 304,
            headers,
            body: Vec::new(),
        });
    }
    let head = req.method.eq_ignore_ascii_case("HEAD");
    Some(AssetReply {
        status: intent.status,
        headers,
        body: if head { Vec::new() } else { body },
    })
}

fn text(status: u16, body: String) -> AssetReply {
    AssetReply {
        status,
        headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
        body: body.into_bytes(),
    }
}

/// `/a?b#c` → (`/a`, `?b`).
fn split_query(path_and_query: &str) -> (&str, &str) {
    let no_fragment = path_and_query.split('#').next().unwrap_or("");
    match no_fragment.find('?') {
        Some(i) => (&no_fragment[..i], &no_fragment[i..]),
        None => (no_fragment, ""),
    }
}

/// The path and query of a URL (`http://host/a?b` → `/a?b`); a bare path
/// is taken as it is.
pub fn path_of_url(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find(['/', '?']).map_or("/", |j| &rest[j..])
        }
        None => url,
    }
}

/// Assets on disk, with the same exclusions as the deploy manifest.
struct DiskLookup<'a> {
    dir: &'a Path,
    ignore: AssetsIgnore,
    /// ETag → (path, file) of the files looked up so far.
    seen: RefCell<HashMap<String, (String, PathBuf)>>,
}

impl<'a> DiskLookup<'a> {
    fn new(dir: &'a Path) -> Result<DiskLookup<'a>, crate::assets::manifest::ManifestError> {
        Ok(DiskLookup {
            dir,
            ignore: AssetsIgnore::load(dir)?,
            seen: RefCell::new(HashMap::new()),
        })
    }

    fn file_of(&self, etag: &str) -> Option<(String, PathBuf)> {
        self.seen.borrow().get(etag).cloned()
    }
}

impl Lookup for DiskLookup<'_> {
    fn exists(&self, path: &str) -> Option<String> {
        let rel = path.strip_prefix('/')?;
        if !stays_inside(rel, cfg!(windows)) || self.ignore.is_ignored(rel, false) {
            return None;
        }
        let file = self.dir.join(rel);
        let meta = std::fs::symlink_metadata(&file).ok()?;
        if !meta.is_file() {
            return None;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut h = blake3::Hasher::new();
        h.update(path.as_bytes());
        h.update(&meta.len().to_le_bytes());
        h.update(&mtime.to_le_bytes());
        let mut etag = h.finalize().to_hex().to_string();
        etag.truncate(32);
        self.seen
            .borrow_mut()
            .insert(etag.clone(), (path.to_string(), file));
        Some(etag)
    }
}

/// Whether the request path `rel` (no leading `/`) names a file inside the
/// assets dir: no empty, `.` or `..` segment and no `\\`; on Windows also no
/// `:`, which would make `C:/…` a drive (outside the dir) or `a:b` a stream.
fn stays_inside(rel: &str, windows: bool) -> bool {
    !rel.is_empty()
        && rel.split('/').all(|s| {
            !(s.is_empty()
                || s == "."
                || s == ".."
                || s.contains('\\')
                || windows && s.contains(':'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::WorkerFirst;

    #[test]
    fn request_paths_cannot_leave_the_assets_dir_on_any_host() {
        for windows in [false, true] {
            assert!(stays_inside("app.js", windows));
            assert!(stays_inside("a/b/c.html", windows));
            for bad in [
                "",
                "../x",
                "a/../../x",
                "a//b",
                "./a",
                "..\\x",
                "a\\..\\..\\x",
            ] {
                assert!(!stays_inside(bad, windows), "{bad:?} windows={windows}");
            }
        }
        // A drive or a stream on Windows; plain file names elsewhere.
        for colon in ["C:/Windows/win.ini", "C:", "index.html:secret"] {
            assert!(!stays_inside(colon, true), "{colon}");
            assert!(stays_inside(colon, false), "{colon}");
        }
    }
    use crate::config::{HtmlHandling, StaticRouting};

    fn site() -> (tempfile::TempDir, AssetsOptions) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("index.html"), "<h1>home</h1>").expect("write");
        std::fs::write(dir.path().join("app.js"), "x()").expect("write");
        std::fs::write(dir.path().join("_headers"), "/*\n  X: y").expect("write");
        let opts = AssetsOptions {
            dir: dir.path().to_path_buf(),
            binding: None,
            html_handling: HtmlHandling::AutoTrailingSlash,
            not_found_handling: NotFoundHandling::SinglePageApplication,
            worker_first: WorkerFirst::Never,
            navigation_prefers_assets: true,
        };
        (dir, opts)
    }

    fn get<'a>(path: &'a str, header: &'a dyn Fn(&str) -> Option<String>) -> AssetRequest<'a> {
        AssetRequest {
            method: "GET",
            path_and_query: path,
            header,
        }
    }

    #[test]
    fn spa_fallback_only_for_navigations_when_a_worker_exists() {
        let (_d, opts) = site();
        let none = |_: &str| None;
        let nav = |h: &str| (h == "sec-fetch-mode").then(|| "navigate".to_string());
        assert!(route(&opts, &get("/app/route", &none)).is_none());
        let r = route(&opts, &get("/app/route", &nav)).expect("index.html");
        assert_eq!(r.body, b"<h1>home</h1>");
        assert_eq!(fetch(&opts, &get("/app/route", &none)).status, 200);
    }

    #[test]
    fn config_files_and_traversal_are_never_served() {
        let (_d, mut opts) = site();
        opts.not_found_handling = NotFoundHandling::None;
        let none = |_: &str| None;
        assert_eq!(fetch(&opts, &get("/_headers", &none)).status, 404);
        assert_eq!(fetch(&opts, &get("/../etc/passwd", &none)).status, 404);
        assert_eq!(fetch(&opts, &get("/%2E%2E/x", &none)).status, 404);
        let js = fetch(&opts, &get("/app.js", &none));
        assert_eq!(js.status, 200);
        let ct = js
            .headers
            .iter()
            .find(|(k, _)| k == "Content-Type")
            .map(|(_, v)| v.as_str());
        assert!(ct.is_some_and(|c| c.contains("javascript")), "{ct:?}");
    }

    #[test]
    fn negative_rules_force_the_assets() {
        let (_d, mut opts) = site();
        opts.worker_first = WorkerFirst::Rules(StaticRouting {
            user_worker: vec!["/*".into()],
            asset_worker: vec!["/app.js".into()],
        });
        let none = |_: &str| None;
        assert!(route(&opts, &get("/", &none)).is_none());
        assert_eq!(
            route(&opts, &get("/app.js", &none)).map(|r| r.status),
            Some(200)
        );
        // A `!` rule's miss is the asset worker's 404, not the Worker.
        opts.not_found_handling = NotFoundHandling::None;
        opts.worker_first = WorkerFirst::Rules(StaticRouting {
            user_worker: vec!["/*".into()],
            asset_worker: vec!["/static/*".into()],
        });
        let gone = route(&opts, &get("/static/gone.css", &none)).map(|r| r.status);
        assert_eq!(gone, Some(404));
        assert_eq!(path_of_url("http://x.test/a/b?c=1"), "/a/b?c=1");
        assert_eq!(path_of_url("https://x.test"), "/");
        assert_eq!(path_of_url("/rel"), "/rel");
    }
}
