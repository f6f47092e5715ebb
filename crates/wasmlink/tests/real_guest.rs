//! The real CPython 3.14 guest link (main.so + libpython3.14.so, ~9.5 MB). Ignored by default:
//! the inputs are build products, not committed. Run with
//! `WASMLINK_REAL_INPUTS=/dir/with/main.so+libpython3.14.so cargo test --release -p
//! pywrangler-wasmlink --test real_guest -- --ignored`.

use std::time::{Duration, Instant};

use pywrangler_wasmlink::{Input, Options, link, output_features};
use wasmparser::{Parser, Payload, TypeRef};

const KEEP: &[&str] = &[
    "memory",
    "_initialize",
    "wizer-initialize",
    "pw_init_status",
    "pw_alloc",
    "pw_free",
    "pw_invoke",
];

#[test]
#[ignore = "needs WASMLINK_REAL_INPUTS (main.so, libpython3.14.so)"]
fn links_the_real_314_guest() {
    let dir = std::env::var("WASMLINK_REAL_INPUTS").expect("set WASMLINK_REAL_INPUTS");
    let read = |f: &str| std::fs::read(format!("{dir}/{f}")).unwrap_or_else(|e| panic!("{f}: {e}"));
    let inputs = [
        Input::new("main", read("main.so")),
        Input::new("py", read("libpython3.14.so")),
    ];
    let opts = Options {
        keep_exports: KEEP.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    };
    let t = Instant::now();
    let linked = link(&inputs, &opts).expect("links");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(
        link(&inputs, &opts).expect("links").wasm,
        linked.wasm,
        "deterministic"
    );
    assert_eq!(linked.report.first_page_end_patched, ["main"]);
    assert_eq!(linked.report.dropped_starts, ["py"]);
    assert!(linked.report.trap_stubs.is_empty());

    wasmparser::Validator::new_with_features(output_features())
        .validate_all(&linked.wasm)
        .expect("validates without GC and reference types");
    let (mut modules, mut exports, mut mutable_globals) = (Vec::new(), Vec::new(), 0);
    for p in Parser::new(0).parse_all(&linked.wasm) {
        match p.expect("parses") {
            Payload::ImportSection(r) => {
                for i in r.into_imports() {
                    let i = i.expect("import");
                    assert!(matches!(i.ty, TypeRef::Func(_)), "{}.{}", i.module, i.name);
                    modules.push(i.module.to_string());
                }
            }
            Payload::GlobalSection(r) => {
                mutable_globals += r
                    .into_iter()
                    .filter(|g| g.as_ref().expect("global").ty.mutable)
                    .count();
            }
            Payload::ExportSection(r) => {
                exports.extend(r.into_iter().map(|e| e.expect("export").name.to_string()));
            }
            _ => {}
        }
    }
    assert_eq!(
        modules
            .iter()
            .filter(|m| *m == "wasi_snapshot_preview1")
            .count(),
        40
    );
    assert_eq!(modules.iter().filter(|m| *m == "pywrangler").count(), 2);
    assert_eq!(modules.len(), 42);
    assert_eq!(mutable_globals, 1, "only the stack pointer");
    assert_eq!(exports, KEEP);
}
