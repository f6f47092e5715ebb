"""Streamed response bodies: `fetch` events with `"stream": true` send the
body through `response.start` / `response.write`; without it (stub fetches)
the same body is buffered into the reply. Workers stream through the ASGI
adapter (`more_body`), as in production; `Response(<generator>)` is refused
there, so it is refused here."""

import unittest

from support import Guest, header_values

WORKER = """
from workers import Response, WorkerEntrypoint
import asyncio
import workers.asgi

progress = []

def app(chunks, status=200, headers=(), fail=None, note=False):
    async def asgi_app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        for chunk in chunks:
            if note:
                progress.append(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)
        if fail:
            raise ValueError(fail)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return asgi_app

async def agen():
    yield "x"

def gen():
    yield "x"

APPS = {
    "/two": app([b"first;", b"second;"], status=201, headers=[(b"x-s", b"1")], note=True),
    "/broken": app([b"ok;"], fail="mid-stream boom"),
    "/sse": app([b"data: 0\\n\\n", b"data: 1\\n\\n", b"data: 2\\n\\n"], headers=[(b"content-type", b"text/event-stream")]),
}

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("example.com")[1]
        if path in APPS:
            return await workers.asgi.fetch(APPS[path], request, self.env)
        if path == "/agen":
            return Response(agen())
        if path == "/gen":
            return Response(gen())
        if path == "/object":
            return Response(object())
        return Response("plain")
"""


class StreamTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest({"entry.py": WORKER})
        self.addCleanup(self.g.close)

    def stream(self, path):
        return self.g.invoke(
            {"v": 1, "kind": "fetch", "method": "GET", "url": "https://example.com" + path, "headers": [], "cf": {}, "entrypoint": "Default", "stream": True}
        )

    def test_asgi_more_body_streams_chunk_by_chunk(self):
        h, body = self.stream("/two")
        self.assertEqual(h, {"v": 1, "ok": True, "streamed": True})
        self.assertEqual(body, b"")
        s = self.g.host.streamed
        self.assertEqual(s["status"], 201)
        self.assertEqual(header_values(s["headers"], "x-s"), ["1"])
        self.assertEqual(s["chunks"], [b"first;", b"second;"])

    def test_server_sent_events_stream(self):
        h, _ = self.stream("/sse")
        self.assertTrue(h.get("streamed"), h)
        s = self.g.host.streamed
        self.assertEqual(header_values(s["headers"], "content-type"), ["text/event-stream"])
        self.assertEqual(s["chunks"], [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"])

    def test_without_stream_flag_the_body_is_buffered(self):
        h, body = self.g.fetch("/two")
        self.assertTrue(h["ok"], h)
        self.assertNotIn("streamed", h)
        self.assertEqual((h["status"], body), (201, b"first;second;"))
        self.assertIsNone(self.g.host.streamed)

    def test_plain_body_is_not_streamed_even_when_asked(self):
        h, body = self.stream("/plain")
        self.assertEqual((h["ok"], h["status"], body), (True, 200, b"plain"))
        self.assertIsNone(self.g.host.streamed)

    def test_exception_after_start_is_an_error_reply(self):
        h, _ = self.stream("/broken")
        self.assertFalse(h["ok"])
        self.assertIn("mid-stream boom", h["error"]["message"])
        # Whether "ok;" went out first depends on when the app raised; never more.
        streamed = self.g.host.streamed
        self.assertIn(None if streamed is None else streamed["chunks"], (None, [b"ok;"]))

    def test_generator_bodies_are_refused_as_in_production(self):
        for path, name in [("/agen", "async_generator"), ("/gen", "generator"), ("/object", "object")]:
            h, _ = self.stream(path)
            self.assertFalse(h["ok"], h)
            self.assertEqual(h["error"]["type"], "TypeError")
            self.assertEqual(h["error"]["message"], f"Unsupported type in Response: {name}")

    def test_client_disconnect_stops_the_handler(self):
        self.g.host.fail_writes_after = 1
        h, _ = self.stream("/two")
        self.assertFalse(h["ok"])
        self.assertEqual(self.g.host.streamed["chunks"], [b"first;"])
        h, body = self.g.fetch("/plain")
        self.assertEqual(body, b"plain", "the instance stays usable")


if __name__ == "__main__":
    unittest.main()
