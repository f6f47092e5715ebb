"""`env.LOADER` (`worker_loaders[]`): dynamic workers from code, as workerd's
WorkerLoader. `get(id, get_code)` calls `get_code` only when `id` is not
loaded yet; `load(code)` always starts a new worker. The host builds each one
(`loader.load`) and runs its entrypoints (`loader.call`); see
`src/dev/worker_loader.rs`."""

import base64
import inspect
import json

from . import host
from .jsobj import from_json, to_json

_JS_TYPES = ("js", "cjs")
_CONTENT_KEYS = ("py", "js", "cjs", "text", "data", "json", "wasm")


def _field(obj, name, default=None):
    """`obj[name]` for a dict, `obj.name` for a JS-style object."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _has(obj, name):
    if isinstance(obj, dict):
        return name in obj
    return hasattr(obj, name)


def _items(obj):
    if isinstance(obj, dict):
        return list(obj.items())
    to_py = getattr(obj, "to_py", None)
    if to_py is not None:
        value = to_py()
        if isinstance(value, dict):
            return list(value.items())
    return [(k, getattr(obj, k)) for k in dir(obj) if not k.startswith("_")]


def _bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    to_bytes = getattr(value, "to_bytes", None)
    if to_bytes is not None:
        return bytes(to_bytes())
    raise TypeError(f"module data must be bytes, not {type(value).__name__}")


def _module(name, value):
    """One entry of `code.modules` as the host's `{name, type, text|base64}`."""
    if isinstance(value, str):
        if name.endswith(".py"):
            kind = "py"
        elif name.endswith(".cjs"):
            kind = "cjs"
        elif name.endswith((".js", ".mjs")):
            kind = "js"
        else:
            kind = "text"
        return {"name": name, "type": kind, "text": value}
    keys = [k for k in _CONTENT_KEYS if _has(value, k)]
    if len(keys) != 1:
        raise TypeError(
            f"module {name!r} must be a string or an object with exactly one of " + ", ".join(_CONTENT_KEYS)
        )
    kind = keys[0]
    content = _field(value, kind)
    if kind == "json":
        return {"name": name, "type": "json", "text": json.dumps(to_json(content))}
    if kind in ("data", "wasm"):
        return {"name": name, "type": kind, "base64": base64.b64encode(_bytes(content)).decode("ascii")}
    if not isinstance(content, str):
        raise TypeError(f"module {name!r}: {kind} source must be a string")
    return {"name": name, "type": kind, "text": content}


def _env_json(env):
    """`code.env` as `(vars, bindings)`: plain values by key, and for each
    binding of this Worker's `env` passed in it, the key and the binding's
    name here (the host gives the dynamic worker that same binding)."""
    from .bindings import binding_name

    values, passed = {}, {}
    for k, v in _items(env):
        k = str(k)
        name = binding_name(v)
        if name is not None:
            passed[k] = name
            continue
        try:
            values[k] = to_json(v)
        except TypeError as e:
            raise TypeError(
                f"code.env[{k!r}]: {e}. A dynamic worker's env takes this Worker's own bindings "
                "(such as self.env.KV or a service binding) and JSON-representable values"
            ) from None
    return values, passed


def _outbound_json(outbound):
    """`code.globalOutbound`: None (no internet) or one of this Worker's bindings."""
    if outbound is None:
        return None
    from .bindings import binding_name

    name = binding_name(outbound)
    if name is None:
        raise TypeError(
            f"code.globalOutbound must be None or a service binding of this Worker "
            f"(such as self.env.PROXY), not {type(outbound).__name__}"
        )
    return {"binding": name}


def _strings(value, what):
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a list of strings")
    return list(value)


def _code_json(code):
    """The worker code (a dict, or an object as production takes via to_js)."""
    if inspect.isawaitable(code):
        raise TypeError("the worker code is a coroutine: await it inside get_code, or make get_code async")
    main = _field(code, "mainModule")
    if not isinstance(main, str):
        raise TypeError("the worker code needs `mainModule` (the name of one of its modules)")
    modules = _field(code, "modules")
    if modules is None:
        raise TypeError("the worker code needs `modules` ({name: source})")
    date = _field(code, "compatibilityDate")
    if not isinstance(date, str):
        raise TypeError('the worker code needs `compatibilityDate` (a "YYYY-MM-DD" string), as on Cloudflare')
    out = {
        "compatibilityDate": date,
        "compatibilityFlags": _strings(_field(code, "compatibilityFlags"), "code.compatibilityFlags"),
        "mainModule": main,
        "modules": [_module(str(k), v) for k, v in _items(modules)],
    }
    env = _field(code, "env")
    if env is not None:
        out["env"], out["bindings"] = _env_json(env)
    if _has(code, "globalOutbound"):
        out["globalOutbound"] = _outbound_json(_field(code, "globalOutbound"))
    return out


class WorkerLoader:
    """`env.LOADER`: `get(id, get_code)` and `load(code)` return a WorkerStub."""

    def __init__(self, binding):
        self._binding = binding

    def get(self, name, get_code):
        name = str(name)
        value, _ = host.call("loader.has", {"id": name}, binding=self._binding)
        if (value or {}).get("cached"):
            return WorkerStub(self._binding, name, None, loaded=True)
        if not callable(get_code):
            raise TypeError("WorkerLoader.get(id, get_code): get_code must be a callable returning the worker code")
        return WorkerStub(self._binding, name, get_code(), loaded=False)

    def load(self, code):
        return WorkerStub(self._binding, None, code, loaded=False)

    def __repr__(self):
        return f"WorkerLoader({self._binding!r})"


class WorkerStub:
    """A loaded (or to-be-loaded) dynamic worker."""

    def __init__(self, binding, id, code, loaded):
        self._binding = binding
        self._id = id
        self._code = code
        self._loaded = loaded

    async def _ensure(self):
        if self._loaded:
            return self._id
        code = self._code
        if inspect.isawaitable(code):
            code = await code
        args = {"code": _code_json(code)}
        if self._id is not None:
            args["id"] = self._id
        value, _ = host.call("loader.load", args, binding=self._binding)
        self._id = value["id"]
        self._code = None
        self._loaded = True
        return self._id

    def getEntrypoint(self, name=None, options=None):
        props = None
        if options is not None:
            props = _field(options, "props")
        if props is not None:
            try:
                props = to_json(props)
            except TypeError as e:
                raise TypeError(f"getEntrypoint(options.props): {e}") from None
        return DynamicFetcher(self, name, props)

    get_entrypoint = getEntrypoint

    def getDurableObjectClass(self, *args, **kwargs):
        raise NotImplementedError("Durable Object classes of a dynamic worker are not emulated by `pywrangler-rs dev`")

    def __repr__(self):
        return f"WorkerStub({self._id!r})"


class DynamicFetcher:
    """An entrypoint of a dynamic worker: `fetch` and RPC methods."""

    def __init__(self, stub, entrypoint, props=None):
        self._stub = stub
        self._entrypoint = entrypoint
        self._props = props

    async def _call(self, method, args, request=None, body=b""):
        id = await self._stub._ensure()
        a = {"id": id, "entrypoint": self._entrypoint, "method": method, "args": args}
        if self._props is not None:
            a["props"] = self._props
        if request is not None:
            a["request"] = request
        return host.call("loader.call", a, body, binding=self._stub._binding)

    async def fetch(self, resource, **kwargs):
        from workers._http import make_request, response_from_host

        req = make_request(resource, kwargs)
        value, body = await self._call("fetch", [], req.wire(), req._body or b"")
        return response_from_host(value, body)

    def connect(self, *args, **kwargs):
        raise NotImplementedError("connect() on a dynamic worker is not supported by the local runtime")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        async def method(*args):
            value, _ = await self._call(name, [to_json(a) for a in args])
            return from_json((value or {}).get("result"))

        method.__name__ = name
        return method

    def __repr__(self):
        return f"DynamicFetcher({self._entrypoint or 'Default'!r})"
