//! `dev`: the local server on the embedded runtime, its bindings, hot reload
//! and error pages. `run` resolves the flags, builds the first snapshot,
//! then serves until Ctrl-C.

pub mod assets;
pub mod background;
pub mod bindings;
pub mod builder;
pub mod error_page;
pub mod pool;
pub mod reload;
pub mod server;
pub mod settings;
pub mod stream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pywrangler_runtime::{Runtime, RuntimeConfig};

use crate::cli::DevArgs;
use crate::diagnostics::UserError;
use builder::{BuildError, Current, Shared};
use settings::SessionFlags;

/// Live instances the wasmtime pool allows (requests, objects, reloads).
const MAX_INSTANCES: u32 = 96;
/// Native stack each guest call may use (wasmtime's `max_wasm_stack`).
const WASM_STACK: usize = 2 << 20;

/// Run `dev` until Ctrl-C.
pub fn run(args: &DevArgs) -> anyhow::Result<()> {
    let flags = SessionFlags::from_args(args)?;
    bindings::set_log_filter(flags.log_level);
    // Config errors stop `dev` at start-up (later they become the error page).
    let settings = flags.resolve()?;
    for w in &settings.warnings {
        crate::printer::warn(w);
    }
    let ip: IpAddr = args.ip.parse().map_err(|_| {
        UserError::usage(format!("--ip `{}` is not an IP address", args.ip))
            .hint("use e.g. --ip 127.0.0.1 or --ip 0.0.0.0")
    })?;
    let t = std::time::Instant::now();
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: MAX_INSTANCES,
        // Enough native stack for CPython's C recursion limit, so deep
        // `json.dumps`/`repr` raise RecursionError instead of trapping; the
        // most wasmtime allows without a larger async stack.
        max_wasm_stack: WASM_STACK,
        ..RuntimeConfig::default()
    })
    .context("starting the Python runtime")?;
    crate::printer::verbose(format!("runtime ready in {:.0?}", t.elapsed()));
    crate::runtime_notice::warn_version_gap(settings.python, runtime.python_version());
    let first = match builder::build(&flags, &runtime, 0, true) {
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
    let result = rt.block_on(serve(
        shared,
        SocketAddr::new(ip, args.port),
        !args.no_reload,
        args.test_scheduled,
    ));
    rt.shutdown_timeout(Duration::from_secs(2));
    result
}

async fn serve(
    shared: Arc<Shared>,
    addr: SocketAddr,
    reload: bool,
    test_scheduled: bool,
) -> anyhow::Result<()> {
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
    tokio::spawn(background::queue_loop(shared.clone()));
    tokio::spawn(background::alarm_loop(shared.clone()));
    if test_scheduled {
        tokio::spawn(background::cron_loop(shared.clone()));
    }
    eprintln!("Ready on http://{}:{}", local.ip(), local.port());
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        crate::printer::warn(format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let s = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| server::handle(s.clone(), req, remote));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = &mut shutdown => {
                crate::printer::info("Shutting down local server.");
                return Ok(());
            }
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
