"""Helpers the binding modules share: JS-style options, bodies as bytes, RPC."""

from .. import host
from ..jsobj import from_json, to_json


def _opts(options, kwargs, positional_key=None):
    """Merge a JS-style options argument (dict, or a bare string for
    `positional_key`) with keyword arguments, as Pyodide does."""
    out = {}
    if isinstance(options, str) and positional_key:
        out[positional_key] = options
    elif isinstance(options, dict):
        out.update(options)
    elif options is not None:
        out.update({k: getattr(options, k) for k in dir(options) if not k.startswith("_")})
    out.update(kwargs)
    return out


def _bytes(value, what):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raw = getattr(value, "_data", None)
    if isinstance(raw, bytes):
        return raw
    raw = getattr(value, "_pywrangler_body", None)
    if raw is not None:
        return raw()
    raise TypeError(f"{what}: cannot store a {type(value).__name__} (use str or bytes)")


def _rpc_method(call, name):
    async def method(*args):
        value, _ = call(name, [to_json(a) for a in args])
        return from_json((value or {}).get("result"))

    method.__name__ = name
    return method


async def _rpc_fetch(op, binding, base_args, resource, kwargs):
    from workers._http import make_request, response_from_host

    req = make_request(resource, kwargs)
    args = dict(base_args, method="fetch", request=req.wire())
    value, body = host.call(op, args, req._body or b"", binding=binding)
    return response_from_host(value, body)
