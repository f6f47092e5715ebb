"""Python stand-ins for the JavaScript values Pyodide hands to worker code:
`JsDict` (a dict with attribute access), `JsBuffer` (bytes with the
ArrayBuffer proxy helpers), `JsException`, and the rpc conversions."""


class JsProxy:
    """Marker base class, like `pyodide.ffi.JsProxy` (for isinstance checks)."""

    def to_py(self, *args, **kwargs):
        return self


class JsException(Exception):
    """An error raised by the host (a binding, `fetch`, RPC), like Pyodide's
    `JsException`: `.name` is the JavaScript error type, `.message` its text."""

    def __init__(self, message, name="Error"):
        super().__init__(f"{name}: {message}" if name and name != "Error" else message)
        self.name = name
        self.message = message

    @property
    def js_error(self):
        return self


class JsDict(dict, JsProxy):
    """A dict whose keys are also attributes (`result.meta.changes`), like the
    JsDict that `python_from_rpc` returns in production."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_py(self, *args, **kwargs):
        return to_plain(self)

    def as_object_map(self):
        return self


class JsBuffer(bytes):
    """Bytes from an ArrayBuffer result, with the proxy helpers worker code
    calls on it (`to_bytes`, `to_py`, `to_memoryview`, `to_string`)."""

    def to_bytes(self):
        return bytes(self)

    def to_py(self, *args, **kwargs):
        return memoryview(bytes(self))

    def to_memoryview(self):
        return memoryview(bytes(self))

    def to_string(self, encoding="utf-8"):
        return bytes(self).decode(encoding)

    @property
    def byteLength(self):
        return len(self)


def from_json(value):
    """Wrap JSON-decoded data for worker code: dicts become JsDicts, recursively."""
    if isinstance(value, dict):
        return JsDict((k, from_json(v)) for k, v in value.items())
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def to_plain(value):
    """Turn JsDicts (and tuples) back into plain JSON-shaped Python values."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def to_json(value):
    """Convert an RPC argument/result into something `json.dumps` accepts,
    raising a TypeError that names the unsupported type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    to_dict = getattr(value, "_pywrangler_to_json", None)
    if to_dict is not None:
        return to_dict()
    raise TypeError(
        f"cannot pass a {type(value).__name__} across an RPC boundary in the local "
        "runtime (only JSON-representable values: None, bool, int, float, str, list, dict)"
    )
