"""Request bodies left on the host (`"body_stream": id` in a `fetch` event):
the guest pulls them with `request.read` only when the handler reads the
body, whole for `text()/json()/bytes()`, chunk by chunk for an ASGI app."""

import unittest

from support import Guest

WORKER = """
import hashlib
from workers import Response, WorkerEntrypoint
import workers.asgi

seen = []

async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    while True:
        msg = await receive()
        seen.append((msg["body"], msg["more_body"]))
        if not msg["more_body"]:
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(seen)).encode()})

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("example.com")[1]
        if path == "/ignore":
            return Response("ignored")
        if path == "/json":
            data = await request.json()
            return Response(str(data["n"] * 2))
        if path == "/asgi":
            return await workers.asgi.fetch(asgi_app, request, self.env)
        if path == "/twice":
            first = await request.bytes()
            return Response(f"{len(first)} {len(request.body)}")
        return Response(hashlib.sha256(await request.bytes()).hexdigest())
"""


class RequestBodyTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest({"entry.py": WORKER})
        self.addCleanup(self.g.close)

    def fetch(self, path, chunks, id=7):
        self.g.host.pulled[id] = list(chunks)
        return self.g.invoke(
            {"v": 1, "kind": "fetch", "method": "POST", "url": "https://example.com" + path,
             "headers": [], "cf": {}, "entrypoint": "Default", "stream": True, "body_stream": id}
        )

    def reads(self):
        return [c for c in self.g.host.calls if c[0] == "request.read"]

    def test_a_handler_that_ignores_the_body_never_pulls_it(self):
        h, body = self.fetch("/ignore", [b"x" * 1000] * 3)
        self.assertEqual((h["status"], body), (200, b"ignored"))
        self.assertEqual(self.reads(), [])

    def test_bytes_and_json_pull_every_chunk(self):
        import hashlib

        chunks = [b"a" * 100, b"b" * 50, b"c"]
        h, body = self.fetch("/", chunks)
        self.assertEqual(body.decode(), hashlib.sha256(b"".join(chunks)).hexdigest())
        self.assertEqual(len(self.reads()), 4, "three chunks, then done")
        self.assertTrue(all(c[2] == {"id": 7} for c in self.reads()))
        h, body = self.fetch("/json", [b'{"n"', b": 21}"], id=8)
        self.assertEqual(body, b"42")

    def test_the_body_is_read_once_and_kept(self):
        h, body = self.fetch("/twice", [b"12345"])
        self.assertEqual(body, b"5 5")
        self.assertEqual(len(self.reads()), 2)

    def test_asgi_receives_the_body_chunk_by_chunk(self):
        h, body = self.fetch("/asgi", [b"one", b"two"])
        self.assertEqual(body, b"3")
        import sys

        seen = sys.modules["entry"].seen
        self.assertEqual(seen, [(b"one", True), (b"two", True), (b"", False)])

    def test_a_read_error_raises_in_the_handler(self):
        # No chunks registered for this id: the fake host refuses the read.
        h, body = self.g.invoke(
            {"v": 1, "kind": "fetch", "method": "POST", "url": "https://example.com/",
             "headers": [], "cf": {}, "entrypoint": "Default", "stream": True, "body_stream": 99}
        )
        self.assertFalse(h["ok"])
        self.assertIn("while its request is being handled", h["error"]["message"])


if __name__ == "__main__":
    unittest.main()
