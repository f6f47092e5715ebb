"""The snapshot step and per-event dispatch behind `_pywrangler.snapshot_init`
and `_pywrangler.invoke` (docs/runtime-abi.md). Nothing here may raise into
the C shim: every failure becomes a status or an error envelope."""

import gc
import importlib
import inspect
import json
import os
import sys
import time
import traceback

from . import bytecode, entropy, envelope, host, loop, native, patches, state
from .jsobj import JsDict, from_json, to_json

_status = None
_init_error = None
_main = None
_default = None  # None | ("class", cls) | ("legacy", module)
_named = {}  # export name -> WorkerEntrypoint subclass
_durable = {}  # export name -> DurableObject subclass
_workflows = {}  # export name -> WorkflowEntrypoint subclass
_do_instances = {}  # (class name, id) -> instance

LEGACY_HANDLERS = ("on_fetch", "on_scheduled", "on_queue")


class WorkerError(Exception):
    """A problem with the Worker's code (wrong handler, wrong return type)."""


_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ASYNCIO_DIR = os.sep + "asyncio" + os.sep


_IMPORTLIB_DIR = os.sep + "importlib" + os.sep


def _internal(filename):
    return (
        filename.startswith(_RUNTIME_DIR)
        or _ASYNCIO_DIR in filename
        or _IMPORTLIB_DIR in filename
        or filename.startswith("<frozen importlib")
    )


def _user_traceback(tb):
    """Drop the runtime's and asyncio's leading frames, so the traceback starts
    where the Worker's code does (unless no frame is the Worker's)."""
    first = tb
    while tb is not None and _internal(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb if tb is not None else first


def error_dict(exc):
    # The runtime's own complaints about the Worker need no runtime frames.
    tb = None if isinstance(exc, WorkerError) else _user_traceback(exc.__traceback__)
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
    }


# ---------------------------------------------------------------- snapshot


def snapshot_init():
    """Import the main module with the entropy guard and the I/O ban on,
    discover entrypoints, collect garbage, and record the status.

    With PW_MAIN_MODULE="" (the host's *base* snapshot) no user module is
    imported: the host later sends `preload` and `load_main` events."""
    t0 = time.perf_counter()
    bytecode.install()
    state.in_global_scope = True
    loop.install_policy()
    entropy.turn_on()
    patches.install()
    native.install()
    _install_missing_stdlib_stubs()
    main_name = os.environ.get("PW_MAIN_MODULE", "entry")
    try:
        import workers  # noqa: F401 - our shim first, before user code

        # Everything `configure` and the event paths import lazily goes into
        # the snapshot too, or every restored instance imports it again.
        from . import bindings, events, websocket, workflows  # noqa: F401
        import workers._http, workers._rpc, workers.asgi, workers.wsgi  # noqa: F401

        loop.main_loop()
    except BaseException as e:  # noqa: BLE001 - reported through init_status
        _record_status(e, t0, base=main_name == "")
        return
    if main_name == "":
        _freeze_base()
        _record_status(None, t0, base=True)
        return
    _import_main(main_name, t0)


def _freeze_base():
    """Collect, then move every object of the base snapshot (stdlib, shim,
    preloaded dependencies) to the permanent generation: later collections
    never walk them, so importing the Worker on top writes no GC bits into
    the base's pages. On 3.14 this halves the layer (hello: 9.8 -> 4.5 MB);
    3.13 is unchanged. These objects live as long as the instance anyway."""
    gc.collect()
    gc.freeze()


def _import_main(main_name, t0):
    global _main
    error = None
    try:
        _main = importlib.import_module(main_name)
        _discover(_main)
    except BaseException as e:  # noqa: BLE001 - reported through init_status
        error = e
    gc.collect()
    _record_status(error, t0)


def _record_status(error, t0, base=False):
    global _status, _init_error
    _init_error = error_dict(error) if error is not None else None
    _status = {
        "ok": _init_error is None,
        "entrypoints": {
            "default": _default[0] if _default else None,
            "named": sorted(_named),
            "durable_objects": sorted(_durable),
            "workflows": sorted(_workflows),
        },
        "startup_ms": round((time.perf_counter() - t0) * 1000, 3),
    }
    if base:
        _status["base"] = True
    if _init_error is not None:
        _status["error"] = _init_error
    _flush()


def _ev_preload(header, body):
    """Base snapshot: import dependencies; failures are reported, not raised."""
    imported, failed = [], {}
    for name in header.get("modules") or []:
        try:
            importlib.import_module(name)
            imported.append(name)
        except BaseException as e:  # noqa: BLE001
            failed[name] = f"{type(e).__name__}: {e}"
    _freeze_base()
    return _ok({"imported": imported, "failed": failed})


def _ev_load_main(header, body):
    """Layer on a base snapshot: import the main module as snapshot_init would."""
    name = header.get("module") or "entry"
    os.environ["PW_MAIN_MODULE"] = name
    importlib.invalidate_caches()
    _import_main(name, time.perf_counter())
    return _ok(_status)


def init_status():
    """The status JSON recorded by snapshot_init (UTF-8 bytes)."""
    st = _status if _status is not None else {
        "ok": False,
        "error": {"type": "RuntimeError", "message": "snapshot_init() has not run", "traceback": ""},
        "entrypoints": {"default": None, "named": [], "durable_objects": [], "workflows": []},
        "startup_ms": 0,
    }
    return json.dumps(st).encode("utf-8")


def _install_missing_stdlib_stubs():
    """WASI CPython has no `ssl`; libraries such as anyio import it at module
    level. Give them a stub whose use fails clearly."""
    try:
        import ssl  # noqa: F401
    except ImportError:
        from ._compat import ssl_stub

        sys.modules["ssl"] = ssl_stub


def _discover(mod):
    global _default
    from workers import DurableObject, WorkerEntrypoint, WorkflowEntrypoint

    exported = getattr(mod, "__all__", None)
    names = list(exported) if exported is not None else [n for n in vars(mod) if not n.startswith("_")]
    if "Default" in vars(mod) and "Default" not in names:
        names.append("Default")
    default_cls = None
    for name in names:
        obj = getattr(mod, name, None)
        if not inspect.isclass(obj):
            continue
        if issubclass(obj, WorkerEntrypoint) and obj is not WorkerEntrypoint:
            if name == "Default":
                default_cls = obj
            else:
                _named[name] = obj
        elif issubclass(obj, DurableObject) and obj is not DurableObject:
            _durable[name] = obj
        elif issubclass(obj, WorkflowEntrypoint) and obj is not WorkflowEntrypoint:
            _workflows[name] = obj
    legacy = [h for h in LEGACY_HANDLERS if callable(getattr(mod, h, None))]
    if default_cls is not None and legacy:
        raise RuntimeError(
            "Cannot define multiple default entrypoints: the main module defines both "
            f"class Default(WorkerEntrypoint) and {', '.join(legacy)}. Keep only the Default class."
        )
    if default_cls is not None:
        _default = ("class", default_cls)
    elif legacy:
        _default = ("legacy", mod)


# ---------------------------------------------------------------- invoke


def invoke(data):
    """Run one event envelope; always returns a reply envelope."""
    try:
        try:
            header, body = envelope.decode(data)
        except envelope.EnvelopeError as e:
            return _error_envelope(e)
        kind = header.get("kind")
        if _init_error is not None:
            return envelope.encode({"ok": False, "error": _init_error})
        fn = _KINDS.get(kind)
        if fn is None:
            return _error_envelope(ValueError(f"unknown event kind {kind!r}"))
        if kind not in ("configure", "preload", "load_main") and state.in_global_scope:
            return _error_envelope(RuntimeError(f"{kind} event before configure"))
        return fn(header, body)
    except BaseException as e:  # noqa: BLE001 - becomes the error envelope
        return _error_envelope(e)
    finally:
        _flush()


def _error_envelope(exc):
    return envelope.encode({"ok": False, "error": error_dict(exc)})


def _ok(result=None):
    return envelope.encode({"ok": True, "result": result})


def _flush():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:  # noqa: BLE001
            pass


def _run_event(ctx, make_coro):
    """Run `make_coro()` with `ctx` as the current context, then finish the
    context's waitUntil work, on a free event loop."""

    async def main():
        result = await make_coro()
        await ctx._drain()
        return result

    state.contexts.append(ctx)
    try:
        return loop.run(main())
    finally:
        state.contexts.pop()
        if "_pywrangler_open_bodies" in ctx.__dict__:
            from workers._http import close_open_bodies

            close_open_bodies(ctx)


async def call_relaxed(fn, *args):
    """Call with as many positional arguments as `fn` accepts (production's
    "relaxed" call), awaiting the result if needed."""
    result = fn(*args[: _arity(fn, len(args))])
    if inspect.isawaitable(result):
        result = await result
    return result


async def call_exact(fn, *args):
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


_ARITY = {}  # function -> positional parameters it takes (None: any number)


def _arity(fn, n):
    key = getattr(fn, "__func__", fn)
    bound = key is not fn
    try:
        count = _ARITY[key]
    except (KeyError, TypeError):
        count = _positional_count(key)
        try:
            _ARITY[key] = count
        except TypeError:
            pass
    if count is None:
        return n
    if bound:
        count -= 1
    return max(0, min(n, count))


def _positional_count(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _context(props=None):
    """The handler's ctx; `props` (JSON) becomes `ctx.props`, as the caller's
    `getEntrypoint(name, {"props": …})` set it."""
    from workers import Context

    return Context(from_json(props) if props is not None else None)


def _request(req, body):
    from workers import Request

    method = str(req.get("method") or "GET").upper()
    return Request(
        req.get("url") or "http://localhost/",
        method=method,
        headers=[tuple(p) for p in req.get("headers") or []],
        body=body if body else None,
        cf=req.get("cf"),
    )


def _response_envelope(result, where):
    from workers import FetchResponse

    if not isinstance(result, FetchResponse):
        raise WorkerError(
            f"{where} returned {type(result).__name__}, expected a workers.Response "
            "(return Response(...) from the handler)"
        )
    status, headers, body = result.wire()
    head = {"ok": True, "status": status, "headers": headers}
    if getattr(result, "web_socket", None) is not None:
        from . import websocket

        head["webSocket"] = websocket.response_socket_id(result.web_socket)
    return envelope.encode(head, body)


def _entrypoint(name):
    """(kind, target) for the entrypoint `name` ("Default" or a named export)."""
    if name in (None, "", "Default", "default"):
        if _default is None:
            if _main is not None and inspect.isclass(getattr(_main, "Default", None)):
                raise WorkerError(
                    "`Default` in the main module must subclass workers.WorkerEntrypoint: "
                    "write `class Default(WorkerEntrypoint)` (from workers import WorkerEntrypoint)"
                )
            raise WorkerError(
                "the main module has no default entrypoint: define "
                "`class Default(WorkerEntrypoint)` (from workers import WorkerEntrypoint)"
            )
        return _default
    if name in _named:
        return ("class", _named[name])
    raise WorkerError(f"the main module exports no WorkerEntrypoint named {name!r}")


def _method(obj, name, what):
    fn = getattr(obj, name, None)
    if fn is None or not callable(fn):
        raise WorkerError(f"{what} has no {name}() method")
    return fn


async def _dispatch_fetch(kind, target, req, ctx, label):
    if kind == "legacy":
        fn = getattr(target, "on_fetch", None)
        if fn is None:
            raise WorkerError("the main module has no on_fetch handler")
        return await call_relaxed(fn, req, state.env, ctx)
    inst = target(ctx, state.env)
    return await call_relaxed(_method(inst, "fetch", label), req, state.env, ctx)


def _ev_configure(header, body):
    from . import bindings

    state.bindings = header.get("env") or {}
    state.env = bindings.make_env(state.bindings)
    entropy.lift(header.get("entropy_seed"))
    state.in_global_scope = False
    _do_instances.clear()
    return _ok(None)


def _ev_fetch(header, body):
    req = _request(header, body)
    if header.get("body_stream") is not None:
        from workers._http import _PulledBody

        req._pulled = _PulledBody(header["body_stream"])
    name = header.get("entrypoint") or "Default"
    kind, target = _entrypoint(name)
    ctx = _context()

    where = f"{name}.fetch" if kind == "class" else "on_fetch"

    async def run():
        result = await _dispatch_fetch(kind, target, req, ctx, name)
        return await _finish_body(result, where, bool(header.get("stream")))

    result = _run_event(ctx, run)
    if result is _STREAMED:
        return envelope.encode({"ok": True, "streamed": True}, b"")
    return _response_envelope(result, where)


_STREAMED = object()


async def _finish_body(result, where, stream):
    """Send a streamed body to the host chunk by chunk (`stream`: the host
    asked for it) and return `_STREAMED`, or buffer it into the response."""
    body = getattr(result, "_stream", None)
    if body is None:
        return result
    from workers._http import iter_stream

    chunks = iter_stream(body)
    try:
        if not stream:
            result._body = b"".join([c async for c in chunks])
            result._stream = None
            return result
        status, headers, _ = result.wire()
        host.call("response.start", {"status": status, "headers": headers})
        async for chunk in chunks:
            if chunk:
                host.call("response.write", None, chunk)
        return _STREAMED
    finally:
        await chunks.aclose()


def _ev_scheduled(header, body):
    from .events import ScheduledController

    kind, target = _entrypoint(header.get("entrypoint"))
    controller = ScheduledController(header.get("cron"), header.get("scheduled_time"))
    ctx = _context()

    async def run():
        if kind == "legacy":
            fn = getattr(target, "on_scheduled", None)
            if fn is None:
                raise WorkerError("the main module has no on_scheduled handler")
            return await call_relaxed(fn, controller, state.env, ctx)
        inst = target(ctx, state.env)
        return await call_exact(_method(inst, "scheduled", "Default"), controller, state.env, ctx)

    _run_event(ctx, run)
    return _ok({"no_retry": controller._no_retry})


def _ev_queue(header, body):
    from .events import MessageBatch

    kind, target = _entrypoint(header.get("entrypoint"))
    batch = MessageBatch(header.get("queue"), header.get("messages"))
    ctx = _context()

    async def run():
        if kind == "legacy":
            fn = getattr(target, "on_queue", None)
            if fn is None:
                raise WorkerError("the main module has no on_queue handler")
            return await call_relaxed(fn, batch, state.env, ctx)
        inst = target(ctx, state.env)
        return await call_exact(_method(inst, "queue", "Default"), batch, state.env, ctx)

    _run_event(ctx, run)
    return _ok(batch.outcome())


async def _durable_object(class_name, id_hex):
    from . import bindings

    cls = _durable.get(class_name)
    if cls is None:
        raise WorkerError(f"the main module exports no DurableObject class named {class_name!r}")
    key = (class_name, id_hex)
    entry = _do_instances.get(key)
    if entry is None:
        do_state = bindings.DurableObjectState(class_name, id_hex)
        do_state._evict = lambda: _do_instances.pop(key, None)
        entry = (cls(do_state, state.env), do_state)
        _do_instances[key] = entry
    inst, do_state = entry
    await do_state._ready()
    return inst


def _ev_rpc(header, body):
    class_name = header.get("class") or "Default"
    method = header.get("method")
    if not method or not isinstance(method, str):
        raise ValueError("rpc event without a method name")
    args = [from_json(a) for a in header.get("args") or []]
    ctx = _context(header.get("props"))
    is_do = class_name in _durable

    async def target():
        if is_do:
            return await _durable_object(class_name, header.get("id"))
        kind, t = _entrypoint(class_name)
        if kind == "legacy":
            return None
        return t(ctx, state.env)

    if method == "fetch":
        req = _request(header.get("request") or {}, body)

        async def run_fetch():
            inst = await target()
            if inst is None:
                result = await _dispatch_fetch("legacy", _main, req, ctx, class_name)
                return await _finish_body(result, f"{class_name}.fetch", False)
            result = await call_relaxed(_method(inst, "fetch", class_name), req, state.env, ctx)
            # Host-internal (stub) fetches stay buffered.
            return await _finish_body(result, f"{class_name}.fetch", False)

        result = _run_event(ctx, run_fetch)
        return _response_envelope(result, f"{class_name}.fetch")

    if method.startswith("_"):
        raise WorkerError(f"{class_name}.{method} is private and cannot be called over RPC")

    async def run_call():
        inst = await target()
        if inst is None:
            raise WorkerError("legacy on_* Workers have no RPC methods (define class Default(WorkerEntrypoint))")
        fn = _method(inst, method, class_name)
        return await call_exact(fn, *args)

    result = _run_event(ctx, run_call)
    from workers import FetchResponse

    if isinstance(result, FetchResponse):
        raise WorkerError(f"{class_name}.{method} returned a Response; only fetch() may return one over RPC")
    return _ok(to_json(result))


def _ev_alarm(header, body):
    class_name = header.get("class")
    ctx = _context()
    info = JsDict(retryCount=int(header.get("retry_count") or 0), isRetry=bool(header.get("retry_count")))

    async def run():
        inst = await _durable_object(class_name, header.get("id"))
        return await call_relaxed(_method(inst, "alarm", class_name), info)

    _run_event(ctx, run)
    return _ok(None)


def _ev_websocket(header, body):
    from . import websocket

    return websocket.event(header, body)


def _ev_workflow(header, body):
    from . import workflows

    return _ok(workflows.run_event(header, _workflows, sys.modules[__name__]))


def _ev_html(header, body):
    """A match of a running HTMLRewriter transform (a host-call re-entry)."""
    from . import htmlrewriter

    return _ok(htmlrewriter.handle_event(header))


_KINDS = {
    "preload": _ev_preload,
    "load_main": _ev_load_main,
    "configure": _ev_configure,
    "fetch": _ev_fetch,
    "scheduled": _ev_scheduled,
    "queue": _ev_queue,
    "rpc": _ev_rpc,
    "alarm": _ev_alarm,
    "workflow": _ev_workflow,
    "html": _ev_html,
    "websocket": _ev_websocket,
}
