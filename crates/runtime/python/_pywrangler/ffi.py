"""`pyodide.ffi` for the local runtime. Values here are already Python, so
the conversions keep production's shapes (dict → Map, `dict_converter` →
plain object, list → Array) without a JavaScript side; `run_sync` blocks on
an awaitable by running it on a nested event loop, as JSPI does in
production inside a handler, and refuses at the top level as production does."""

import inspect

from . import state
from .jsobj import JsBuffer, JsDict, JsException, JsProxy


class ConversionError(Exception):
    """A value could not be converted between Python and JavaScript."""


class JsNull(JsProxy):
    """The type of `jsnull`, JavaScript's `null` (`None` is `undefined`)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self):
        return False

    def __repr__(self):
        return "jsnull"

    @property
    def typeof(self):
        return "object"

    def to_py(self, *args, **kwargs):
        return None

    def _pywrangler_to_json(self):
        return None


jsnull = JsNull()


class JsIterable(JsProxy):
    """Marker: a JavaScript iterable."""


class JsIterator(JsProxy):
    """Marker: a JavaScript iterator."""


class JsPromise(JsProxy):
    """Marker: a JavaScript promise (locally, host calls are already awaited)."""


class JsCallable(JsProxy):
    """Marker: a JavaScript function."""


class JsTypedArray(JsProxy):
    """Marker: a JavaScript typed array."""


class JsDoubleProxy(JsProxy):
    """A proxy around a Python object (what `create_proxy` returns): `unwrap()`
    gives the object, `destroy()` releases it; calls and attributes pass through."""

    def __init__(self, obj, *, once=False):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_destroyed", None)
        object.__setattr__(self, "_once", once)

    def _live(self):
        if self._destroyed is not None:
            raise RuntimeError(self._destroyed)
        return self._obj

    def __call__(self, *args, **kwargs):
        obj = self._live()
        if self._once:
            object.__setattr__(self, "_destroyed", "Object has already been destroyed")
        return obj(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._live(), name)

    def __setattr__(self, name, value):
        setattr(self._live(), name, value)

    def unwrap(self):
        return self._live()

    def destroy(self):
        if self._destroyed is None:
            object.__setattr__(self, "_destroyed", "Object has already been destroyed")

    @property
    def typeof(self):
        return "function" if callable(self._obj) else "object"

    def __repr__(self):
        return f"<proxy of {self._obj!r}>"


class JsArray(list, JsProxy):
    """A JavaScript Array: a list with `length`, `push` and `to_py()`."""

    @property
    def length(self):
        return len(self)

    def push(self, *items):
        self.extend(items)
        return len(self)

    def to_py(self, *, depth=-1, default_converter=None):
        return [_to_py(v, depth - 1 if depth > 0 else depth) for v in self]


class JsMap(dict, JsProxy):
    """A JavaScript Map (what `to_js` makes of a dict by default): `get`,
    `set`, `has`, `delete`, `size`, and `to_py()` back to a dict."""

    def get(self, key, default=None):
        return super().get(key, default)

    def set(self, key, value):
        self[key] = value
        return self

    def has(self, key):
        return key in self

    def delete(self, key):
        return self.pop(key, _MISSING) is not _MISSING

    @property
    def size(self):
        return len(self)

    def entries(self):
        return JsArray(JsArray(kv) for kv in self.items())

    def to_py(self, *, depth=-1, default_converter=None):
        return {k: _to_py(v, depth - 1 if depth > 0 else depth) for k, v in self.items()}


JsMutableMap = JsMap
_MISSING = object()


def _to_py(value, depth):
    if depth == 0:
        return value
    if isinstance(value, JsNull):
        return None
    if isinstance(value, (JsArray, JsMap)):
        return value.to_py(depth=depth)
    if isinstance(value, JsDict):
        return {k: _to_py(v, depth - 1 if depth > 0 else depth) for k, v in value.items()}
    return value


def to_js(obj, *, depth=-1, pyproxies=None, create_pyproxies=True, dict_converter=None, default_converter=None, eager_converter=None):
    """Convert like Pyodide: dict → Map (or `dict_converter(entries)`, e.g.
    `Object.fromEntries` for a plain object), list/tuple → Array, bytes-like
    → Uint8Array; strings, numbers, booleans and None stay; anything else
    stays as the object (production hands JavaScript a proxy of it)."""

    def conv(v, d):
        if eager_converter is not None and not isinstance(v, (str, int, float, bool, type(None))):
            return eager_converter(v, lambda x: conv(x, d), lambda a, b: None)
        if d == 0 or isinstance(v, (str, int, float, bool, type(None), JsProxy)):
            return v
        nd = d - 1 if d > 0 else d
        if isinstance(v, dict):
            entries = [(k, conv(x, nd)) for k, x in v.items()]
            return dict_converter(JsArray(JsArray(e) for e in entries)) if dict_converter else JsMap(entries)
        if isinstance(v, (list, tuple)):
            return JsArray(conv(x, nd) for x in v)
        if isinstance(v, (set, frozenset)):
            return JsArray(conv(x, nd) for x in v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return JsBuffer(bytes(v))
        if default_converter is not None:
            return default_converter(v, lambda x: conv(x, nd), lambda a, b: None)
        if not create_pyproxies and not callable(v):
            raise ConversionError(f"Cannot convert {type(v).__name__} to JavaScript without creating a proxy")
        return v

    return conv(obj, depth)


def create_proxy(obj, *, capture_this=False, roundtrip=True):
    """A long-lived proxy of `obj` (event listeners, HTMLRewriter handlers)."""
    return JsDoubleProxy(obj)


def create_once_callable(obj, *, _may_syncify=False):
    """A proxy that may be called once, then is released."""
    if not callable(obj):
        raise TypeError("create_once_callable needs a callable")
    return JsDoubleProxy(obj, once=True)


def destroy_proxies(proxies):
    for p in proxies:
        destroy = getattr(p, "destroy", None)
        if destroy is not None:
            destroy()


def can_run_sync():
    """True where `run_sync` works: inside a handler, not at the top level."""
    return not state.in_global_scope


def run_sync(awaitable):
    """Block until `awaitable` (a coroutine, task-less awaitable or already
    settled future) finishes and return its result, raising what it raises.
    Production suspends the WebAssembly stack (JSPI); locally the awaitable
    runs to completion on a nested event loop, so it may await host calls,
    `asyncio.sleep` and other coroutines."""
    if state.in_global_scope:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise RuntimeError("No suspender")
    if not inspect.isawaitable(awaitable):
        raise TypeError(f"run_sync needs an awaitable, not {type(awaitable).__name__}")
    done = getattr(awaitable, "done", None)
    if callable(done) and done():
        return awaitable.result()
    from . import loop

    if inspect.iscoroutine(awaitable):
        return loop.run(awaitable)
    if getattr(awaitable, "get_loop", None) is not None:
        raise RuntimeError(
            "run_sync cannot wait for an unfinished asyncio Task or Future of the running "
            "event loop in the local runtime; pass the coroutine itself"
        )

    async def wait():
        return await awaitable

    return loop.run(wait())


IN_BROWSER = False

__all__ = [
    "ConversionError",
    "IN_BROWSER",
    "JsArray",
    "JsBuffer",
    "JsCallable",
    "JsDoubleProxy",
    "JsException",
    "JsIterable",
    "JsIterator",
    "JsMap",
    "JsMutableMap",
    "JsNull",
    "JsPromise",
    "JsProxy",
    "JsTypedArray",
    "can_run_sync",
    "create_once_callable",
    "create_proxy",
    "destroy_proxies",
    "jsnull",
    "run_sync",
    "to_js",
]
