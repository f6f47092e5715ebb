"""The small part of Pyodide's `js` module that Worker code uses:
`Response.new`, `Headers.new`, `URL.new`, `Object.fromEntries`, `console`,
`fetch`, `JSON`. Values are the local `workers` types."""

import json as _json
import sys as _sys
import urllib.parse as _parse

from _pywrangler.jsobj import JsDict as _JsDict
from _pywrangler.jsobj import JsProxy as _JsProxy
from _pywrangler.jsobj import from_json as _from_json
from _pywrangler.jsobj import to_plain as _to_plain
from _pywrangler.jsglobals import (  # noqa: F401 - re-exported globals
    Date,
    Uint8Array,
    clearInterval,
    clearTimeout,
    crypto,
    setInterval,
    setTimeout,
)
from _pywrangler.htmlrewriter import HTMLRewriter  # noqa: F401


def _init(init, kwargs):
    out = {}
    if init is not None:
        out.update(init if isinstance(init, dict) else {k: getattr(init, k) for k in dir(init) if not k.startswith("_")})
    out.update(kwargs)
    return out


class Response(_JsProxy):
    """`js.Response.new(body, init)` → a workers.Response."""

    @staticmethod
    def new(body=None, init=None, **kwargs):
        import workers

        o = _init(init, kwargs)
        return workers.Response(
            body,
            status=o.get("status"),
            status_text=o.get("statusText", o.get("status_text", "")),
            headers=o.get("headers"),
            web_socket=o.get("webSocket"),
        )

    @staticmethod
    def json(data, init=None, **kwargs):
        import workers

        o = _init(init, kwargs)
        return workers.Response.from_json(_to_plain(data), status=o.get("status", 200), headers=o.get("headers"))

    @staticmethod
    def redirect(url, status=302):
        import workers

        return workers.Response.redirect(url, status)


class Request(_JsProxy):
    @staticmethod
    def new(input, init=None, **kwargs):
        import workers

        o = _init(init, kwargs)
        return workers.Request(input, **{k: o[k] for k in ("headers", "body", "method", "redirect", "cf") if k in o})


class Headers(_JsProxy):
    @staticmethod
    def new(init=None):
        import workers

        if isinstance(init, _JsDict):
            init = dict(init)
        return workers.Headers(init)


class FormData(_JsProxy):
    @staticmethod
    def new(init=None):
        import workers

        return workers.FormData(init)


class Blob(_JsProxy):
    @staticmethod
    def new(parts=None, options=None):
        import workers

        return workers.Blob(parts, (options or {}).get("type"))


class URLSearchParams:
    """`URLSearchParams`: ordered, multi-valued query parameters."""

    def __init__(self, init=None):
        if isinstance(init, str):
            self._pairs = _parse.parse_qsl(init.lstrip("?"), keep_blank_values=True)
        elif isinstance(init, dict):
            self._pairs = [(str(k), str(v)) for k, v in init.items()]
        elif init is None:
            self._pairs = []
        else:
            self._pairs = [(str(k), str(v)) for k, v in init]
        self._url = None

    @classmethod
    def new(cls, init=None):
        return cls(init)

    def _changed(self):
        if self._url is not None:
            self._url._set_search(self.toString())

    def get(self, name):
        for k, v in self._pairs:
            if k == name:
                return v
        return None

    def getAll(self, name):
        return [v for k, v in self._pairs if k == name]

    def has(self, name):
        return any(k == name for k, _ in self._pairs)

    def append(self, name, value):
        self._pairs.append((str(name), str(value)))
        self._changed()

    def set(self, name, value):
        out, done = [], False
        for k, v in self._pairs:
            if k == name:
                if not done:
                    out.append((k, str(value)))
                    done = True
            else:
                out.append((k, v))
        if not done:
            out.append((str(name), str(value)))
        self._pairs = out
        self._changed()

    def delete(self, name):
        self._pairs = [(k, v) for k, v in self._pairs if k != name]
        self._changed()

    def entries(self):
        return list(self._pairs)

    def keys(self):
        return [k for k, _ in self._pairs]

    def values(self):
        return [v for _, v in self._pairs]

    def __iter__(self):
        return iter(self._pairs)

    def toString(self):
        return _parse.urlencode(self._pairs)

    __str__ = toString

    def _pywrangler_body(self):
        return self.toString().encode()


class URL:
    """WHATWG-style URL (the common attributes)."""

    def __init__(self, url, base=None):
        url = str(url)
        if base is not None:
            url = _parse.urljoin(str(base), url)
        parts = _parse.urlsplit(url)
        if not parts.scheme:
            raise TypeError(f"Invalid URL: {url!r}")
        self.protocol = parts.scheme + ":"
        self.username = parts.username or ""
        self.password = parts.password or ""
        self.hostname = parts.hostname or ""
        self.port = str(parts.port) if parts.port else ""
        self.pathname = parts.path or ("/" if parts.netloc else "")
        self.search = ("?" + parts.query) if parts.query else ""
        self.hash = ("#" + parts.fragment) if parts.fragment else ""
        self._params = None

    @classmethod
    def new(cls, url, base=None):
        return cls(url, base)

    @property
    def host(self):
        return self.hostname + (":" + self.port if self.port else "")

    @property
    def origin(self):
        return f"{self.protocol}//{self.host}"

    @property
    def href(self):
        auth = ""
        if self.username:
            auth = self.username + (":" + self.password if self.password else "") + "@"
        return f"{self.protocol}//{auth}{self.host}{self.pathname}{self.search}{self.hash}"

    @property
    def searchParams(self):
        if self._params is None:
            self._params = URLSearchParams(self.search)
            self._params._url = self
        return self._params

    def _set_search(self, qs):
        self.search = ("?" + qs) if qs else ""

    def toString(self):
        return self.href

    __str__ = toString

    def __repr__(self):
        return f"URL({self.href!r})"


class Object:
    @staticmethod
    def fromEntries(entries):
        if hasattr(entries, "items"):
            entries = entries.items()
        return _JsDict((k, v) for k, v in entries)

    @staticmethod
    def new():
        return _JsDict()

    @staticmethod
    def keys(obj):
        return list(obj.keys())

    @staticmethod
    def values(obj):
        return list(obj.values())

    @staticmethod
    def entries(obj):
        return [[k, v] for k, v in obj.items()]

    @staticmethod
    def assign(target, *sources):
        for s in sources:
            target.update(s)
        return target


def _fmt(args):
    out = []
    for a in args:
        if isinstance(a, str):
            out.append(a)
        elif isinstance(a, (dict, list)):
            try:
                out.append(_json.dumps(_to_plain(a)))
            except (TypeError, ValueError):
                out.append(repr(a))
        elif a is None:
            out.append("null")
        elif a is True or a is False:
            out.append("true" if a else "false")
        else:
            out.append(str(a))
    return " ".join(out)


class console:
    """`console.log/info/debug` → stdout, `console.warn/error` → stderr."""

    @staticmethod
    def log(*args):
        print(_fmt(args), file=_sys.stdout)

    info = log
    debug = log

    @staticmethod
    def warn(*args):
        print(_fmt(args), file=_sys.stderr)

    error = warn


class JSON:
    @staticmethod
    def stringify(value, replacer=None, space=None):
        return _json.dumps(_to_plain(value), indent=space, separators=None if space else (",", ":"))

    @staticmethod
    def parse(text):
        return _from_json(_json.loads(text))


async def fetch(resource, init=None, **kwargs):
    """`js.fetch(url, init)` → a workers.Response."""
    import workers

    return await workers.fetch(resource, **_init(init, kwargs))


null = None
undefined = None


from _pywrangler.websocket import WebSocket, WebSocketPair, WebSocketRequestResponsePair  # noqa: E402, F401
