"""`Request`, `Response`/`FetchResponse` and `fetch()`: the HTTP types user
code sees, backed by plain bytes (a large incoming request body stays on
the host until the handler reads it)."""

import http
import inspect
import json as _json
from http import HTTPStatus

from _pywrangler import host
from _pywrangler import state as _state
from _pywrangler.jsobj import JsBuffer, from_json

from ._body import Blob, FormData, encode_body, parse_form
from ._headers import Headers, iter_pairs, to_http_message


class _Body:
    """Shared body readers (awaitable, like the JavaScript ones). A body may
    still be on the host (`_pulled`: a large request body, a fetched
    response's body), fetched whole on first use, or be a stream of chunks
    (`_stream`), joined when read here."""

    _headers = None
    body_used = False
    _pulled = None
    _body_data = None
    _stream = None

    @property
    def _body(self):
        if self._pulled is not None:
            pulled, self._pulled = self._pulled, None
            self._body_data = pulled.read_all() or None
        return self._body_data

    @_body.setter
    def _body(self, value):
        self._pulled = None
        self._body_data = value

    def _take_pulled(self):
        """The body still on the host, for a reader that streams it (ASGI,
        HTMLRewriter), or None; the body counts as used from then on."""
        pulled, self._pulled = self._pulled, None
        if pulled is not None:
            self.body_used = True
        return pulled

    def _read(self):
        self.body_used = True
        stream = self._stream
        if stream is not None:
            self._stream = None
            self._body = join_stream(stream)
        return self._body or b""

    async def text(self):
        return self._read().decode("utf-8", "replace")

    async def json(self, **kwargs):
        return _json.loads(self._read().decode("utf-8"), **kwargs)

    async def bytes(self):
        return self._read()

    async def buffer(self):
        return JsBuffer(self._read())

    async def arrayBuffer(self):
        return JsBuffer(self._read())

    async def array_buffer(self):
        return JsBuffer(self._read())

    async def form_data(self):
        return parse_form(self._headers.get("content-type"), self._read())

    async def formData(self):
        return await self.form_data()

    async def blob(self):
        return Blob(self._read(), self._headers.get("content-type") or "")

    @property
    def body(self):
        """The body bytes (a stream in production), or None without a body."""
        return self._body

    @property
    def bodyUsed(self):
        return self.body_used

    @property
    def headers(self):
        return to_http_message(self._headers.pairs())

    @property
    def js_object(self):
        return self

    def _pywrangler_body(self):
        return self._body or b""


class _ClassOrInstance:
    """`Response.json(data)` builds a response; `await resp.json()` reads one."""

    def __init__(self, static, method):
        self.static = static
        self.method = method

    def __get__(self, obj, owner=None):
        if obj is None:
            return self.static
        return self.method.__get__(obj, owner)


def _is_stream(body):
    if body is None or isinstance(body, (str, bytes, bytearray, memoryview, dict, list)):
        return False
    return hasattr(body, "__aiter__") or inspect.isgenerator(body)


def chunk_bytes(chunk):
    """One streamed chunk as bytes (str is UTF-8 encoded)."""
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"a streamed response chunk must be bytes or str, not {type(chunk).__name__}")


async def iter_stream(stream):
    """Yield the chunks of a streamed body as bytes."""
    try:
        if hasattr(stream, "__aiter__"):
            async for chunk in stream:
                yield chunk_bytes(chunk)
        else:
            for chunk in stream:
                yield chunk_bytes(chunk)
    finally:
        # Stopped early (client gone, error): close the user's generator now.
        if hasattr(stream, "aclose"):
            await stream.aclose()
        elif hasattr(stream, "close"):
            stream.close()


def join_stream(stream):
    """All of a streamed body, read in place (an async one through
    `run_sync`, so only where production could await it too)."""
    if hasattr(stream, "__aiter__"):
        from pyodide.ffi import run_sync

        async def join():
            return b"".join([c async for c in iter_stream(stream)])

        return run_sync(join())
    return b"".join(chunk_bytes(c) for c in stream)


def streamed_response(stream, status, headers):
    """A Response whose body is the async iterable `stream` (bytes or str
    chunks), sent as it is produced. Used by the ASGI adapter."""
    resp = Response(None, status=status, headers=headers)
    resp._stream = stream
    return resp


class FetchResponse(_Body):
    """A response: status, headers and a buffered body."""

    def __init__(self, body=None, status=None, status_text="", headers=None, web_socket=None, *, url="", statusText=None):
        if isinstance(body, FetchResponse) and status is None and headers is None and not status_text:
            self._body = body._body
            self._stream = getattr(body, "_stream", None)
            self._headers = Headers(body._headers)
            self.status = body.status
            self.status_text = body.status_text
            self.url = body.url
            self.web_socket = body.web_socket
            return
        self._stream = None
        if _is_stream(body):
            # Production's Response takes str, FormData or JS bodies only; a
            # Python generator is refused there, so it is refused here too.
            # (Streaming works through the ASGI adapter's `more_body`.)
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}")
        try:
            data, default_ctype = encode_body(body)
        except TypeError:
            raise TypeError(f"Unsupported type in Response: {type(body).__name__}") from None
        self._body = data
        self._headers = Headers(headers)
        if default_ctype and not self._headers.has("content-type"):
            self._headers.set("content-type", default_ctype)
        status = HTTPStatus.OK if status is None else status
        self.status = int(status.value if isinstance(status, HTTPStatus) else status)
        if not 200 <= self.status <= 599 and not (self.status == 101 and web_socket is not None):
            raise ValueError(f"Response status {self.status} is outside 200..599")
        self.status_text = statusText if statusText is not None else (status_text or "")
        self.url = url
        self.web_socket = web_socket

    @property
    def webSocket(self):
        return self.web_socket

    @property
    def ok(self):
        return 200 <= self.status <= 299

    @property
    def statusText(self):
        return self.status_text

    @property
    def redirected(self):
        return False

    @property
    def type(self):
        return "default"

    @property
    def js_response(self):
        return self

    def raise_for_status(self):
        if self.status >= 400:
            raise OSError(f"HTTP error {self.status}: {self.status_text} for url {self.url}")

    def clone(self):
        return type(self)(self)

    def replace_body(self, body):
        r = Response(body, status=self.status, status_text=self.status_text, headers=self._headers)
        return r

    async def _read_json(self, **kwargs):
        return await _Body.json(self, **kwargs)

    @staticmethod
    def from_json(data, status=HTTPStatus.OK, status_text="", headers=None):
        h = Headers(headers)
        if not h.has("content-type"):
            h.set("content-type", "application/json")
        return Response(_json.dumps(data), status=status, status_text=status_text, headers=h)

    @staticmethod
    def redirect(url, status=HTTPStatus.FOUND):
        code = int(status.value if isinstance(status, HTTPStatus) else status)
        if code not in (301, 302, 303, 307, 308):
            raise ValueError(f"Response.redirect: invalid redirect status {code}")
        return Response(None, status=code, headers={"location": str(url)})

    @staticmethod
    def error():
        r = Response(None, status=200)
        r.status = 0
        return r

    json = _ClassOrInstance(from_json.__func__, _read_json)

    def wire(self):
        """(status, [[name, value]…], body bytes) for the pw_invoke reply."""
        return self.status, [[k, v] for k, v in self._headers.pairs()], self._body or b""

    def __repr__(self):
        return f"{type(self).__name__}(status={self.status}, headers={self._headers.entries()!r})"


class Response(FetchResponse):
    """`workers.Response(body=None, status=None, status_text="", headers=None, web_socket=None)`."""


def _method(m):
    m = str(m or "GET").upper()
    try:
        return http.HTTPMethod(m)
    except ValueError:
        return m


class _PulledBody:
    """A body still on the host, read chunk by chunk only if the handler asks
    for it: a request body (`dev` leaves large ones on the connection; the
    `request.read` op) or a fetched response's body (`fetch.read`), which
    production streams too."""

    def __init__(self, id, op="request"):
        self.id = id
        self.op = op
        self.done = False

    def read_chunk(self):
        """The next chunk as bytes, or None at the end."""
        if self.done:
            return None
        value, chunk = host.call(f"{self.op}.read", {"id": self.id})
        if (value or {}).get("done"):
            self.done = True
            return chunk or None
        return chunk

    def close(self):
        """Drop what is left unread (fetched bodies only)."""
        if not self.done and self.op == "fetch":
            self.done = True
            host.call("fetch.close", {"id": self.id})

    def read_all(self):
        parts = []
        while (chunk := self.read_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)


class Request(_Body):
    """`workers.Request(input, *, headers=, body=, method=, redirect=, cf=)`."""

    def __init__(self, input, *, headers=None, body=None, method=None, redirect=None, cf=None, **_ignored):
        if isinstance(input, Request):
            base = input
            self.url = base.url
            method = method if method is not None else base.method
            if headers is None:
                headers = base._headers
            if body is None:
                self._body = base._body
            cf = cf if cf is not None else base.cf
            redirect = redirect if redirect is not None else base.redirect
        else:
            self.url = str(getattr(input, "href", input))
        self.method = _method(method)
        self._headers = Headers(headers)
        if body is not None:
            data, default_ctype = encode_body(body)
            self._body = data
            if default_ctype and not self._headers.has("content-type"):
                self._headers.set("content-type", default_ctype)
        elif not isinstance(input, Request):
            self._body = None
        self.cf = from_json(cf) if cf is not None else None
        self.redirect = redirect or "follow"

    def clone(self):
        return Request(self)

    @property
    def signal(self):
        return None

    def wire(self):
        return {
            "method": str(self.method),
            "url": self.url,
            "headers": [[k, v] for k, v in self._headers.pairs()],
        }

    def __repr__(self):
        return f"Request({str(self.method)} {self.url})"


def make_request(resource, kwargs):
    """A Request from fetch()-style arguments (URL or Request plus init)."""
    init = dict(kwargs)
    init.pop("fetcher", None)
    if isinstance(resource, Request) and not init:
        return resource
    return Request(resource, **{k: v for k, v in init.items() if k in ("headers", "body", "method", "redirect", "cf")})


def response_from_host(value, body):
    """A FetchResponse from a host reply `{"status","status_text","headers","url"}` + body."""
    value = value or {}
    r = FetchResponse(
        body,
        status=int(value.get("status", 200)) if int(value.get("status", 200)) >= 200 else 200,
        status_text=value.get("status_text") or "",
        headers=iter_pairs(value.get("headers") or []),
        url=value.get("url") or "",
    )
    r.status = int(value.get("status", 200))
    if value.get("webSocket"):
        from _pywrangler import websocket

        r.web_socket = websocket.from_host(value["webSocket"])
    return r


async def fetch(resource, **kwargs):
    """Outbound HTTP through the host (`fetch` op); returns a Response."""
    req = make_request(resource, kwargs)
    if (req._headers.get("upgrade") or "").lower() == "websocket":
        from _pywrangler import websocket

        return await websocket.fetch_upgrade(req)
    args = req.wire()
    args["redirect"] = req.redirect or "follow"
    # The body stays on the host until read, so the response is there as
    # soon as its headers are (a transform can stream it on).
    args["stream"] = True
    value, body = host.call("fetch", args, req._body or b"")
    r = response_from_host(value, body)
    stream = (value or {}).get("stream")
    if stream is not None:
        r._pulled = _PulledBody(stream, "fetch")
        ctx = _state.current_context()
        if ctx is not None:
            ctx.__dict__.setdefault("_pywrangler_open_bodies", []).append(r._pulled)
    return r


def close_open_bodies(ctx):
    """End of `ctx`'s event: release fetched bodies nobody read to the end."""
    bodies = ctx.__dict__.pop("_pywrangler_open_bodies", None)
    while bodies:
        bodies.pop().close()


__all__ = ["FetchResponse", "Response", "Request", "fetch", "FormData", "Headers"]
