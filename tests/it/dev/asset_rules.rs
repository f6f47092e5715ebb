//! `_redirects` and `_headers` under `dev`, applied as Cloudflare's asset
//! worker does: redirects before the asset lookup (200 rules serve another
//! asset), custom headers on the built response; invalid lines are warned
//! about with file:line at start.

use super::{HELLO_CONFIG, no_redirects, serve};

const REDIRECTS: &str = "/old /about 301\n/blog/* /posts/:splat\n/app/* /index.html 200\n/gone/* /nothing.html 200\n/broken\n";
const HEADERS: &str = "/*\n  X-Frame-Options: DENY\n  X-Site: yes\n/about\n  ! X-Frame-Options\n  Cache-Control: no-store\n";

#[test]
fn redirects_and_headers_files_apply_under_dev() {
    let config = format!("{HELLO_CONFIG}\n[assets]\ndirectory = \"public\"\n");
    let (_dir, dev) = serve(
        &[
            ("wrangler.toml", &config),
            ("src/entry.py", super::ASSETS_WORKER),
            ("public/index.html", "<h1>home</h1>"),
            ("public/about.html", "<h1>about</h1>"),
            ("public/_redirects", REDIRECTS),
            ("public/_headers", HEADERS),
        ],
        &["--no-reload"],
    );
    let c = no_redirects();
    let get = |path: &str| c.get(dev.url(path)).send().expect("request");

    let moved = get("/old?x=1");
    assert_eq!(moved.status(), 301, "{}", dev.log());
    assert_eq!(moved.headers()["location"], "/about?x=1");
    assert_eq!(
        moved.headers()["x-site"],
        "yes",
        "headers apply to redirects too"
    );
    let splat = get("/blog/2024/hello");
    assert_eq!(splat.status(), 302);
    assert_eq!(splat.headers()["location"], "/posts/2024/hello");

    // A 200 rule serves another asset under the requested path.
    let proxied = get("/app/settings");
    assert_eq!(proxied.status(), 200);
    assert_eq!(proxied.headers()["x-frame-options"], "DENY");
    assert_eq!(proxied.text().expect("body"), "<h1>home</h1>");
    // ... and 404s when that asset does not exist (never the Worker).
    let missing = get("/gone/x");
    assert_eq!(missing.status(), 404);

    // `! Header` detaches what an earlier rule set.
    let about = get("/about");
    assert_eq!(about.status(), 200);
    assert!(
        about.headers().get("x-frame-options").is_none(),
        "{:?}",
        about.headers()
    );
    assert_eq!(about.headers()["cache-control"], "no-store");
    assert_eq!(about.headers()["x-site"], "yes");

    // Nothing matched: the Worker answers, without the assets' headers.
    let worker = get("/api/x");
    assert_eq!(worker.headers().get("x-site"), None);
    assert_eq!(worker.text().expect("body"), "worker /api/x");

    let log = dev.log();
    assert!(
        log.contains("_redirects:5: Expected exactly 2 or 3 whitespace-separated tokens. Got 1."),
        "{log}"
    );
}
