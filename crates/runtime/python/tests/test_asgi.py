"""ASGI (Starlette and a hand-written app) and WSGI through workers.asgi /
workers.wsgi, driven by real fetch events."""

import json
import os
import subprocess
import sys
import unittest

from support import Guest, header_values

STARLETTE = "starlette==0.46.2"


def starlette_dir():
    """A `--target` install of Starlette (pure Python), cached outside the repo."""
    base = os.environ.get("PYWRANGLER_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "pywrangler-rs")
    target = os.path.join(base, "test-python", STARLETTE.replace("==", "-"))
    if not os.path.isdir(os.path.join(target, "starlette")):
        cmd = ["uv", "pip", "install", "--quiet", "--target", target, "--python", sys.executable, STARLETTE]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
        except FileNotFoundError:
            subprocess.run([sys.executable, "-m", "uv"] + cmd[1:], check=True, capture_output=True, text=True, timeout=300)
    return target


STARLETTE_APP = """
import contextlib
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from workers import WorkerEntrypoint
import asgi

events = []

@contextlib.asynccontextmanager
async def lifespan(app):
    events.append("startup")
    yield {"db": "connected"}
    events.append("shutdown")

async def item(request):
    return JSONResponse({
        "id": int(request.path_params["id"]),
        "q": request.query_params.get("q"),
        "state": request.state.db,
        "env": request.scope["env"].NAME,
        "ua": request.headers.get("user-agent"),
        "path": request.url.path,
    })

async def echo(request):
    body = await request.body()
    return PlainTextResponse(body.decode().upper(), status_code=201, headers={"x-len": str(len(body))})

async def form(request):
    f = await request.form()
    return JSONResponse({"a": f["a"], "b": f.getlist("b")})

async def stream(request):
    async def gen():
        for i in range(3):
            yield f"chunk{i};"
    return StreamingResponse(gen(), media_type="text/plain")

async def boom(request):
    raise RuntimeError("kaput")

app = Starlette(routes=[
    Route("/items/{id}", item),
    Route("/echo", echo, methods=["POST"]),
    Route("/form", form, methods=["POST"]),
    Route("/stream", stream),
    Route("/boom", boom),
], lifespan=lifespan)

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request.js_object, self.env)
"""

HAND_ASGI = """
from workers import WorkerEntrypoint
from workers.asgi import fetch as asgi_fetch, entrypoint

log = []

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            log.append(msg["type"])
            if msg["type"] == "lifespan.startup":
                scope["state"]["n"] = 7
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    req = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]})
    info = "|".join([scope["method"], scope["path"], scope["raw_path"].decode(), scope["query_string"].decode(), scope["scheme"], scope["http_version"], scope["asgi"]["version"], str(scope["state"]["n"]), dict(scope["headers"])[b"x-h"].decode()])
    await send({"type": "http.response.body", "body": info.encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b"|" + req["body"], "more_body": False})

Default = entrypoint(app)
"""

NO_LIFESPAN = """
from workers import WorkerEntrypoint
import asgi

async def app(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError("only http")
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"nope"})

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request, self.env)
"""

WSGI_APP = """
from workers import WorkerEntrypoint
from workers import wsgi

def app(environ, start_response):
    body = environ["wsgi.input"].read()
    out = "|".join([environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"], environ.get("CONTENT_TYPE", ""), environ["HTTP_X_H"], environ["wsgi.url_scheme"], environ["SERVER_NAME"], environ["workers.env"].NAME, body.decode()])
    start_response("202 Accepted", [("Content-Type", "text/plain"), ("X-A", "1")])
    return [out.encode(), b"!"]

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await wsgi.fetch(app, request, self.env)
"""

ENV = {"NAME": {"type": "var", "value": "local"}}


class StarletteTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = starlette_dir()

    def setUp(self):
        sys.path.insert(0, self.site)
        self.addCleanup(sys.path.remove, self.site)
        self.g = Guest({"entry.py": STARLETTE_APP}, env=ENV)
        self.addCleanup(self.g.close)

    def test_routes(self):
        self.assertTrue(self.g.status["ok"], self.g.status.get("error", {}).get("traceback"))
        import starlette

        self.assertTrue(starlette.__file__.startswith(self.site), starlette.__file__)
        h, body = self.g.fetch("/items/5?q=x%20y", headers=[("user-agent", "ua/1")])
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        self.assertEqual(h["status"], 200)
        self.assertEqual(json.loads(body), {"id": 5, "q": "x y", "state": "connected", "env": "local", "ua": "ua/1", "path": "/items/5"})
        self.assertEqual(header_values(h["headers"], "content-type"), ["application/json"])
        import entry

        self.assertEqual(entry.events, ["startup", "shutdown"], "lifespan runs around every request")

        h, body = self.g.fetch("/echo", "POST", [("content-type", "text/plain")], b"hello")
        self.assertEqual((h["status"], body), (201, b"HELLO"))
        self.assertEqual(header_values(h["headers"], "x-len"), ["5"])

        h, body = self.g.fetch("/stream")
        self.assertEqual(body, b"chunk0;chunk1;chunk2;")

        h, body = self.g.fetch("/nowhere")
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        self.assertEqual((h["status"], body), (404, b"Not Found"))

        h, body = self.g.fetch("/boom")
        self.assertFalse(h["ok"])
        self.assertIn("kaput", h["error"]["message"])
        self.assertEqual(entry.events[-2:], ["startup", "shutdown"], "shutdown also runs after an error")


class HandAsgiTests(unittest.TestCase):
    def test_scope_lifespan_and_streaming(self):
        g = Guest(HAND_ASGI, env=ENV)
        self.addCleanup(g.close)
        h, body = g.fetch("/a%20b/c?x=1&y=2", "POST", [("x-h", "hv")], b"payload")
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        self.assertEqual(body, b"POST|/a b/c|/a%20b/c|x=1&y=2|https|1.1|3.0|7|hv|payload")
        self.assertEqual(header_values(h["headers"], "set-cookie"), ["a=1", "b=2"])
        import entry

        self.assertEqual(entry.log, ["lifespan.startup", "lifespan.shutdown"])
        g.fetch("/")
        self.assertEqual(entry.log, ["lifespan.startup", "lifespan.shutdown"] * 2)

    def test_app_without_lifespan(self):
        g = Guest(NO_LIFESPAN)
        self.addCleanup(g.close)
        h, body = g.fetch("/x")
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        self.assertEqual((h["status"], body), (404, b"nope"))


class WsgiTests(unittest.TestCase):
    def test_wsgi_app(self):
        g = Guest(WSGI_APP, env=ENV)
        self.addCleanup(g.close)
        h, body = g.fetch("/p%C3%A9/q?z=1", "PUT", [("x-h", "v"), ("content-type", "text/plain")], b"data")
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        self.assertEqual(h["status"], 202)
        parts = body.split(b"|")
        self.assertEqual(parts[0], b"PUT")
        self.assertEqual(parts[1].decode("utf-8").encode("latin-1").decode("utf-8"), "/pé/q", "PATH_INFO is latin-1 decoded bytes (PEP 3333)")
        self.assertEqual(parts[2:], [b"z=1", b"text/plain", b"v", b"https", b"example.com", b"local", b"data!"])
        self.assertEqual(header_values(h["headers"], "x-a"), ["1"])


if __name__ == "__main__":
    unittest.main()
