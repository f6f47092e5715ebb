"""Body types: `Blob`, `File` and `FormData`, with multipart and urlencoded
encoding/decoding for request and response bodies."""

import email.parser
import email.policy
import json
import urllib.parse
import itertools

_boundaries = itertools.count(1)


class Blob:
    """Immutable bytes with a MIME type (like the JavaScript Blob)."""

    def __init__(self, blob_parts=None, content_type=None, *, type=None, endings=None):
        if type is not None and content_type is None:
            content_type = type
        self._data = to_bytes(blob_parts)
        self._type = content_type or ""

    @property
    def size(self):
        return len(self._data)

    @property
    def type(self):
        return self._type

    @property
    def content_type(self):
        return self._type

    async def text(self):
        return self._data.decode("utf-8", "replace")

    async def bytes(self):
        return self._data

    async def arrayBuffer(self):
        from _pywrangler.jsobj import JsBuffer

        return JsBuffer(self._data)

    async def array_buffer(self):
        return await self.arrayBuffer()

    def slice(self, start=0, end=None, content_type=""):
        return Blob(self._data[start:end], content_type)

    @property
    def js_object(self):
        return self

    def __repr__(self):
        return f"{type(self).__name__}(size={self.size}, type={self._type!r})"


class File(Blob):
    """A Blob with a file name and modification time."""

    def __init__(self, blob_parts=None, filename="", content_type=None, last_modified=None, *, type=None):
        super().__init__(blob_parts, content_type, type=type)
        self._name = filename
        self._last_modified = last_modified

    @property
    def name(self):
        return self._name

    @property
    def last_modified(self):
        return self._last_modified

    lastModified = last_modified


def to_bytes(parts):
    """Bytes from str/bytes/Blob or a list of those."""
    if parts is None:
        return b""
    if isinstance(parts, str):
        return parts.encode("utf-8")
    if isinstance(parts, (bytes, bytearray, memoryview)):
        return bytes(parts)
    if isinstance(parts, Blob):
        return parts._data
    if isinstance(parts, (list, tuple)):
        return b"".join(to_bytes(p) for p in parts)
    raise TypeError(f"cannot use a {type(parts).__name__} as Blob data (use str, bytes or Blob)")


class FormData:
    """Multi-valued form fields (strings or Files), like the JavaScript FormData."""

    def __init__(self, form_data=None):
        self._items = []
        if isinstance(form_data, FormData):
            self._items = list(form_data._items)
        elif isinstance(form_data, dict):
            for k, v in form_data.items():
                if isinstance(v, list):
                    for x in v:
                        self.append(k, x)
                else:
                    self.append(k, v)
        elif form_data is not None:
            for k, v in form_data:
                self.append(k, v)

    def append(self, name, value, filename=None):
        self._items.append((name, _field(value, filename)))

    def set(self, name, value, filename=None):
        self.delete(name)
        self.append(name, value, filename)

    def delete(self, name):
        self._items = [(k, v) for k, v in self._items if k != name]

    def get(self, name, default=None):
        for k, v in self._items:
            if k == name:
                return v
        return default

    def get_all(self, name):
        return [v for k, v in self._items if k == name]

    getAll = get_all

    def has(self, name):
        return any(k == name for k, _ in self._items)

    def __contains__(self, name):
        return self.has(name)

    def __getitem__(self, name):
        for k, v in self._items:
            if k == name:
                return v
        raise KeyError(name)

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        self.delete(name)

    def keys(self):
        return [k for k, _ in self._items]

    def values(self):
        return [v for _, v in self._items]

    def items(self):
        return list(self._items)

    entries = items

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._items)

    @property
    def js_object(self):
        return self

    def __repr__(self):
        return f"FormData({self._items!r})"

    # -- wire format
    def encode(self):
        """(content_type, body bytes) as multipart/form-data."""
        boundary = f"----PywranglerFormBoundary{next(_boundaries):016x}"
        out = []
        for name, value in self._items:
            qname = _quote(name)
            out.append(f"--{boundary}\r\n".encode())
            if isinstance(value, Blob):
                fname = _quote(value.name if isinstance(value, File) else "blob")
                ctype = value.type or "application/octet-stream"
                out.append(
                    f'Content-Disposition: form-data; name="{qname}"; filename="{fname}"\r\n'
                    f"Content-Type: {ctype}\r\n\r\n".encode()
                )
                out.append(value._data)
            else:
                out.append(f'Content-Disposition: form-data; name="{qname}"\r\n\r\n'.encode())
                out.append(str(value).encode("utf-8"))
            out.append(b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return f"multipart/form-data; boundary={boundary}", b"".join(out)


def _quote(s):
    return str(s).replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _field(value, filename):
    if isinstance(value, Blob):
        if filename is not None or not isinstance(value, File):
            return File(value._data, filename or "blob", value.type)
        return value
    return str(value)


def parse_form(content_type, body):
    """Parse a urlencoded or multipart body into FormData."""
    ctype = (content_type or "").lower()
    if ctype.startswith("application/x-www-form-urlencoded"):
        fd = FormData()
        for k, v in urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True):
            fd.append(k, v)
        return fd
    if ctype.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not msg.is_multipart():
            raise TypeError("Failed to parse body as FormData: malformed multipart body")
        fd = FormData()
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                fd.append(name, File(payload, filename, part.get_content_type()))
            else:
                charset = part.get_content_charset() or "utf-8"
                fd.append(name, payload.decode(charset, "replace"))
        return fd
    raise TypeError(f"Failed to parse body as FormData: unsupported content-type {content_type!r}")


def encode_body(body):
    """(bytes or None, default content-type or None) for a Request/Response body."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain;charset=UTF-8"
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), None
    if isinstance(body, FormData):
        ctype, data = body.encode()
        return data, ctype
    if isinstance(body, Blob):
        return body._data, body.type or None
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8"), "application/json"
    raw = getattr(body, "_pywrangler_body", None)
    if raw is not None:
        return raw(), None
    raise TypeError(
        f"unsupported body type {type(body).__name__} (use str, bytes, FormData, Blob, or dict/list for JSON)"
    )
