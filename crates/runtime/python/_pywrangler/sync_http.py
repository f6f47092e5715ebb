"""Synchronous HTTP clients over the host's fetch, as on Cloudflare, where
the guest has no sockets and urllib3 (so `requests`) and httpx send their
requests through `fetch`. The guest here has no sockets either, so:

- `http.client` (and `urllib.request` on top of it) connects to a
  `FetchSocket`: the request it writes is sent with the host's fetch when
  the response is read; the body streams in with `fetch.read`.
- urllib3's connection pools get fetch-backed connection classes, as
  production's Emscripten backend swaps in its own (fetch follows
  redirects, the `user-agent` header is dropped).
- httpx's default transports become fetch transports, as in Pyodide's build.

Timeouts are the host fetch's `timeout_ms`; running out raises
`TimeoutError` (socket.timeout), which each client reports its own way."""

import io
import socket
import sys

from . import host
from .jsobj import JsException

# Request headers the host's fetch sets itself (or that describe the
# connection rather than the request).
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "te", "upgrade"}
# Response headers that describe the upstream connection; the synthesized
# response frames the body itself.
_RESPONSE_SKIP = {"transfer-encoding", "connection", "keep-alive"}


def _timeout_ms(timeout):
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout >= 0:
        return float(timeout) * 1000.0
    return None


def _raise_fetch_error(e, url):
    if getattr(e, "name", "") == "TimeoutError":
        raise TimeoutError(f"timed out ({url})") from None
    raise ConnectionError(str(e)) from None


def fetch_stream(method, url, headers, body, timeout=None, follow=True):
    """Start a fetch whose body stays on the host: returns the reply head
    (`status`, `status_text`, `headers`, `stream`)."""
    args = {
        "method": method,
        "url": url,
        "headers": [[k, v] for k, v in headers if k.lower() not in _HOP_BY_HOP],
        "redirect": "follow" if follow else "manual",
        "stream": True,
    }
    ms = _timeout_ms(timeout)
    if ms is not None:
        args["timeout_ms"] = ms
    try:
        value, _ = host.call("fetch", args, body or b"")
    except JsException as e:
        _raise_fetch_error(e, url)
    return value or {}


class BodyReader:
    """Pulls a streamed response body from the host, chunk by chunk."""

    def __init__(self, stream_id, url):
        self.id = stream_id
        self.url = url
        self.done = stream_id is None

    def next_chunk(self):
        """The next non-empty chunk, or b"" at the end."""
        while not self.done:
            try:
                value, chunk = host.call("fetch.read", {"id": self.id})
            except JsException as e:
                self.done = True
                _raise_fetch_error(e, self.url)
            if (value or {}).get("done"):
                self.done = True
            if chunk:
                return chunk
        return b""

    def close(self):
        if not self.done:
            self.done = True
            try:
                host.call("fetch.close", {"id": self.id})
            except JsException:
                pass


# ------------------------------------------------------------------ http.client


class _ResponseRaw(io.RawIOBase):
    """The bytes of an HTTP/1.1 response: a synthesized head, then the body
    from the host (chunk-encoded when its length is unknown)."""

    def __init__(self, head, reader, chunked):
        self._buf = bytearray(head)
        self._reader = reader
        self._chunked = chunked
        self._ended = False

    def readable(self):
        return True

    def _fill(self):
        if self._ended:
            return
        chunk = self._reader.next_chunk()
        if not chunk:
            self._ended = True
            if self._chunked:
                self._buf += b"0\r\n\r\n"
            return
        if self._chunked:
            self._buf += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        else:
            self._buf += chunk

    def readinto(self, b):
        if not self._buf:
            self._fill()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n

    def close(self):
        self._reader.close()
        super().close()


def _parse_request(raw):
    """(method, target, [(name, value)], body) from what http.client wrote."""
    head, sep, rest = bytes(raw).partition(b"\r\n\r\n")
    if not sep:
        raise ConnectionError("the request was not complete when its response was read")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in headers)
    if chunked:
        body = bytearray()
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2 :]
        rest = bytes(body)
    return method, target, headers, rest


class FetchSocket:
    """What `http.client` connections talk to instead of a TCP socket."""

    def __init__(self, scheme, host_name, port, timeout=None, follow=False, drop=()):
        self._origin = f"{scheme}://{host_name}" + ("" if port in (None, 80 if scheme == "http" else 443) else f":{port}")
        self._timeout = timeout
        self._follow = follow
        self._drop = {d.lower() for d in drop}
        self._out = bytearray()
        self._closed = False

    def settimeout(self, timeout):
        self._timeout = timeout

    def gettimeout(self):
        return self._timeout

    def setsockopt(self, *args):
        pass

    def sendall(self, data):
        if self._closed:
            raise OSError("the connection is closed")
        self._out += data

    def send(self, data):
        self.sendall(data)
        return len(data)

    def fileno(self):
        return -1

    def shutdown(self, how):
        pass

    def close(self):
        self._closed = True

    def makefile(self, mode="rb", *args, **kwargs):
        if "r" not in mode:
            raise OSError("FetchSocket only reads through makefile()")
        raw, self._out = self._out, bytearray()
        method, target, headers, body = _parse_request(raw)
        url = target if "://" in target else self._origin + target
        headers = [(k, v) for k, v in headers if k.lower() not in self._drop]
        head = fetch_stream(method, url, headers, body, self._timeout, self._follow)
        out_headers = [(k, v) for k, v in head.get("headers") or [] if k.lower() not in _RESPONSE_SKIP]
        known = any(k.lower() == "content-length" for k, _ in out_headers) or method.upper() == "HEAD"
        status = int(head.get("status", 200))
        if status in (204, 304) or 100 <= status < 200:
            known = True
        lines = [f"HTTP/1.1 {status} {head.get('status_text') or ''}"]
        lines += [f"{k}: {v}" for k, v in out_headers]
        if not known:
            lines.append("transfer-encoding: chunked")
        raw_head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        reader = BodyReader(head.get("stream"), url)
        return io.BufferedReader(_ResponseRaw(raw_head, reader, not known))


def _patch_http_client(mod):
    def connect(self):
        scheme = "https" if self.default_port == 443 else "http"
        self.sock = FetchSocket(scheme, self.host, self.port, self.timeout)

    mod.HTTPConnection.connect = connect

    # The guest's `ssl` cannot make connections: the host's fetch does TLS.
    class HTTPSConnection(mod.HTTPConnection):
        default_port = mod.HTTPS_PORT

        def __init__(self, host, port=None, *, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None, context=None, blocksize=8192, **_tls):
            super().__init__(host, port, timeout, source_address, blocksize=blocksize)

    mod.HTTPSConnection = HTTPSConnection
    mod._create_https_context = lambda http_version: None
    if "HTTPSConnection" not in mod.__all__:
        mod.__all__.append("HTTPSConnection")


# ------------------------------------------------------------------ urllib3


def _patch_urllib3(pool_mod):
    import urllib3.connection as conn_mod

    base = conn_mod.HTTPConnection
    passed = ("timeout", "source_address", "blocksize", "socket_options", "proxy", "proxy_config")

    class FetchHTTPConnection(base):
        """urllib3 connection over the host's fetch (production: the
        Emscripten backend): fetch follows redirects, `user-agent` is dropped."""

        scheme = "http"
        is_verified = False

        def __init__(self, host, port=None, **kwargs):
            super().__init__(host, port, **{k: v for k, v in kwargs.items() if k in passed})

        def connect(self):
            self.sock = FetchSocket(self.scheme, self.host, self.port, self.timeout, follow=True, drop=("user-agent",))
            self._has_connected_to_proxy = False

        @property
        def is_connected(self):
            return self.sock is not None

    class FetchHTTPSConnection(FetchHTTPConnection):
        scheme = "https"
        default_port = 443
        is_verified = True

    pool_mod.HTTPConnectionPool.ConnectionCls = FetchHTTPConnection
    pool_mod.HTTPSConnectionPool.ConnectionCls = FetchHTTPSConnection
    pool_mod.FetchHTTPConnection = FetchHTTPConnection
    pool_mod.FetchHTTPSConnection = FetchHTTPSConnection


# ------------------------------------------------------------------ httpx


def _patch_httpx(mod):
    import httpx

    ignored = ("verify", "cert", "http2", "limits", "proxy", "uds", "local_address", "retries", "socket_options")

    def request_args(request):
        timeout = (request.extensions.get("timeout") or {}).get("read")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        return str(request.url), headers, timeout

    def response(request, head, stream):
        return httpx.Response(
            status_code=int(head.get("status", 200)),
            headers=[(k, v) for k, v in head.get("headers") or [] if k.lower() not in _RESPONSE_SKIP],
            stream=stream,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (head.get("status_text") or "").encode()},
        )

    def start(request, body):
        url, headers, timeout = request_args(request)
        try:
            return fetch_stream(request.method, url, headers, body, timeout, True)
        except TimeoutError as e:
            raise httpx.ReadTimeout(str(e), request=request) from None
        except ConnectionError as e:
            raise httpx.ConnectError(str(e), request=request) from None

    class _Stream(httpx.SyncByteStream, httpx.AsyncByteStream):
        def __init__(self, reader, request):
            self._reader = reader
            self._request = request

        def _next(self):
            try:
                return self._reader.next_chunk()
            except TimeoutError as e:
                raise httpx.ReadTimeout(str(e), request=self._request) from None

        def __iter__(self):
            while chunk := self._next():
                yield chunk

        async def __aiter__(self):
            while chunk := self._next():
                yield chunk

        def close(self):
            self._reader.close()

        async def aclose(self):
            self._reader.close()

    class FetchTransport(httpx.BaseTransport):
        """httpx's sync transport over the host's fetch (Pyodide's
        `JavascriptFetchTransport`); connection options do not apply."""

        def __init__(self, *args, **kwargs):
            self._ignored = [k for k in ignored if kwargs.get(k)]

        def handle_request(self, request):
            head = start(request, request.read())
            return response(request, head, _Stream(BodyReader(head.get("stream"), str(request.url)), request))

    class AsyncFetchTransport(httpx.AsyncBaseTransport):
        """The async counterpart (`AsyncJavascriptFetchTransport`)."""

        def __init__(self, *args, **kwargs):
            pass

        async def handle_async_request(self, request):
            head = start(request, await request.aread())
            return response(request, head, _Stream(BodyReader(head.get("stream"), str(request.url)), request))

    client = sys.modules.get("httpx._client")
    for target in (mod, client):
        if target is not None:
            target.HTTPTransport = FetchTransport
            target.AsyncHTTPTransport = AsyncFetchTransport


# ------------------------------------------------------------------ install


def _after(patch):
    import contextlib

    @contextlib.contextmanager
    def apply(module):
        yield
        patch(module)
        module._pywrangler_fetch = True

    return apply


# Module → patch applied right after the module first executes
# (`_pywrangler.patches` runs these).
EXEC_PATCHES = {
    "http.client": _after(_patch_http_client),
    "urllib3.connectionpool": _after(_patch_urllib3),
    "httpx": _after(_patch_httpx),
}


def patch_loaded():
    """Apply the patches to modules imported before the patch finder was installed."""
    for name, patch in (("http.client", _patch_http_client), ("urllib3.connectionpool", _patch_urllib3), ("httpx", _patch_httpx)):
        mod = sys.modules.get(name)
        if mod is not None and not getattr(mod, "_pywrangler_fetch", False):
            patch(mod)
            mod._pywrangler_fetch = True
