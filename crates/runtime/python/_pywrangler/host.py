"""Synchronous calls to the host through the builtin `_pwhost` module, with
the global-scope I/O rule applied. Binding proxies wrap these in coroutines."""

from . import envelope, state
from .jsobj import JsException

GLOBAL_SCOPE_ERROR = "Disallowed operation called within global scope"


def call(op, args=None, body=b"", binding=None):
    """Run host op `op`; return `(value, body_bytes)` or raise JsException."""
    if state.in_global_scope:
        raise RuntimeError(
            f"{GLOBAL_SCOPE_ERROR}: {op} cannot run at the top level of a Worker "
            "(the global scope is snapshotted at deploy time). Move it into a handler."
        )
    import _pwhost

    header = {"v": envelope.VERSION, "op": op, "args": args if args is not None else {}}
    if binding is not None:
        header["binding"] = binding
    reply = _pwhost.call(envelope.encode(header, body or b""))
    h, b = envelope.decode(reply)
    if not h.get("ok"):
        err = h.get("error") or {}
        raise JsException(str(err.get("message", f"host op {op} failed")), err.get("type") or "Error")
    return h.get("value"), b


async def acall(op, args=None, body=b"", binding=None):
    """Awaitable form of `call` (host calls are synchronous underneath)."""
    return call(op, args, body, binding)
