"""`pyodide.ffi` for the local runtime: values are already Python, so the
conversions are (nearly) identities."""

from _pywrangler.jsobj import JsBuffer, JsDict, JsException, JsProxy


class JsArray(list, JsProxy):
    pass


def to_js(obj, *, depth=-1, pyproxies=None, create_pyproxies=True, dict_converter=None, default_converter=None, eager_converter=None):
    """Return `obj`; with `dict_converter` (e.g. `Object.fromEntries`) dicts
    are rebuilt through it, recursively."""
    if dict_converter is None:
        return obj

    def conv(v, d):
        if d == 0:
            return v
        if isinstance(v, dict):
            return dict_converter([(k, conv(x, d - 1)) for k, x in v.items()])
        if isinstance(v, (list, tuple)):
            return [conv(x, d - 1) for x in v]
        return v

    return conv(obj, depth)


class _Proxy:
    def __init__(self, obj):
        self._obj = obj
        self._destroyed = False

    def __call__(self, *args, **kwargs):
        if self._destroyed:
            raise RuntimeError("This borrowed proxy was automatically destroyed")
        return self._obj(*args, **kwargs)

    def destroy(self):
        self._destroyed = True

    def __getattr__(self, name):
        return getattr(self._obj, name)


def create_proxy(obj, *, capture_this=False, roundtrip=True):
    return _Proxy(obj)


def create_once_callable(obj, *, _may_syncify=False):
    return _Proxy(obj)


def destroy_proxies(proxies):
    for p in proxies:
        if hasattr(p, "destroy"):
            p.destroy()


__all__ = [
    "JsArray", "JsBuffer", "JsDict", "JsException", "JsProxy", "create_once_callable",
    "create_proxy", "destroy_proxies", "to_js",
]
