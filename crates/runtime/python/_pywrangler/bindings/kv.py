"""`kv_namespaces`: `KVNamespace` (get/getWithMetadata/put/delete/list), over
the `kv.*` host ops."""

import json

from .. import host
from ..jsobj import JsBuffer, JsDict, from_json, to_json
from ._util import _opts, _bytes


def _decode_kv(body, kind):
    if kind == "json":
        return from_json(json.loads(body.decode("utf-8")))
    if kind in ("arrayBuffer", "stream"):
        return JsBuffer(body)
    return body.decode("utf-8")


class KVNamespace:
    """Workers KV: get/getWithMetadata/put/delete/list."""

    def __init__(self, name):
        self._name = name

    def _get(self, key, options, kwargs, with_metadata):
        o = _opts(options, kwargs, "type")
        kind = o.get("type") or "text"
        if kind not in ("text", "json", "arrayBuffer", "stream"):
            raise TypeError(f"KV get: unknown type {kind!r} (text, json, arrayBuffer or stream)")
        args = {"key": str(key), "type": kind, "with_metadata": with_metadata}
        ttl = o.get("cacheTtl", o.get("cache_ttl"))
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
                raise TypeError(f"KV get: cacheTtl must be a number of seconds, got {type(ttl).__name__}")
            args["cache_ttl"] = ttl
        if isinstance(key, (list, tuple)):
            # Bulk get: a list of keys answers a dict (JS: Map) key -> value or None.
            args.pop("key")
            args["keys"] = [str(k) for k in key]
            value, _ = host.call("kv.get", args, binding=self._name)
            return kind, value, None
        value, body = host.call("kv.get", args, binding=self._name)
        return kind, value, body

    @staticmethod
    def _bulk(value, with_metadata):
        out = JsDict()
        for k, v in ((value or {}).get("values") or {}).items():
            if v is None:
                out[k] = None
            elif with_metadata:
                out[k] = JsDict(value=from_json(v.get("value")), metadata=from_json(v.get("metadata")))
            else:
                out[k] = from_json(v)
        return out

    async def get(self, key, options=None, **kwargs):
        kind, value, body = self._get(key, options, kwargs, False)
        if body is None:
            return self._bulk(value, False)
        if value is None:
            return None
        return _decode_kv(body, kind)

    async def getWithMetadata(self, key, options=None, **kwargs):
        kind, value, body = self._get(key, options, kwargs, True)
        if body is None:
            return self._bulk(value, True)
        if value is None:
            return JsDict(value=None, metadata=None, cacheStatus=None)
        return JsDict(value=_decode_kv(body, kind), metadata=from_json(value.get("metadata")), cacheStatus=None)

    get_with_metadata = getWithMetadata

    async def put(self, key, value, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {"key": str(key)}
        if o.get("expiration") is not None:
            args["expiration"] = o["expiration"]
        ttl = o.get("expirationTtl", o.get("expiration_ttl"))
        if ttl is not None:
            args["expiration_ttl"] = ttl
        if o.get("metadata") is not None:
            args["metadata"] = to_json(o["metadata"])
        host.call("kv.put", args, _bytes(value, "KV put"), binding=self._name)
        return None

    async def delete(self, key):
        host.call("kv.delete", {"key": str(key)}, binding=self._name)
        return None

    async def list(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {k: o[k] for k in ("prefix", "limit", "cursor") if o.get(k) is not None}
        value, _ = host.call("kv.list", args, binding=self._name)
        out = from_json(value)
        if isinstance(out, dict):
            out.setdefault("cacheStatus", None)
        return out

    def __repr__(self):
        return f"KVNamespace({self._name!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"kv": lambda name, raw: KVNamespace(name)}
