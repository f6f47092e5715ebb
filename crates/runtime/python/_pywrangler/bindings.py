"""`env` and its binding proxies. Each proxy method is a coroutine around one
synchronous host call (docs/runtime-abi.md, "host_call ops"); results come
back as JsDicts like production's `python_from_rpc`."""

import asyncio
import datetime
import inspect
import json

from . import host, state
from . import websocket as _websocket
from .jsobj import JsBuffer, JsDict, JsException, from_json, to_json
from .synckv import SyncKvStorage


def make_env(bindings):
    return Env(bindings)


class Env:
    """`self.env`: one attribute per binding from the `configure` event."""

    def __init__(self, bindings):
        object.__setattr__(self, "_raw", dict(bindings))
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_overrides", {})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._overrides:
            return self._overrides[name]
        if name in self._cache:
            return self._cache[name]
        raw = self._raw.get(name)
        if raw is None:
            raise AttributeError(
                f"env has no binding named {name!r} (bindings: {', '.join(sorted(self._raw)) or 'none'}; "
                "add it to wrangler.toml/wrangler.jsonc or .dev.vars)"
            )
        value = make_binding(name, raw)
        self._cache[name] = value
        return value

    def __getitem__(self, name):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def __contains__(self, name):
        return name in self._raw or name in self._overrides

    def __iter__(self):
        return iter(sorted(set(self._raw) | set(self._overrides)))

    def keys(self):
        return list(self)

    def get(self, name, default=None):
        return getattr(self, name) if name in self else default

    def __dir__(self):
        return list(self)

    def __repr__(self):
        return f"Env({', '.join(self)})"


def make_binding(name, raw):
    t = raw.get("type")
    if t == "var":
        v = raw.get("value")
        return v if isinstance(v, str) else from_json(v)
    if t == "secret":
        return str(raw.get("value", ""))
    if t == "kv":
        return KVNamespace(name)
    if t == "d1":
        return D1Database(name)
    if t == "r2":
        return R2Bucket(name)
    if t == "durable_object":
        return DurableObjectNamespace(name, raw.get("class_name") or name)
    if t == "queue":
        return Queue(name, raw.get("queue") or name)
    if t == "service":
        return ServiceBinding(name, raw.get("service") or name, raw.get("entrypoint"))
    if t == "assets":
        return Fetcher(name)
    if t == "version_metadata":
        return WorkerVersionMetadata(raw.get("id", ""), raw.get("tag", ""), raw.get("timestamp", ""))
    if t == "hyperdrive":
        return Hyperdrive(raw.get("connection_string", ""))
    if t == "analytics_engine":
        return AnalyticsEngineDataset(name)
    if t == "pipelines":
        return Pipeline(name)
    if t == "ratelimit":
        return RateLimit(name)
    if t == "secrets_store_secret":
        return SecretsStoreSecret(name)
    if t == "workflow":
        from .workflows import Workflow

        return Workflow(name, raw.get("name") or name)
    if t == "send_email":
        from .send_email import SendEmail

        return SendEmail(name)
    if t == "remote_only":
        return RemoteOnlyBinding(name, raw.get("what") or "binding")
    return UnsupportedBinding(name, t)


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


class UnsupportedBinding:
    """A binding kind the local runtime does not implement."""

    def __init__(self, name, kind):
        self._name = name
        self._kind = kind

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise NotImplementedError(
            f"binding {self._name!r} of type {self._kind!r} is not emulated by pywrangler-rs dev yet; "
            "it works once deployed"
        )


class RemoteOnlyBinding:
    """A binding to a service that runs only on Cloudflare (Workers AI,
    Vectorize, Browser Rendering, ...): present in `env`, but every use fails
    with one message saying so."""

    def __init__(self, name, what):
        self._name = name
        self._what = what

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(
            f"env.{self._name} is a {self._what} binding, which runs only on Cloudflare: "
            "pywrangler-rs dev cannot run it locally. Deploy the Worker to use it "
            "(wrangler users reach it from `wrangler dev` with `\"remote\": true` on the binding)."
        )

    def __repr__(self):
        return f"<{self._what} binding {self._name} (Cloudflare only)>"


class WorkerVersionMetadata:
    """`version_metadata`: as miniflare, a random id per start, an empty tag
    and the start time."""

    def __init__(self, id, tag, timestamp):
        self.id = id
        self.tag = tag
        self.timestamp = timestamp

    def __repr__(self):
        return f"WorkerVersionMetadata(id={self.id!r}, tag={self.tag!r}, timestamp={self.timestamp!r})"


class Hyperdrive:
    """`hyperdrive`: locally, the parts of the configured local connection string."""

    def __init__(self, connection_string):
        from urllib.parse import unquote, urlsplit

        self.connectionString = connection_string
        u = urlsplit(connection_string)
        self.host = u.hostname or ""
        default_port = 3306 if u.scheme == "mysql" else 5432
        self.port = u.port or default_port
        self.user = unquote(u.username or "")
        self.password = unquote(u.password or "")
        self.database = unquote(u.path.lstrip("/"))

    def __repr__(self):
        return f"<Hyperdrive {self.host}:{self.port}/{self.database}>"


class AnalyticsEngineDataset:
    """`analytics_engine_datasets`: writes are accepted and dropped, as in
    miniflare's local dataset."""

    def __init__(self, name):
        self._name = name

    def writeDataPoint(self, event=None, **kwargs):
        point = _opts(event, kwargs)
        for key in point:
            if key not in ("indexes", "blobs", "doubles"):
                raise TypeError(f"writeDataPoint: unknown field {key!r} (use indexes, blobs, doubles)")
        return None

    def __repr__(self):
        return f"<AnalyticsEngineDataset {self._name}>"


class RateLimit:
    """`ratelimits`: `limit({"key": ...})` counts against the configured
    simple rule in fixed windows, as miniflare does."""

    def __init__(self, name):
        self._name = name

    async def limit(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        value, _ = host.call("ratelimit.limit", {"options": to_json(o)}, binding=self._name)
        return from_json(value)

    def __repr__(self):
        return f"<RateLimit {self._name}>"


class SecretsStoreSecret:
    """`secrets_store_secrets`: `await get()` reads the secret from the local
    store that `wrangler secrets-store secret create --local` writes."""

    def __init__(self, name):
        self._name = name

    async def get(self):
        value, _ = host.call("secrets.get", {}, binding=self._name)
        return value

    def __repr__(self):
        return f"<SecretsStoreSecret {self._name}>"


class Pipeline:
    """`pipelines`: `send()` is accepted and dropped, as in miniflare."""

    def __init__(self, name):
        self._name = name

    async def send(self, records):
        if not isinstance(records, (list, tuple)):
            raise TypeError("send: records must be a list")
        return None

    def __repr__(self):
        return f"<Pipeline {self._name}>"


# ------------------------------------------------------------------ KV


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


# ------------------------------------------------------------------ D1


def _d1_param(p):
    if p is None or isinstance(p, (bool, int, float, str)):
        return p
    if isinstance(p, (bytes, bytearray, memoryview)):
        raise TypeError("D1 bind(): binary (BLOB) parameters are not supported by the local runtime")
    raise TypeError(f"D1 bind(): unsupported parameter type {type(p).__name__} (use None, bool, int, float or str)")


class D1PreparedStatement:
    """`db.prepare(sql).bind(...)`: all/first/run/raw."""

    def __init__(self, db, sql, params=()):
        self._db = db
        self._sql = sql
        self._params = list(params)

    def bind(self, *params):
        return D1PreparedStatement(self._db, self._sql, [_d1_param(p) for p in params])

    def _query(self, mode, **extra):
        args = {"sql": self._sql, "params": self._params, "mode": mode, "column": None, "column_names": False}
        args.update(extra)
        value, _ = host.call("d1.query", args, binding=self._db)
        return from_json(value)

    async def all(self):
        return self._query("all")

    async def first(self, column=None):
        return self._query("first", column=column)

    async def run(self):
        return self._query("run")

    async def raw(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        names = bool(o.get("columnNames", o.get("column_names", False)))
        return self._query("raw", column_names=names)

    def _wire(self):
        return {"sql": self._sql, "params": self._params}

    def __repr__(self):
        return f"D1PreparedStatement({self._sql!r}, {self._params!r})"


class D1Database:
    """D1: prepare/exec/batch."""

    def __init__(self, name):
        self._name = name

    def prepare(self, sql):
        return D1PreparedStatement(self._name, str(sql))

    async def exec(self, sql):
        value, _ = host.call("d1.exec", {"sql": str(sql)}, binding=self._name)
        return from_json(value)

    async def batch(self, statements):
        stmts = [s._wire() for s in statements]
        value, _ = host.call("d1.batch", {"statements": stmts}, binding=self._name)
        return from_json(value)

    def withSession(self, *args, **kwargs):
        return self

    async def dump(self):
        raise NotImplementedError("D1 dump() is not supported by the local runtime")

    def __repr__(self):
        return f"D1Database({self._name!r})"


# ------------------------------------------------------------------ R2

_HTTP_META_NAMES = {
    "content-type": "contentType",
    "content-language": "contentLanguage",
    "content-disposition": "contentDisposition",
    "content-encoding": "contentEncoding",
    "cache-control": "cacheControl",
    "expires": "cacheExpiry",
}


def _http_metadata(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return to_json(value)
    # Headers / HTTPMessage
    items = value.items() if hasattr(value, "items") else value
    out = {}
    for k, v in items:
        name = _HTTP_META_NAMES.get(str(k).lower())
        if name:
            out[name] = v
    return out


def _pick(meta, *names):
    for n in names:
        if n in meta and meta[n] is not None:
            return meta[n]
    return None


def _uploaded(v):
    if isinstance(v, (int, float)):
        return datetime.datetime.fromtimestamp(v / 1000, tz=datetime.timezone.utc)
    if isinstance(v, str):
        try:
            return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
    return v


def _epoch_ms(value, what):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, datetime.date):
        return _epoch_ms(datetime.datetime(value.year, value.month, value.day), what)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    raise TypeError(f"R2 onlyIf: {what} must be a datetime, got {type(value).__name__}")


def _header_etags(value, header):
    """An If-Match / If-None-Match value parsed as the runtime parses it:
    quoted strong tags, `W/"…"` weak tags, `*`; other tokens are ignored."""
    s, out, need_comma = str(value), [], False
    while True:
        inf = len(s) + 1
        star, quote, weak, comma = (i if i >= 0 else inf for i in (s.find("*"), s.find('"'), s.find("W"), s.find(",")))
        if quote == inf and star == inf:
            break
        if comma < min(star, quote, weak):
            s, need_comma = s[comma + 1 :], False
            continue
        if need_comma:
            first = min(star, quote, weak)
            reason = (
                "Encountered a wildcard character '*' instead."
                if first == star
                else "Encountered a double quote character '\"' instead. This would otherwise indicate the start of a new strong etag."
                if first == quote
                else "Encountered a weak quotation character 'W' instead. This would otherwise indicate the start of a new weak etag."
            )
            raise JsException(f"Comma was expected to separate etags. {reason}", "Error")
        if star < quote:
            return [{"type": "wildcard"}]
        end = s.find('"', quote + 1)
        if end < 0:
            raise JsException("Unclosed double quote for Etag", "Error")
        tag = s[quote + 1 : end]
        if weak < quote:
            if not (weak + 2 == quote and s[weak + 1] == "/"):
                raise JsException("Weak etags must start with W/ and their value must be quoted", "Error")
            out.append({"type": "weak", "value": tag})
        else:
            out.append({"type": "strong", "value": tag})
        s, need_comma = s[end + 1 :], True
    if not out:
        raise JsException(f"Invalid ETag in {header} header", "Error")
    return out


def _http_date_ms(value):
    import email.utils

    try:
        d = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        raise TypeError(f"R2 onlyIf: invalid HTTP date {value!r}") from None
    return _epoch_ms(d, "date")


def _conditional_etag(value):
    value = str(value)
    if value.startswith('"') or value.startswith('W/"'):
        raise TypeError(f"Conditional ETag should not be wrapped in quotes ({value}).")
    return [{"type": "wildcard"}] if value == "*" else [{"type": "strong", "value": value}]


def _only_if(cond):
    """`onlyIf`: an R2Conditional dict, or a Headers-like object (If-Match,
    If-None-Match, If-Modified-Since, If-Unmodified-Since)."""
    if cond is None:
        return None
    out = {}
    if isinstance(cond, dict) or not hasattr(cond, "get"):
        c = _opts(cond, {})
        if c.get("etagMatches") is not None:
            out["etag_matches"] = _conditional_etag(c["etagMatches"])
        if c.get("etagDoesNotMatch") is not None:
            out["etag_does_not_match"] = _conditional_etag(c["etagDoesNotMatch"])
        if c.get("uploadedBefore") is not None:
            out["uploaded_before"] = _epoch_ms(c["uploadedBefore"], "uploadedBefore")
        if c.get("uploadedAfter") is not None:
            out["uploaded_after"] = _epoch_ms(c["uploadedAfter"], "uploadedAfter")
        if c.get("secondsGranularity"):
            out["seconds_granularity"] = True
        return out
    v = cond.get("if-match")
    if v is not None:
        out["etag_matches"] = _header_etags(v, "if-match")
    v = cond.get("if-none-match")
    if v is not None:
        out["etag_does_not_match"] = _header_etags(v, "if-none-match")
    v = cond.get("if-unmodified-since")
    if v is not None:
        out["uploaded_before"] = _http_date_ms(v)
    v = cond.get("if-modified-since")
    if v is not None:
        out["uploaded_after"] = _http_date_ms(v)
    out["seconds_granularity"] = True
    return out


_CHECKSUMS = (("md5", "MD5", 16), ("sha1", "SHA-1", 20), ("sha256", "SHA-256", 32), ("sha384", "SHA-384", 48), ("sha512", "SHA-512", 64))


def _checksum(o):
    """The one checksum option of `put`, validated like the runtime, as hex."""
    found = None
    for field, name, size in _CHECKSUMS:
        v = o.get(field)
        if v is None:
            continue
        if found is not None:
            raise TypeError("You cannot specify multiple hashing algorithms.")
        if isinstance(v, str):
            if len(v) != size * 2:
                raise TypeError(f"{name} is {size * 2} hex characters, not {len(v)}")
            try:
                bytes.fromhex(v)
            except ValueError:
                raise TypeError(f"Provided {name} wasn't a valid hex string") from None
            found = (field, v.lower())
        else:
            raw = _bytes(v, "R2 put")
            if len(raw) != size:
                raise TypeError(f"{name} is {size} bytes, not {len(raw)}")
            found = (field, raw.hex())
    return found


class R2Checksums:
    """`R2Object.checksums`: each known digest as bytes (JS: ArrayBuffer),
    `None` when R2 did not compute it; `toJSON()` gives the hex strings."""

    _FIELDS = ("md5", "sha1", "sha256", "sha384", "sha512")

    def __init__(self, hexes):
        self._hex = {k: str(v).lower() for k, v in dict(hexes).items() if k in self._FIELDS and v}
        for k in self._FIELDS:
            setattr(self, k, JsBuffer(bytes.fromhex(self._hex[k])) if k in self._hex else None)

    def toJSON(self):
        return JsDict(self._hex)

    to_json = toJSON

    def __repr__(self):
        return f"R2Checksums({self._hex!r})"


class R2Object:
    """Metadata of an R2 object (`head`, `put`, `list` results)."""

    def __init__(self, meta):
        meta = meta or {}
        self.key = meta.get("key")
        self.version = meta.get("version")
        self.size = meta.get("size")
        self.etag = meta.get("etag")
        self.httpEtag = _pick(meta, "http_etag", "httpEtag") or (f'"{self.etag}"' if self.etag else None)
        self.uploaded = _uploaded(meta.get("uploaded"))
        # A list() without that field in `include` leaves it unknown (None), as in JS.
        self.httpMetadata = self._optional(meta, "http_metadata", "httpMetadata")
        self.customMetadata = self._optional(meta, "custom_metadata", "customMetadata")
        self.checksums = R2Checksums(meta.get("checksums") or {})
        self.storageClass = _pick(meta, "storage_class", "storageClass") or "Standard"
        self.range = from_json(meta.get("range"))

    @staticmethod
    def _optional(meta, *names):
        for n in names:
            if n in meta:
                return None if meta[n] is None else from_json(meta[n])
        return from_json({})

    def writeHttpMetadata(self, headers):
        if self.httpMetadata is None:
            raise TypeError(
                f"HTTP metadata unknown for key `{self.key}`. Did you forget to add 'httpMetadata' to `include` when listing?"
            )
        rev = {v: k for k, v in _HTTP_META_NAMES.items()}
        for k, v in self.httpMetadata.items():
            if k in rev and v is not None:
                headers[rev[k]] = str(v)

    write_http_metadata = writeHttpMetadata

    def _pywrangler_to_json(self):
        return {
            "key": self.key,
            "version": self.version,
            "size": self.size,
            "etag": self.etag,
            "httpEtag": self.httpEtag,
            "uploaded": self.uploaded.isoformat() if isinstance(self.uploaded, datetime.datetime) else self.uploaded,
            "httpMetadata": None if self.httpMetadata is None else dict(self.httpMetadata),
            "customMetadata": None if self.customMetadata is None else dict(self.customMetadata),
        }

    def __repr__(self):
        return f"{type(self).__name__}(key={self.key!r}, size={self.size!r})"


class R2ObjectBody(R2Object):
    """An R2 object with its body (`get` result)."""

    def __init__(self, meta, body):
        super().__init__(meta)
        self._data = body
        self.bodyUsed = False

    @property
    def body(self):
        return self._data

    async def text(self):
        self.bodyUsed = True
        return self._data.decode("utf-8", "replace")

    async def json(self):
        self.bodyUsed = True
        return from_json(json.loads(self._data.decode("utf-8")))

    async def bytes(self):
        self.bodyUsed = True
        return self._data

    async def arrayBuffer(self):
        self.bodyUsed = True
        return JsBuffer(self._data)

    array_buffer = arrayBuffer

    async def blob(self):
        from workers import Blob

        return Blob(self._data, self.httpMetadata.get("contentType") or "")

    def _pywrangler_body(self):
        return self._data


class R2Bucket:
    """R2: head/get/put/delete/list."""

    def __init__(self, name):
        self._name = name

    async def head(self, key):
        value, _ = host.call("r2.head", {"key": str(key)}, binding=self._name)
        return None if value is None else R2Object(value)

    async def get(self, key, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {"key": str(key)}
        rng = o.get("range")
        if rng is not None:
            if isinstance(rng, dict):
                args["range"] = {k: rng[k] for k in ("offset", "length", "suffix") if rng.get(k) is not None}
            else:
                raise TypeError("R2 get(): range must be a dict like {'offset': 0, 'length': 10}")
        cond = _only_if(o.get("onlyIf", o.get("only_if")))
        if cond is not None:
            args["only_if"] = cond
        value, body = host.call("r2.get", args, binding=self._name)
        if value is None:
            return None
        if value.get("precondition_failed"):
            # As on Cloudflare: the object's metadata, without a body.
            return R2Object(value)
        return R2ObjectBody(value, body)

    async def put(self, key, value, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {"key": str(key)}
        self._metadata_args(o, args)
        cond = _only_if(o.get("onlyIf", o.get("only_if")))
        if cond is not None:
            args["only_if"] = cond
        checksum = _checksum(o)
        if checksum is not None:
            args[checksum[0]] = checksum[1]
        data = b"" if value is None else _bytes(value, "R2 put")
        meta, _ = host.call("r2.put", args, data, binding=self._name)
        return None if meta is None else R2Object(meta)

    @staticmethod
    def _metadata_args(o, args):
        hm = _http_metadata(o.get("httpMetadata", o.get("http_metadata")))
        if hm is not None:
            args["http_metadata"] = hm
        cm = o.get("customMetadata", o.get("custom_metadata"))
        if cm is not None:
            args["custom_metadata"] = to_json(cm)

    async def delete(self, keys):
        keys = [keys] if isinstance(keys, str) else [str(k) for k in keys]
        host.call("r2.delete", {"keys": keys}, binding=self._name)
        return None

    async def list(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {k: o[k] for k in ("prefix", "limit", "cursor", "delimiter", "startAfter", "include") if o.get(k) is not None}
        if "include" in args:
            args["include"] = [str(i) for i in args["include"]]
        value, _ = host.call("r2.list", args, binding=self._name)
        value = value or {}
        return JsDict(
            objects=[R2Object(m) for m in value.get("objects") or []],
            truncated=bool(value.get("truncated")),
            cursor=value.get("cursor"),
            delimitedPrefixes=list(_pick(value, "delimited_prefixes", "delimitedPrefixes") or []),
        )

    async def createMultipartUpload(self, key, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {"key": str(key)}
        self._metadata_args(o, args)
        value, _ = host.call("r2.mpu.create", args, binding=self._name)
        return R2MultipartUpload(self._name, str(key), value["upload_id"])

    def resumeMultipartUpload(self, key, uploadId):
        return R2MultipartUpload(self._name, str(key), str(uploadId))

    create_multipart_upload = createMultipartUpload
    resume_multipart_upload = resumeMultipartUpload

    def __repr__(self):
        return f"R2Bucket({self._name!r})"


def _part_field(part, *names):
    for n in names:
        if isinstance(part, dict) and n in part:
            return part[n]
        if not isinstance(part, dict) and hasattr(part, n):
            return getattr(part, n)
    raise TypeError(f"complete(): each uploaded part needs {names[0]!r} (got {part!r})")


class R2MultipartUpload:
    """An in-progress multipart upload (`createMultipartUpload` /
    `resumeMultipartUpload`)."""

    def __init__(self, binding, key, upload_id):
        self._binding = binding
        self.key = key
        self.uploadId = upload_id

    upload_id = property(lambda self: self.uploadId)

    def _args(self, **extra):
        return dict({"key": self.key, "upload_id": self.uploadId}, **extra)

    async def uploadPart(self, partNumber, value, options=None):
        if isinstance(partNumber, bool) or not isinstance(partNumber, int):
            raise TypeError(f"uploadPart: partNumber must be an int, got {type(partNumber).__name__}")
        data = _bytes(value, "R2 uploadPart")
        value, _ = host.call("r2.mpu.part", self._args(part_number=partNumber), data, binding=self._binding)
        return JsDict(partNumber=value["partNumber"], etag=value["etag"])

    async def complete(self, uploadedParts):
        parts = [
            {"partNumber": _part_field(p, "partNumber", "part_number"), "etag": _part_field(p, "etag")}
            for p in uploadedParts
        ]
        meta, _ = host.call("r2.mpu.complete", self._args(parts=parts), binding=self._binding)
        return R2Object(meta)

    async def abort(self):
        host.call("r2.mpu.abort", self._args(), binding=self._binding)
        return None

    upload_part = uploadPart

    def __repr__(self):
        return f"R2MultipartUpload(key={self.key!r}, uploadId={self.uploadId!r})"


# ------------------------------------------------------------------ RPC helpers


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


# ------------------------------------------------------------------ Durable Objects


class DurableObjectId:
    """A Durable Object id (64 hex characters) and the name it came from."""

    def __init__(self, hex_id, name=None):
        self._id = str(hex_id)
        self.name = name

    def toString(self):
        return self._id

    def equals(self, other):
        return isinstance(other, DurableObjectId) and other._id == self._id

    def __str__(self):
        return self._id

    def __eq__(self, other):
        return self.equals(other)

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return f"DurableObjectId({self._id!r})"


class DurableObjectNamespace:
    """`env.MY_DO`: ids and stubs."""

    def __init__(self, binding, class_name):
        self._binding = binding
        self._class = class_name

    def _id(self, **args):
        value, _ = host.call("do.id", dict(args, **{"class": self._class}), binding=self._binding)
        return DurableObjectId(value["id"], value.get("name"))

    def idFromName(self, name):
        return self._id(name=str(name))

    def newUniqueId(self, options=None):
        return self._id()

    def idFromString(self, hex_id):
        return self._id(id=str(hex_id))

    def get(self, id, options=None):
        if not isinstance(id, DurableObjectId):
            raise TypeError("DurableObjectNamespace.get() takes an id from idFromName()/newUniqueId()")
        return DurableObjectStub(self._binding, self._class, id)

    def getByName(self, name, options=None):
        return self.get(self.idFromName(name))

    def jurisdiction(self, name):
        return self

    id_from_name = idFromName
    new_unique_id = newUniqueId
    id_from_string = idFromString
    get_by_name = getByName

    def __repr__(self):
        return f"DurableObjectNamespace({self._class!r})"


class DurableObjectStub:
    """A stub: `await stub.fetch(url)` or `await stub.any_method(*args)`."""

    def __init__(self, binding, class_name, id):
        self._binding = binding
        self._class = class_name
        self.id = id
        self.name = id.name

    def _call(self, method, args):
        a = {"class": self._class, "id": str(self.id), "method": method, "args": args}
        return host.call("do.call", a, binding=self._binding)

    async def fetch(self, resource, **kwargs):
        base = {"class": self._class, "id": str(self.id)}
        return await _rpc_fetch("do.call", self._binding, base, resource, kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _rpc_method(self._call, name)

    def __repr__(self):
        return f"DurableObjectStub({self._class!r}, {str(self.id)!r})"


class DurableObjectState(_websocket.Hibernation):
    """`ctx` of a Durable Object: id, storage, waitUntil, blockConcurrencyWhile,
    and the WebSocket hibernation API (`_pywrangler/websocket.py`)."""

    def __init__(self, class_name, hex_id, name=None):
        self._class = class_name
        self.id = DurableObjectId(hex_id, name)
        self.storage = DurableObjectStorage(class_name, str(hex_id))
        self._blocking = []
        self._evict = None

    def waitUntil(self, awaitable):
        ctx = state.current_context()
        if ctx is not None:
            ctx.waitUntil(awaitable)

    wait_until = waitUntil

    def blockConcurrencyWhile(self, callback):
        result = callback()
        if inspect.isawaitable(result):
            fut = asyncio.ensure_future(result)
            self._blocking.append(fut)
            return fut
        fut = asyncio.get_event_loop().create_future()
        fut.set_result(result)
        return fut

    block_concurrency_while = blockConcurrencyWhile

    async def _ready(self):
        while self._blocking:
            pending, self._blocking = self._blocking, []
            for f in pending:
                await f

    def abort(self, reason=None):
        if self._evict is not None:
            self._evict()
        raise RuntimeError(f"Durable Object aborted{': ' + str(reason) if reason else ''}")


class DurableObjectStorage:
    """`ctx.storage`: key/value API, `sql`, and alarms."""

    def __init__(self, class_name, hex_id):
        self._class = class_name
        self._id = hex_id
        self.sql = SqlStorage(self)
        self.kv = SyncKvStorage(self)

    def _call(self, op, **args):
        value, _ = host.call(op, dict(args, **{"class": self._class, "id": self._id}))
        return value or {}

    async def get(self, keys, options=None):
        if isinstance(keys, str):
            values = self._call("do.storage.get", keys=[keys]).get("values") or {}
            return from_json(values.get(keys))
        keys = [str(k) for k in keys]
        values = self._call("do.storage.get", keys=keys).get("values") or {}
        return {k: from_json(values[k]) for k in keys if k in values}

    async def put(self, key_or_entries, value=None, options=None):
        if isinstance(key_or_entries, str):
            entries = {key_or_entries: to_json(value)}
        else:
            entries = {str(k): to_json(v) for k, v in dict(key_or_entries).items()}
        self._call("do.storage.put", entries=entries)
        return None

    async def delete(self, keys, options=None):
        if isinstance(keys, str):
            return bool(self._call("do.storage.delete", keys=[keys]).get("deleted", 0))
        return int(self._call("do.storage.delete", keys=[str(k) for k in keys]).get("deleted", 0))

    async def deleteAll(self, options=None):
        keys = [k for k, _ in self._call("do.storage.list").get("entries") or []]
        if keys:
            self._call("do.storage.delete", keys=keys)
        return None

    async def list(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {k: o[k] for k in ("prefix", "start", "end", "limit", "reverse") if o.get(k) is not None}
        if o.get("startAfter") is not None:
            args["start_after"] = o["startAfter"]
        entries = self._call("do.storage.list", **args).get("entries") or []
        return {k: from_json(v) for k, v in entries}

    async def getAlarm(self, options=None):
        return self._call("do.alarm.get").get("time")

    async def setAlarm(self, scheduled_time, options=None):
        if isinstance(scheduled_time, datetime.datetime):
            ms = scheduled_time.timestamp() * 1000
        else:
            ms = float(scheduled_time)
        self._call("do.alarm.set", time=ms)
        return None

    async def deleteAlarm(self, options=None):
        self._call("do.alarm.delete")
        return None

    async def transaction(self, closure):
        result = closure(self)
        return await result if inspect.isawaitable(result) else result

    async def sync(self):
        return None

    get_alarm = getAlarm
    set_alarm = setAlarm
    delete_alarm = deleteAlarm
    delete_all = deleteAll


class SqlStorage:
    """`ctx.storage.sql`: synchronous `exec(query, *bindings)` → cursor."""

    def __init__(self, storage):
        self._storage = storage

    def exec(self, query, *bindings):
        value = self._storage._call("do.storage.sql", sql=str(query), params=[_d1_param(b) for b in bindings])
        return SqlCursor(value)

    @property
    def databaseSize(self):
        return 0


class SqlCursor:
    """Rows of a SQL statement: iterate for dict rows, or toArray/one/raw."""

    def __init__(self, value):
        self.columnNames = list(value.get("columns") or [])
        self._rows = [list(r) for r in value.get("rows") or []]
        self.rowsRead = value.get("rows_read", 0)
        self.rowsWritten = value.get("rows_written", 0)
        self._pos = 0

    def _row(self, r):
        return JsDict(zip(self.columnNames, r))

    def __iter__(self):
        while self._pos < len(self._rows):
            r = self._rows[self._pos]
            self._pos += 1
            yield self._row(r)

    def next(self):
        if self._pos < len(self._rows):
            r = self._rows[self._pos]
            self._pos += 1
            return JsDict(done=False, value=self._row(r))
        return JsDict(done=True, value=None)

    def toArray(self):
        return list(self)

    def one(self):
        rest = self.toArray()
        if len(rest) != 1:
            raise ValueError(f"Expected exactly one result from SQL query, but got {'no' if not rest else 'multiple'} results.")
        return rest[0]

    def raw(self):
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return iter([list(r) for r in rows])

    to_array = toArray


# ------------------------------------------------------------------ Queues and services


class Queue:
    """Queue producer: send/sendBatch."""

    def __init__(self, binding, queue):
        self._binding = binding
        self._queue = queue

    @staticmethod
    def _message(body, o):
        m = {"body": to_json(body)}
        ct = o.get("contentType", o.get("content_type"))
        if ct is not None:
            m["content_type"] = ct
        d = o.get("delaySeconds", o.get("delay_seconds"))
        if d is not None:
            m["delay_seconds"] = d
        return m

    async def send(self, body, options=None, **kwargs):
        o = _opts(options, kwargs)
        msgs = [self._message(body, o)]
        host.call("queue.send", {"queue": self._queue, "messages": msgs}, binding=self._binding)
        return None

    async def sendBatch(self, messages, options=None, **kwargs):
        o = _opts(options, kwargs)
        msgs = []
        for m in messages:
            mo = dict(m) if isinstance(m, dict) else {k: getattr(m, k) for k in ("body", "contentType", "delaySeconds") if hasattr(m, k)}
            if "delaySeconds" not in mo and "delaySeconds" in o:
                mo["delaySeconds"] = o["delaySeconds"]
            msgs.append(self._message(mo.get("body"), mo))
        host.call("queue.send", {"queue": self._queue, "messages": msgs}, binding=self._binding)
        return None

    send_batch = sendBatch

    def __repr__(self):
        return f"Queue({self._queue!r})"


class ServiceBinding:
    """A service binding: `fetch` and RPC to another Worker's entrypoint."""

    def __init__(self, binding, service, entrypoint):
        self._binding = binding
        self._service = service
        self._entrypoint = entrypoint

    def _call(self, method, args):
        a = {"service": self._service, "entrypoint": self._entrypoint, "method": method, "args": args}
        return host.call("service.call", a, binding=self._binding)

    async def fetch(self, resource, **kwargs):
        base = {"service": self._service, "entrypoint": self._entrypoint}
        return await _rpc_fetch("service.call", self._binding, base, resource, kwargs)

    def connect(self, *args, **kwargs):
        raise NotImplementedError("service binding connect() is not supported by the local runtime")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _rpc_method(self._call, name)

    def __repr__(self):
        return f"ServiceBinding({self._service!r})"


class Fetcher:
    """`env.ASSETS` (`assets.binding`): `fetch` answers from the static
    assets as the asset worker does (html_handling, not_found_handling,
    ETags), without the Worker in front."""

    def __init__(self, binding):
        self._binding = binding

    async def fetch(self, resource, **kwargs):
        return await _rpc_fetch("assets.fetch", self._binding, {}, resource, kwargs)

    def connect(self, *args, **kwargs):
        raise NotImplementedError("the assets binding has no connect()")

    def __repr__(self):
        return f"Fetcher({self._binding!r})"
