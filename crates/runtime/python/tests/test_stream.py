"""Streamed response bodies: `fetch` events with `"stream": true` send the
body through `response.start` / `response.write`; without it (stub fetches)
the same body is buffered into the reply."""

import unittest

from support import Guest, header_values

WORKER = """
from workers import Response, WorkerEntrypoint
import asyncio
import workers.asgi

progress = []

async def agen():
    progress.append("first")
    yield "first;"
    await asyncio.sleep(0)
    progress.append("second")
    yield b"second;"

def gen():
    yield "a"
    yield b"b"

async def broken():
    yield "ok;"
    raise ValueError("mid-stream boom")

async def bad_chunk():
    yield 5

async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for i in range(3):
        await send({"type": "http.response.body", "body": f"data: {i}\\n\\n".encode(), "more_body": True})
        await asyncio.sleep(0)
    await send({"type": "http.response.body", "body": b"", "more_body": False})

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("example.com")[1]
        if path == "/agen":
            return Response(agen(), status=201, headers={"x-s": "1"})
        if path == "/gen":
            return Response(gen())
        if path == "/broken":
            return Response(broken())
        if path == "/bad":
            return Response(bad_chunk())
        if path == "/asgi":
            return await workers.asgi.fetch(asgi_app, request, self.env)
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

    def test_async_generator_streams_chunk_by_chunk(self):
        h, body = self.stream("/agen")
        self.assertEqual(h, {"v": 1, "ok": True, "streamed": True})
        self.assertEqual(body, b"")
        s = self.g.host.streamed
        self.assertEqual(s["status"], 201)
        self.assertEqual(header_values(s["headers"], "x-s"), ["1"])
        self.assertEqual(s["chunks"], [b"first;", b"second;"])

    def test_sync_generator_streams(self):
        h, _ = self.stream("/gen")
        self.assertTrue(h.get("streamed"), h)
        self.assertEqual(self.g.host.streamed["chunks"], [b"a", b"b"])

    def test_without_stream_flag_the_body_is_buffered(self):
        h, body = self.g.fetch("/agen")
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
        self.assertEqual(self.g.host.streamed["chunks"], [b"ok;"])

    def test_non_bytes_chunk_raises_type_error(self):
        h, _ = self.stream("/bad")
        self.assertFalse(h["ok"])
        self.assertEqual(h["error"]["type"], "TypeError")

    def test_client_disconnect_stops_the_handler(self):
        self.g.host.fail_writes_after = 1
        h, _ = self.stream("/agen")
        self.assertFalse(h["ok"])
        import entry

        self.assertEqual(self.g.host.streamed["chunks"], [b"first;"])
        # The generator was not resumed past the failed write.
        self.assertEqual(entry.progress, ["first", "second"])
        h, body = self.g.fetch("/plain")
        self.assertEqual(body, b"plain", "the instance stays usable")

    def test_asgi_more_body_streams(self):
        h, _ = self.stream("/asgi")
        self.assertTrue(h.get("streamed"), h)
        s = self.g.host.streamed
        self.assertEqual(header_values(s["headers"], "content-type"), ["text/event-stream"])
        self.assertEqual(s["chunks"], [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"])


if __name__ == "__main__":
    unittest.main()
