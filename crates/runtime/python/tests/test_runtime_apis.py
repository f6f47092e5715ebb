"""Runtime APIs production gives Python Workers (issue 14): `pyodide.ffi`
(run_sync, jsnull, to_js, proxies), `js` globals (crypto, timers),
`ctx.storage.kv`, sync HTTP clients over the host's fetch, and the guest's
side of HTMLRewriter (the nested `html` events)."""

import hashlib
import json
import re
import unittest

from support import Guest

RUN_SYNC_WORKER = """
from pyodide.ffi import run_sync, can_run_sync
from workers import WorkerEntrypoint, Response
import asyncio

async def _one():
    return 1

try:
    run_sync(_one())
    TOP = "ran"
except RuntimeError as e:
    TOP = str(e)
TOP_CAN = can_run_sync()

class Default(WorkerEntrypoint):
    def lookup(self):
        async def get():
            await asyncio.sleep(0)
            return await self.env.KV.get("k")
        return run_sync(get())

    async def fetch(self, request):
        await self.env.KV.put("k", "v")
        try:
            run_sync(self._fail())
        except ValueError as e:
            err = str(e)
        return Response(f"{TOP}|{TOP_CAN}|{can_run_sync()}|{self.lookup()}|{err}")

    async def _fail(self):
        raise ValueError("boom")
"""


class FfiTests(unittest.TestCase):
    def test_run_sync_blocks_on_a_coroutine_in_a_handler_and_not_at_top_level(self):
        g = Guest(RUN_SYNC_WORKER, env={"KV": {"type": "kv"}})
        self.addCleanup(g.close)
        h, body = g.fetch("/")
        self.assertTrue(h["ok"], h)
        self.assertEqual(body.decode(), "No suspender|False|True|v|boom")

    def test_jsnull_to_js_and_proxies(self):
        g = Guest("x = 1\n")
        self.addCleanup(g.close)
        import js
        from pyodide.ffi import JsMap, JsNull, create_once_callable, jsnull, to_js

        self.assertFalse(jsnull)
        self.assertEqual(repr(jsnull), "jsnull")
        self.assertIs(JsNull(), jsnull)
        self.assertIsNone(jsnull.to_py())
        m = to_js({"a": [1, {"b": 2}]})
        self.assertIsInstance(m, JsMap)
        self.assertEqual((m.get("a").length, m.size, m.has("a")), (2, 1, True))
        self.assertEqual(m.to_py(), {"a": [1, {"b": 2}]})
        obj = to_js({"a": {"b": 1}}, dict_converter=js.Object.fromEntries)
        self.assertEqual(obj.a.b, 1)
        self.assertEqual(to_js(b"xy").to_bytes(), b"xy")
        once = create_once_callable(lambda v: v * 2)
        self.assertEqual(once(2), 4)
        with self.assertRaises(RuntimeError):
            once(2)


class JsGlobalsTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest("x = 1\n")
        self.addCleanup(self.g.close)

    def test_crypto(self):
        import js
        from _pywrangler import loop

        self.assertRegex(js.crypto.randomUUID(), r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        buf = js.Uint8Array.new(32)
        self.assertIs(js.crypto.getRandomValues(buf), buf)
        self.assertNotEqual(bytes(buf), bytes(32))
        digest = loop.run(js.crypto.subtle.digest("SHA-256", b"abc"))
        self.assertEqual(bytes(digest), hashlib.sha256(b"abc").digest())
        digest = loop.run(js.crypto.subtle.digest({"name": "SHA-1"}, js.Uint8Array.new(b"abc")))
        self.assertEqual(bytes(digest), hashlib.sha1(b"abc").digest())

    def test_timers_run_on_the_event_loop(self):
        import asyncio

        import js
        from _pywrangler import loop

        fired = []

        async def main():
            js.setTimeout(lambda: fired.append("a"), 5)
            cancelled = js.setTimeout(lambda: fired.append("never"), 5)
            js.clearTimeout(cancelled)
            ticks = js.setInterval(lambda: fired.append("tick"), 1)
            await asyncio.sleep(0.05)
            js.clearInterval(ticks)
            n = fired.count("tick")
            await asyncio.sleep(0.02)
            return n

        n = loop.run(main())
        self.assertIn("a", fired)
        self.assertNotIn("never", fired)
        self.assertGreaterEqual(n, 2)
        self.assertEqual(fired.count("tick"), n)
        self.assertEqual(js.Date.new("2026-01-02T03:04:05.006Z").toISOString(), "2026-01-02T03:04:05.006Z")


class SyncKvTests(unittest.TestCase):
    def test_get_put_delete_list_share_keys_with_the_async_api(self):
        g = Guest("x = 1\n")
        self.addCleanup(g.close)
        from _pywrangler import bindings, loop
        from pyodide.ffi import JsException

        storage = bindings.DurableObjectStorage("Store", "ab" * 32)
        kv = storage.kv
        kv.put("b", {"n": 2})
        kv.put("a", [1])
        self.assertEqual(kv.get("b"), {"n": 2})
        self.assertIsNone(kv.get("missing"))
        self.assertEqual(loop.run(storage.get("a")), [1])
        loop.run(storage.put("c", "three"))
        self.assertEqual(list(kv.list()), [["a", [1]], ["b", {"n": 2}], ["c", "three"]])
        self.assertEqual((kv.delete("c"), kv.delete("c")), (True, False))
        old = kv.list()
        kv.list()
        with self.assertRaisesRegex(JsException, "invalidated because a new call to kv.list"):
            next(old)
        # kv's ops tell the host they are the synchronous API (which it
        # refuses for key-value backed classes); the async ones do not.
        puts = [args for op, _, args, _ in g.host.calls if op == "do.storage.put"]
        self.assertEqual([bool(a.get("sync")) for a in puts], [True, True, False])


class SyncHttpTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest("x = 1\n")
        self.addCleanup(self.g.close)

    def test_urllib_request_goes_through_the_hosts_fetch_and_streams(self):
        import urllib.request

        req = urllib.request.Request("http://upstream.test:8080/p?q=1", data=b"abc", headers={"X-Test": "1"})
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual((r.status, r.headers["content-type"]), (200, "text/plain"))
            self.assertEqual(r.read(), b"echo:abc:end")
        args, body = self.g.host.fetches[-1]
        self.assertEqual((args["method"], args["url"], args["stream"], body), ("POST", "http://upstream.test:8080/p?q=1", True, b"abc"))
        self.assertEqual(args["timeout_ms"], 5000.0)
        self.assertIn(["X-Test", "1"], args["headers"])
        self.assertFalse(any(k.lower() in ("host", "content-length", "connection") for k, _ in args["headers"]))
        # The body came in with fetch.read, chunk by chunk.
        reads = [c for c in self.g.host.calls if c[0] == "fetch.read"]
        self.assertEqual(len(reads), 4)

    def test_https_without_ssl_and_timeouts(self):
        import http.client

        conn = http.client.HTTPSConnection("secure.test", timeout=2)
        conn.request("GET", "/x")
        r = conn.getresponse()
        self.assertEqual(r.read(), b"echo::end")
        self.assertEqual(self.g.host.fetches[-1][0]["url"], "https://secure.test/x")
        conn = http.client.HTTPConnection("slow.test", timeout=0.5)
        conn.request("GET", "/")
        with self.assertRaises(TimeoutError):
            conn.getresponse()


HTML_WORKER = """
x = 1
"""


class HtmlRewriterEventTests(unittest.TestCase):
    def test_handlers_record_edits_and_a_failure_poisons_the_rest(self):
        g = Guest(HTML_WORKER)
        self.addCleanup(g.close)
        from _pywrangler import htmlrewriter

        ends = []

        class H:
            async def element(self, el):
                el.setAttribute("id", el.getAttribute("class") + "-x")
                el.before("<i>", {"html": True})
                el.append("a<b")
                el.onEndTag(lambda end: (ends.append(end.name), end.after("!")))

            def text(self, t):
                if t.text == "bad":
                    raise ValueError("handler failed")
                t.replace(t.text.upper())

        session = htmlrewriter._Session([("p", H())], [])
        htmlrewriter._sessions[99] = session
        self.addCleanup(htmlrewriter._sessions.pop, 99, None)
        h, _ = g.invoke({"v": 1, "kind": "html", "session": 99, "target": "el", "handler": 0, "type": "element", "tag": "p", "attrs": [["class", "c"]]})
        self.assertTrue(h["ok"], h)
        self.assertEqual(
            h["result"]["ops"],
            [["setAttribute", "id", "c-x"], ["before", "<i>", True], ["append", "a<b", False], ["onEndTag", 0]],
        )
        h, _ = g.invoke({"v": 1, "kind": "html", "session": 99, "target": "end_tag", "handler": 0, "type": "end_tag", "name": "p"})
        self.assertEqual((h["result"]["ops"], ends), ([["after", "!", False]], ["p"]))
        h, _ = g.invoke({"v": 1, "kind": "html", "session": 99, "target": "el", "handler": 0, "type": "text", "text": "hi", "last": True})
        self.assertEqual(h["result"]["ops"], [["replace", "HI", False]])
        h, _ = g.invoke({"v": 1, "kind": "html", "session": 99, "target": "el", "handler": 0, "type": "text", "text": "bad", "last": True})
        self.assertFalse(h["ok"])
        self.assertIsInstance(session.error, ValueError)
        h, _ = g.invoke({"v": 1, "kind": "html", "session": 99, "target": "el", "handler": 0, "type": "text", "text": "hi", "last": True})
        self.assertEqual(h["result"]["ops"], [])

    def test_transform_sends_the_handlers_and_keeps_the_response(self):
        g = Guest(HTML_WORKER)
        self.addCleanup(g.close)
        import js
        import workers
        from pyodide.ffi import create_proxy

        class OnlyElement:
            def element(self, el):
                pass

        resp = workers.Response("<p>x</p>", status=201, headers={"content-type": "text/html; charset=windows-1252", "content-length": "8"})
        out = js.HTMLRewriter.new().on("p", create_proxy(OnlyElement())).onDocument({"end": lambda e: None}).transform(resp)
        self.assertEqual((out.status, out.headers.get("content-length")), (201, None))
        # Nothing runs until the body is read; then a session is fed chunk by chunk.
        self.assertFalse(any(c[0].startswith("html.") for c in g.host.calls))
        from _pywrangler import loop

        self.assertEqual(loop.run(out.text()), "<P>X</P><!--end-->")
        ops = [c for c in g.host.calls if c[0].startswith("html.")]
        self.assertEqual([c[0] for c in ops], ["html.start", "html.write", "html.end"])
        self.assertEqual(ops[1][2:], ({"id": 7}, b"<p>x</p>"))
        op, _, args, body = ops[0]
        self.assertEqual(args["encoding"], "windows-1252")
        self.assertEqual(args["elements"], [{"selector": "p", "element": True, "comments": False, "text": False}])
        self.assertEqual(args["document"], [{"doctype": False, "comments": False, "text": False, "end": True}])
        with self.assertRaisesRegex(TypeError, "cannot transform an error response"):
            js.HTMLRewriter.new().transform(workers.Response.error())


if __name__ == "__main__":
    unittest.main()
