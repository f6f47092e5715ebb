"""Run a WSGI application for one request (`workers.wsgi.fetch`)."""

import io
import sys
import urllib.parse

from ._entrypoints import WorkerEntrypoint
from ._http import Request, Response


def build_environ(req, env, body):
    parts = urllib.parse.urlsplit(req.url)
    scheme = parts.scheme or "http"
    port = str(parts.port or (443 if scheme == "https" else 80))
    environ = {
        "REQUEST_METHOD": str(req.method),
        "SCRIPT_NAME": "",
        # PEP 3333: native strings holding the raw bytes as latin-1.
        "PATH_INFO": urllib.parse.unquote_to_bytes(parts.path or "/").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": port,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "workers.env": env,
    }
    for name, value in req._headers.pairs():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        http_name = "HTTP_" + key
        if http_name in environ:
            environ[http_name] += "," + value
        else:
            environ[http_name] = value
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def process_request(app, req, env):
    if not isinstance(req, Request):
        req = Request(req)
    body = req._body or b""
    environ = build_environ(req, env, body)
    status_line = None
    headers = []
    chunks = []

    def write(chunk):
        if status_line is None:
            raise AssertionError("WSGI write() before start_response()")
        chunks.append(bytes(chunk))

    def start_response(status, response_headers, exc_info=None):
        nonlocal status_line, headers
        if exc_info is not None and status_line is not None and chunks:
            raise exc_info[1].with_traceback(exc_info[2])
        status_line = status
        headers = list(response_headers)
        return write

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                chunks.append(bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if status_line is None:
        raise RuntimeError("WSGI app returned without calling start_response()")
    code, _, reason = str(status_line).partition(" ")
    return Response(b"".join(chunks), status=int(code), status_text=reason, headers=headers)


async def fetch(app, req, env, ctx=None, *, options=None):
    """Serve `req` with the WSGI `app`; returns a workers.Response."""
    return process_request(app, req, env)


def entrypoint(app, *, options=None):
    """A ready-made `Default` WorkerEntrypoint serving `app`."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await fetch(app, request, self.env)

    return Default
