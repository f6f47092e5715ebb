//! `dev`: the local server on the embedded runtime, its bindings, hot reload
//! and error pages. `run` resolves the flags, builds the first snapshot,
//! then serves until Ctrl-C.

pub mod assets;
pub mod background;
pub mod bindings;
pub mod builder;
pub mod error_page;
pub mod explorer;
pub mod htmlrewriter;
pub mod listen;
pub mod pool;
pub mod reload;
pub mod request_body;
pub mod server;
pub mod settings;
pub mod stream;
pub mod websocket;
pub mod worker_loader;
pub mod workflows;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pywrangler_runtime::{Runtime, RuntimeConfig};

use crate::config::Project;
use crate::diagnostics::UserError;
use builder::{BuildError, Current, Shared};
use listen::Stopped;
use settings::SessionFlags;

/// How one `dev` session runs, resolved by `crate::settings::DevSettings`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Where to listen (`--ip`/`--port`, else the config's `dev` table, else
    /// 127.0.0.1:8787).
    pub listen: SocketAddr,
    /// Watch files and reload on change.
    pub reload: bool,
    /// Fire `triggers.crons` on their schedule.
    pub test_scheduled: bool,
    /// What every build of the session shares.
    pub session: SessionFlags,
}

/// Live instances the wasmtime pool allows (requests, objects, reloads).
const MAX_INSTANCES: u32 = 96;
/// Native stack each guest call may use (wasmtime's `max_wasm_stack`): room
/// for CPython's C recursion limit (5000 on WASI), so deep recursion raises
/// `RecursionError` instead of trapping. Measured need: 3–4 MiB (recursion
/// through `map` with a raised `sys.setrecursionlimit`; `json.loads` 5000
/// deep needs 2–3 MiB); 8 MiB leaves a margin for paths not measured.
const WASM_STACK: usize = 8 << 20;

/// Run `dev` on `project` (loaded and checked at start-up) until Ctrl-C.
pub fn run(opts: DevOptions, project: &Project) -> anyhow::Result<()> {
    let flags = opts.session;
    bindings::set_log_filter(flags.log_level);
    // Config errors stop `dev` at start-up (later they become the error page).
    let settings = settings::resolve(project, &flags)?;
    for w in &settings.warnings {
        crate::printer::warn(w);
    }
    // Instance temp dirs of runs that were killed (`kill -9`) and could not clean up.
    let swept = pywrangler_runtime::tmpdirs::sweep_stale();
    if swept > 0 {
        crate::printer::verbose(format!(
            "removed {swept} temp dir(s) left by an earlier run that was killed"
        ));
    }
    let t = std::time::Instant::now();
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: MAX_INSTANCES,
        // Enough native stack for CPython's C recursion limit, so deep
        // `json.loads`/`repr` raise RecursionError instead of trapping.
        max_wasm_stack: WASM_STACK,
        python: Some(settings.python.to_string()),
        progress: crate::runtime_notice::preparation_printer(),
        ..RuntimeConfig::default()
    })
    .context("starting the Python runtime")?;
    crate::printer::verbose(format!("runtime ready in {:.0?}", t.elapsed()));
    crate::runtime_notice::warn_version_gap(settings.python, runtime.python_version());
    // Top-level code runs in the guest too: on a thread with the stack an
    // event gets (the main thread's depends on `ulimit -s`).
    let first = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("pywrangler-build".into())
            .stack_size(WASM_STACK * 2)
            .spawn_scoped(s, || builder::build(&flags, &runtime, 0, true))
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
    .context("starting the build thread")?;
    let first = match first {
        Ok(g) => Current::Ready(g),
        Err(BuildError::Fatal(e)) => return Err(e),
        Err(BuildError::Broken(info)) => {
            server::report_to_terminal(&info);
            Current::Broken(Arc::new(info))
        }
    };
    let shared = Shared::new(flags, runtime, first);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Nested Worker/Durable Object calls run on the caller's thread, each
        // with up to WASM_STACK of native stack: room for the whole chain.
        .thread_stack_size(WASM_STACK * (bindings::MAX_CALL_DEPTH + 2))
        .max_blocking_threads(256)
        .build()
        .context("starting the async runtime")?;
    let result = rt.block_on(serve(shared, opts.listen, opts.reload, opts.test_scheduled));
    match result {
        Ok(Stopped::Abandoned) => {
            // Guests still run on blocking threads and use the runtime's
            // timers and handles: shutting it down under them would panic
            // there. The process exits right after this, which stops them.
            std::mem::forget(rt);
        }
        Ok(Stopped::Clean) | Err(_) => rt.shutdown_timeout(Duration::from_secs(2)),
    }
    // The instances of an abandoned run were never dropped: remove their /tmp.
    pywrangler_runtime::tmpdirs::remove_own();
    result.map(|_| ())
}

async fn serve(
    shared: Arc<Shared>,
    addr: SocketAddr,
    reload: bool,
    test_scheduled: bool,
) -> anyhow::Result<Stopped> {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(UserError::new(format!(
                "port {} on {} is already in use",
                addr.port(),
                addr.ip()
            ))
            .hint("stop the other server, or pick another port with --port (0 picks a free one)")
            .into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("listening on {addr}"))),
    };
    let local = listener.local_addr().context("reading the bound address")?;
    let _watcher = if reload {
        Some(reload::start(
            shared.clone(),
            tokio::runtime::Handle::current(),
        )?)
    } else {
        None
    };
    let mut background = vec![
        tokio::spawn(background::queue_loop(shared.clone())),
        tokio::spawn(background::alarm_loop(shared.clone())),
        tokio::spawn(workflows::workflow_loop(shared.clone())),
    ];
    if test_scheduled {
        background.push(tokio::spawn(background::cron_loop(shared.clone())));
    }
    eprintln!("Ready on http://{}:{}", local.ip(), local.port());
    Ok(listen::serve_until_signal(listener, shared, background).await)
}
