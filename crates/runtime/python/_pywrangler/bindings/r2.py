"""`r2_buckets`: `R2Bucket`, its objects, conditional requests, checksums and
multipart uploads, over the `r2.*` host ops."""

import datetime
import json

from .. import host
from ..jsobj import JsBuffer, JsDict, JsException, from_json, to_json
from ._util import _opts, _bytes


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


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"r2": lambda name, raw: R2Bucket(name)}
