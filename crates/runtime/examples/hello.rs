//! The runtime API end to end: snapshot a Worker directory, restore an
//! instance, send it one request.
//!
//! ```sh
//! cargo run --release -p pywrangler-runtime --example hello -- path/to/src entry [path/to/python_modules]
//! ```
//! Without arguments it writes a hello-world Worker to a temp dir.

use std::sync::Arc;
use std::time::Instant;

use pywrangler_runtime::{
    HostHandler, HostReply, InstanceOptions, Request, Runtime, RuntimeConfig, SnapshotSpec,
};

/// Bindings would be implemented here (`dev` does); this one has none.
struct NoBindings;

impl HostHandler for NoBindings {
    fn call(&self, header: serde_json::Value, _body: Vec<u8>) -> HostReply {
        HostReply::error("Error", format!("no binding implements {}", header["op"]))
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir()?;
    let (src, main_module) = match args.first() {
        Some(src) => (
            src.into(),
            args.get(1).cloned().unwrap_or_else(|| "entry".into()),
        ),
        None => {
            let src = tmp.path().join("src");
            std::fs::create_dir_all(&src)?;
            std::fs::write(
                src.join("entry.py"),
                "from workers import WorkerEntrypoint, Response\n\nclass Default(WorkerEntrypoint):\n    async def fetch(self, request):\n        return Response('Hello from ' + request.url)\n",
            )?;
            (src, "entry".to_string())
        }
    };
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let mut spec = SnapshotSpec::new(src, main_module, tmp.path().join("cache"));
    spec.python_modules = args.get(2).map(Into::into);

    let t = Instant::now();
    let snapshot = runtime.build_snapshot(&spec)?;
    eprintln!(
        "snapshot: {:?} in {:?} ({:?})",
        snapshot.kind(),
        t.elapsed(),
        snapshot.stats()
    );
    for line in snapshot.build_log() {
        eprintln!("[top level] {}", line.text);
    }

    let t = Instant::now();
    let mut options = InstanceOptions::new(Arc::new(NoBindings));
    options.log = Arc::new(|line| eprintln!("[worker] {}", line.text));
    let mut instance = snapshot.instantiate(options)?;
    let response = instance.fetch(Request::get("http://localhost:8787/"))?;
    eprintln!("first response in {:?}", t.elapsed());
    println!(
        "{} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
    Ok(())
}
