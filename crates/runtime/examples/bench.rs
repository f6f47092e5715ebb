//! Runtime benchmarks: prints a Markdown table (docs/benchmarks.md).
//!
//! ```sh
//! cargo run --release -p pywrangler-runtime --example bench            # needs the guest and uv
//! ```
//! Workers: `hello` (stdlib only) and `heavy` (jinja2 with MarkupSafe's pure
//! fallback, httpx and its pure dependencies, installed with `uv pip install --target`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pywrangler_runtime::{
    HostHandler, HostReply, InstanceOptions, Request, Runtime, RuntimeConfig, Snapshot,
    SnapshotKind, SnapshotSpec,
};

struct NoBindings;

impl HostHandler for NoBindings {
    fn call(&self, _header: serde_json::Value, _body: Vec<u8>) -> HostReply {
        HostReply::error("Error", "no bindings in the benchmark")
    }
}

const HELLO: &str = "from workers import WorkerEntrypoint, Response\n\nclass Default(WorkerEntrypoint):\n    async def fetch(self, request):\n        return Response('Hello world')\n";

const HEAVY: &str = r#"import jinja2, httpx
from workers import WorkerEntrypoint, Response

ENV = jinja2.Environment(autoescape=True)
PAGE = ENV.from_string("<ul>{% for i in items %}<li>{{ i.name }} {{ i.url }}</li>{% endfor %}</ul>")

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = httpx.URL(request.url)
        items = [{"name": f"<item {n}>", "url": str(url.copy_with(query=f"n={n}".encode()))} for n in range(20)]
        return Response(PAGE.render(items=items), headers={"content-type": "text/html"})
"#;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 1.0 {
        format!("{m:.2} ms")
    } else {
        format!("{:.0} µs", m * 1000.0)
    }
}

fn options() -> InstanceOptions {
    let mut o = InstanceOptions::new(Arc::new(NoBindings));
    o.log = Arc::new(|_| {});
    o
}

fn uv_install(dir: &Path, packages: &[&str]) -> anyhow::Result<()> {
    if dir.join(".done").exists() {
        return Ok(());
    }
    let status = std::process::Command::new("uv")
        .args([
            "pip",
            "install",
            "--quiet",
            "--python-version",
            "3.13",
            "--target",
        ])
        .arg(dir)
        .args(packages)
        .status()?;
    anyhow::ensure!(status.success(), "uv pip install failed");
    std::fs::write(dir.join(".done"), "")?;
    Ok(())
}

struct Row {
    name: &'static str,
    values: Vec<String>,
}

fn spec(root: &Path, pm: Option<&Path>, cache: &str) -> SnapshotSpec {
    let mut s = SnapshotSpec::new(root.join("src"), "entry", root.join(cache));
    s.python_modules = pm.map(Path::to_path_buf);
    s
}

fn restore_stats(snap: &Snapshot, n: usize) -> anyhow::Result<(Duration, Duration)> {
    let (mut restore, mut first) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        let mut inst = snap.instantiate(options())?;
        let r = t.elapsed();
        let resp = inst.fetch(Request::get("http://localhost/x"))?;
        anyhow::ensure!(resp.status == 200, "status {}", resp.status);
        restore.push(r);
        first.push(t.elapsed());
    }
    Ok((median(restore), median(first)))
}

fn bench_worker(rt: &Runtime, root: &Path, pm: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let _ = std::fs::remove_dir_all(root.join("cache"));
    let _ = std::fs::remove_dir_all(root.join("cache-direct"));

    // Cold: base + layer, then the background full build.
    let t = Instant::now();
    let snap = rt.build_snapshot(&spec(root, pm, "cache"))?;
    let cold_layered = t.elapsed();
    snap.wait_for_full(Duration::from_secs(600))
        .map_err(anyhow::Error::msg)?;
    let cold_full = t.elapsed();
    out.push(ms(cold_layered));
    out.push(ms(cold_full));

    // Direct full build (deploy path), empty cache.
    let mut direct = spec(root, pm, "cache-direct");
    direct.layered = false;
    let t = Instant::now();
    rt.build_snapshot(&direct)?;
    out.push(ms(t.elapsed()));

    // Cache hit.
    let t = Instant::now();
    let full = rt.build_snapshot(&spec(root, pm, "cache"))?;
    anyhow::ensure!(full.stats().cache_hit, "expected a cache hit");
    out.push(ms(t.elapsed()));

    // Reload after a source edit (layer on the cached base), stays layered.
    let entry = root.join("src/entry.py");
    let mut text = std::fs::read_to_string(&entry)?;
    text.push_str(&format!("\n# edit {}\n", std::process::id()));
    std::fs::write(&entry, &text)?;
    let mut s = spec(root, pm, "cache");
    s.full_in_background = false;
    let t = Instant::now();
    let layered = rt.build_snapshot(&s)?;
    let is_layered = layered.kind() == SnapshotKind::Layered;
    out.push(if is_layered {
        format!(
            "{} (layer, {:.1} MB diff)",
            ms(t.elapsed()),
            layered.stats().delta_bytes as f64 / 1e6
        )
    } else {
        format!("{} (direct: the shim has no base mode)", ms(t.elapsed()))
    });

    let (r_full, f_full) = restore_stats(&full, 25)?;
    out.push(ms(r_full));
    out.push(ms(f_full));
    if is_layered {
        let (r_layer, f_layer) = restore_stats(&layered, 25)?;
        out.push(ms(r_layer));
        out.push(ms(f_layer));
    } else {
        out.extend(["n/a".to_string(), "n/a".to_string()]);
    }

    // Per-request time on a reused instance.
    let mut inst = full.instantiate(options())?;
    inst.fetch(Request::get("http://localhost/warm"))?;
    let mut per = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        inst.fetch(Request::get(format!("http://localhost/{i}")))?;
        per.push(t.elapsed());
    }
    out.push(ms(median(per)));

    // Cold start without a snapshot.
    let mut cold = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let mut inst = rt.cold_instance(&spec(root, pm, "cache"), options())?;
        inst.fetch(Request::get("http://localhost/x"))?;
        cold.push(t.elapsed());
    }
    let cold = median(cold);
    out.push(ms(cold));
    out.push(format!("{:.0}×", cold.as_secs_f64() / f_full.as_secs_f64()));
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let rt = Runtime::new(RuntimeConfig::default())?;
    let work: PathBuf = std::env::var_os("PYWRANGLER_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("pywrangler-bench"));
    let hello = work.join("hello");
    let heavy = work.join("heavy");
    for (root, src) in [(&hello, HELLO), (&heavy, HEAVY)] {
        std::fs::create_dir_all(root.join("src"))?;
        std::fs::write(root.join("src/entry.py"), src)?;
    }
    let pm = heavy.join("python_modules");
    uv_install(&pm, &["jinja2", "markupsafe", "httpx"])?;

    eprintln!("benchmarking hello…");
    let a = bench_worker(&rt, &hello, None)?;
    eprintln!("benchmarking heavy…");
    let b = bench_worker(&rt, &heavy, Some(&pm))?;
    let names = [
        "snapshot build, cold (base + layer ready)",
        "… full `.cwasm` ready (background)",
        "snapshot build, direct wizer + compile (deploy path)",
        "snapshot build, cache hit",
        "reload after a source edit (new layer)",
        "restore p50 (instantiate + configure), full",
        "restore → first response p50, full",
        "restore p50, layered",
        "restore → first response p50, layered",
        "per-request p50, reused instance",
        "cold start without snapshot (init + import + first response)",
        "cold ÷ full restore-to-first-response",
    ];
    let rows: Vec<Row> = names
        .iter()
        .enumerate()
        .map(|(i, n)| Row {
            name: n,
            values: vec![a[i].clone(), b[i].clone()],
        })
        .collect();
    println!("| measurement | hello (stdlib) | heavy (jinja2 + httpx) |");
    println!("|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} |", r.name, r.values[0], r.values[1]);
    }
    Ok(())
}
