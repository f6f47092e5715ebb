"""RPC conversions, `import_from_javascript` and `patch_env`."""

import contextlib
import types

from _pywrangler import state
from _pywrangler.jsobj import JsDict, JsProxy, from_json, to_plain


def python_to_rpc(value):
    """Prepare a Python value for the other side of an RPC call."""
    from ._http import FetchResponse

    if isinstance(value, FetchResponse):
        return value
    if isinstance(value, JsDict):
        return to_plain(value)
    return value


def python_from_rpc(value):
    """Wrap a value received over RPC: dicts become attribute-accessible."""
    if isinstance(value, (dict, list)):
        return from_json(value)
    return value


def _wait_until(awaitable):
    ctx = state.current_context()
    if ctx is None:
        raise RuntimeError("waitUntil() called outside of a request")
    return ctx.waitUntil(awaitable)


def import_from_javascript(name):
    """`cloudflare:workers` (env, waitUntil), `cloudflare:email`
    (`EmailMessage`) and `cloudflare:sockets` are the JavaScript modules
    Python code may import."""
    if name == "cloudflare:workers":
        mod = types.ModuleType("cloudflare:workers")
        mod.__getattr__ = _cloudflare_workers_attr
        mod.waitUntil = _wait_until
        from ._entrypoints import DurableObject, WorkerEntrypoint, WorkflowEntrypoint

        mod.WorkerEntrypoint = WorkerEntrypoint
        mod.DurableObject = DurableObject
        mod.WorkflowEntrypoint = WorkflowEntrypoint
        return mod
    if name == "cloudflare:email":
        from _pywrangler.send_email import cloudflare_email_module

        return cloudflare_email_module()
    if name == "cloudflare:sockets":
        mod = types.ModuleType("cloudflare:sockets")

        def connect(*args, **kwargs):
            raise NotImplementedError("cloudflare:sockets connect() is not supported by the local runtime")

        mod.connect = connect
        return mod
    raise ImportError(
        f"import_from_javascript({name!r}): only 'cloudflare:workers', "
        "'cloudflare:email' and 'cloudflare:sockets' are available"
    )


def _cloudflare_workers_attr(name):
    if name == "env":
        return state.env
    raise AttributeError(f"module 'cloudflare:workers' has no attribute {name!r}")


@contextlib.contextmanager
def patch_env(mapping=None, **kwargs):
    """Temporarily override env entries (for tests): `with patch_env(FOO="x"):`."""
    updates = dict(mapping or {}, **kwargs)
    env = state.env
    if env is None:
        raise RuntimeError("patch_env(): env is not configured yet")
    saved = env._overrides.copy()
    env._overrides.update(updates)
    try:
        yield env
    finally:
        env._overrides.clear()
        env._overrides.update(saved)


__all__ = ["python_to_rpc", "python_from_rpc", "import_from_javascript", "patch_env", "JsProxy"]
