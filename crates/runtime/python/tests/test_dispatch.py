"""pw_invoke dispatch: fetch round trips, errors, entrypoint discovery,
legacy handlers, scheduled/queue events, the envelope codec."""

import json
import unittest

from support import Guest, dec, enc, header_values

HELLO = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("Hello " + request.url)
"""


class GuestCase(unittest.TestCase):
    def load(self, src, **kw):
        g = Guest(src, **kw)
        self.addCleanup(g.close)
        return g


class FetchTests(GuestCase):
    def test_hello_round_trip(self):
        g = self.load(HELLO)
        self.assertTrue(g.status["ok"], g.status)
        self.assertEqual(g.status["entrypoints"]["default"], "class")
        self.assertIsInstance(g.status["startup_ms"], float)
        self.assertEqual(g.configure_reply[0], {"v": 1, "ok": True, "result": None})
        h, body = g.fetch("/hi?x=1")
        self.assertEqual(h["v"], 1)
        self.assertTrue(h["ok"], h)
        self.assertEqual(h["status"], 200)
        self.assertEqual(body, b"Hello https://example.com/hi?x=1")
        self.assertEqual(header_values(h["headers"], "content-type"), ["text/plain;charset=UTF-8"])

    def test_json_request_and_response(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    data = await request.json()
                    if request.url.endswith("/static"):
                        return Response.json({"got": data, "method": request.method}, status=201)
                    return Response.from_json([data["n"] * 2], headers={"x-a": "1"})
            """
        )
        h, body = g.fetch("/static", "POST", [("content-type", "application/json")], b'{"n": 21}')
        self.assertEqual(h["status"], 201)
        self.assertEqual(json.loads(body), {"got": {"n": 21}, "method": "POST"})
        self.assertEqual(header_values(h["headers"], "content-type"), ["application/json"])
        h, body = g.fetch("/other", "POST", [], b'{"n": 21}')
        self.assertEqual(json.loads(body), [42])
        self.assertEqual(header_values(h["headers"], "x-a"), ["1"])

    def test_binary_body(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    data = await request.bytes()
                    return Response(bytes(reversed(data)), headers=[("content-type", "application/octet-stream")])
            """
        )
        payload = bytes(range(256)) * 4
        h, body = g.fetch("/", "PUT", [], payload)
        self.assertEqual(body, bytes(reversed(payload)))
        self.assertEqual(header_values(h["headers"], "content-type"), ["application/octet-stream"])

    def test_repeated_headers(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response, Headers
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    h = Headers()
                    h.append("set-cookie", "a=1")
                    h.append("set-cookie", "b=2")
                    h.append("x-got", request.headers.get("x-multi"))
                    h.append("x-all", "|".join(request.headers.get_all("x-multi")))
                    h.append("x-cookies", str(len(request.headers.get_all("set-cookie"))))
                    h.append("x-ct", request.headers["Content-Type"])
                    return Response("ok", headers=h)
            """
        )
        h, _ = g.fetch("/", headers=[("X-Multi", "1"), ("x-multi", "2"), ("Set-Cookie", "c=1"), ("set-cookie", "d=2"), ("content-type", "text/x")])
        self.assertEqual(header_values(h["headers"], "set-cookie"), ["a=1", "b=2"])
        # Production (python_request_headers_preserve_commas) joins repeats.
        self.assertEqual(header_values(h["headers"], "x-got"), ["1, 2"])
        self.assertEqual(header_values(h["headers"], "x-all"), ["1, 2"])
        self.assertEqual(header_values(h["headers"], "x-cookies"), ["2"])
        self.assertEqual(header_values(h["headers"], "x-ct"), ["text/x"])

    def test_request_api(self):
        g = self.load(
            """
            import http
            from workers import WorkerEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request, env, ctx):
                    clone = request.clone()
                    form = await request.form_data()
                    return Response.json({
                        "method_is_enum": request.method == http.HTTPMethod.POST,
                        "cf": request.cf.country,
                        "a": form.get("a"), "b": form.get_all("b"),
                        "clone": await clone.text(),
                        "env_is_self_env": env is self.env, "ctx_is_self_ctx": ctx is self.ctx,
                    })
            """
        )
        h, body = g.fetch("/", "POST", [("content-type", "application/x-www-form-urlencoded")], b"a=1&b=2&b=3", cf={"country": "PT"})
        self.assertTrue(h["ok"], h)
        self.assertEqual(
            json.loads(body),
            {"method_is_enum": True, "cf": "PT", "a": "1", "b": ["2", "3"], "clone": "a=1&b=2&b=3", "env_is_self_env": True, "ctx_is_self_ctx": True},
        )

    def test_redirect_and_statuses(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    if "r" in request.url:
                        return Response.redirect("https://x.test/", 301)
                    return Response(None, status=204)
            """
        )
        h, body = g.fetch("/r")
        self.assertEqual((h["status"], header_values(h["headers"], "location")), (301, ["https://x.test/"]))
        h, body = g.fetch("/n")
        self.assertEqual((h["status"], body), (204, b""))

    def test_exception_envelope_has_traceback(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint

            def helper():
                raise ValueError("boom 42")

            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    helper()
            """
        )
        h, body = g.fetch("/")
        self.assertFalse(h["ok"])
        err = h["error"]
        self.assertEqual(err["type"], "ValueError")
        self.assertEqual(err["message"], "boom 42")
        self.assertIn("Traceback (most recent call last)", err["traceback"])
        self.assertIn("entry.py", err["traceback"])
        self.assertIn("in helper", err["traceback"])
        self.assertIn("ValueError: boom 42", err["traceback"])
        first_frame = err["traceback"].splitlines()[1]
        self.assertIn("entry.py", first_frame, "runtime frames are trimmed from the top")
        # The instance keeps working after an error.
        h, _ = g.fetch("/")
        self.assertEqual(h["error"]["message"], "boom 42")

    def test_non_response_return_is_an_error(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    return "not a response"
            """
        )
        h, _ = g.fetch("/")
        self.assertFalse(h["ok"])
        self.assertIn("returned str, expected a workers.Response", h["error"]["message"])

    def test_import_error_is_reported_by_status_and_invoke(self):
        g = self.load("import nonexistent_pkg_xyz\n", configure=False)
        self.assertFalse(g.status["ok"])
        self.assertEqual(g.status["error"]["type"], "ModuleNotFoundError")
        self.assertIn("nonexistent_pkg_xyz", g.status["error"]["traceback"])
        h, _ = g.configure({}, "00")
        self.assertFalse(h["ok"])
        self.assertEqual(h["error"]["type"], "ModuleNotFoundError")

    def test_named_entrypoints_and_status(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, DurableObject, WorkflowEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    return Response("default")
            class Admin(WorkerEntrypoint):
                async def fetch(self, request):
                    return Response("admin")
                async def add(self, a, b):
                    return {"sum": a + b}
            class Counter(DurableObject):
                pass
            class Flow(WorkflowEntrypoint):
                async def run(self, event, step):
                    pass
            """
        )
        self.assertEqual(g.status["entrypoints"], {"default": "class", "named": ["Admin"], "durable_objects": ["Counter"], "workflows": ["Flow"]})
        self.assertEqual(g.fetch("/", entrypoint="Admin")[1], b"admin")
        h, _ = g.invoke({"v": 1, "kind": "rpc", "class": "Admin", "id": None, "method": "add", "args": [2, 3]})
        self.assertEqual(h, {"v": 1, "ok": True, "result": {"sum": 5}})
        h, _ = g.invoke({"v": 1, "kind": "rpc", "class": "Admin", "id": None, "method": "_private", "args": []})
        self.assertFalse(h["ok"])
        h, _ = g.fetch("/", entrypoint="Nope")
        self.assertIn("no WorkerEntrypoint named 'Nope'", h["error"]["message"])


class LegacyTests(GuestCase):
    def test_legacy_on_fetch_relaxed(self):
        g = self.load(
            """
            from js import Response
            async def on_fetch(request):
                return Response.new("legacy " + request.method, headers={"x-l": "1"})
            """
        )
        self.assertEqual(g.status["entrypoints"]["default"], "legacy")
        h, body = g.fetch("/", "DELETE")
        self.assertEqual((h["status"], body), (200, b"legacy DELETE"))

    def test_legacy_three_args_and_handler_decorator(self):
        g = self.load(
            """
            from workers import Response, handler
            @handler
            async def on_fetch(request, env, ctx):
                return Response(env.GREETING + " " + request.headers.get("x-n"))
            """,
            env={"GREETING": {"type": "var", "value": "hi"}},
        )
        self.assertEqual(g.fetch("/", headers=[("x-n", "bob")])[1], b"hi bob")

    def test_both_entrypoints_is_an_error(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    return Response("x")
            async def on_fetch(request):
                return Response("y")
            """,
            configure=False,
        )
        self.assertFalse(g.status["ok"])
        self.assertIn("Cannot define multiple default entrypoints", g.status["error"]["message"])
        h, _ = g.fetch("/")
        self.assertIn("Cannot define multiple default entrypoints", h["error"]["message"])

    def test_default_must_subclass_worker_entrypoint(self):
        g = self.load("class Default:\n    async def fetch(self, request):\n        pass\n")
        self.assertIsNone(g.status["entrypoints"]["default"])
        h, _ = g.fetch("/")
        self.assertIn("must subclass workers.WorkerEntrypoint", h["error"]["message"])

    def test_no_handler(self):
        g = self.load("x = 1\n")
        self.assertTrue(g.status["ok"])
        self.assertIsNone(g.status["entrypoints"]["default"])
        h, _ = g.fetch("/")
        self.assertIn("no default entrypoint", h["error"]["message"])


class EventTests(GuestCase):
    def test_scheduled_gets_exact_args(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint
            seen = []
            class Default(WorkerEntrypoint):
                async def scheduled(self, controller, env, ctx):
                    seen.append((controller.cron, controller.scheduledTime, controller.type, env is self.env, ctx is self.ctx))
                    controller.noRetry()
            """
        )
        h, _ = g.invoke({"v": 1, "kind": "scheduled", "cron": "*/5 * * * *", "scheduled_time": 1700000000000})
        self.assertEqual(h, {"v": 1, "ok": True, "result": {"no_retry": True}})
        import entry

        self.assertEqual(entry.seen, [("*/5 * * * *", 1700000000000.0, "scheduled", True, True)])

    def test_queue_ack_retry(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint
            class Default(WorkerEntrypoint):
                async def queue(self, batch, env, ctx):
                    for m in batch.messages:
                        if m.body["n"] == 2:
                            m.retry(delaySeconds=5)
                        elif m.body["n"] == 1:
                            m.ack()
                    assert batch.queue == "jobs"
                    assert batch.messages[0].attempts == 3
                    assert batch.messages[0].timestamp.year == 2023
            """
        )
        msgs = [{"id": f"m{i}", "timestamp": 1700000000000, "body": {"n": i}, "attempts": 3} for i in (1, 2, 3)]
        h, _ = g.invoke({"v": 1, "kind": "queue", "queue": "jobs", "messages": msgs})
        self.assertTrue(h["ok"], h)
        self.assertEqual(h["result"], {"acks": ["m1", "m3"], "retries": ["m2"], "retry_delays": {"m2": 5}})

    def test_queue_retry_all_and_legacy(self):
        g = self.load(
            """
            async def on_queue(batch, env):
                batch.messages[0].ack()
                batch.retryAll()
            """
        )
        msgs = [{"id": "a", "timestamp": 1, "body": "x", "attempts": 1}, {"id": "b", "timestamp": 1, "body": "y", "attempts": 1}]
        h, _ = g.invoke({"v": 1, "kind": "queue", "queue": "q", "messages": msgs})
        self.assertEqual(h["result"]["acks"], ["a"])
        self.assertEqual(h["result"]["retries"], ["b"])

    def test_wait_until_runs_before_the_event_ends(self):
        g = self.load(
            """
            import asyncio
            from workers import WorkerEntrypoint, Response
            import workers
            done = []
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    async def later(tag):
                        await asyncio.sleep(0.01)
                        done.append(tag)
                    self.ctx.waitUntil(later("ctx"))
                    workers.wait_until(later("module"))
                    return Response("now")
            """
        )
        h, body = g.fetch("/")
        self.assertEqual(body, b"now")
        import entry

        self.assertEqual(sorted(entry.done), ["ctx", "module"])


class EnvelopeTests(GuestCase):
    def test_bad_envelopes(self):
        g = self.load(HELLO)
        h, _ = dec(g.pw.invoke(b"\x01"))
        self.assertFalse(h["ok"])
        self.assertIn("too short", h["error"]["message"])
        h, _ = dec(g.pw.invoke(enc({"v": 2, "kind": "fetch"})))
        self.assertIn("unsupported envelope version", h["error"]["message"])
        h, _ = g.invoke({"v": 1, "kind": "party"})
        self.assertIn("unknown event kind", h["error"]["message"])

    def test_event_before_configure(self):
        g = self.load(HELLO, configure=False)
        h, _ = g.fetch("/")
        self.assertFalse(h["ok"])
        self.assertIn("before configure", h["error"]["message"])

    def test_codec_round_trip(self):
        self.load(HELLO)
        from _pywrangler import envelope

        data = envelope.encode({"kind": "x", "s": "ü"}, b"\x00\xff")
        self.assertEqual(dec(data), ({"v": 1, "kind": "x", "s": "ü"}, b"\x00\xff"))
        self.assertEqual(envelope.decode(enc({"v": 1, "a": [1]}, b"zz")), ({"v": 1, "a": [1]}, b"zz"))


if __name__ == "__main__":
    unittest.main()
