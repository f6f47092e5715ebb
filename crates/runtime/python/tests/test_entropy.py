"""The deploy-time entropy guard and the global-scope I/O ban."""

import json
import unittest

from support import Guest

MSG = (
    "Cannot use {} in the global scope of a Worker: Cloudflare snapshots the global "
    "scope at deploy time. Move this call into a handler."
)

RANDOM_HANDLER = """
import random, secrets, uuid, os
from random import random as imported_random
from workers import WorkerEntrypoint, Response
top = random.getstate()
class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response.json({
            "random": random.random(), "imported": imported_random(),
            "token": secrets.token_hex(4), "uuid": str(uuid.uuid4()),
            "urandom": len(os.urandom(8)), "sys": random.SystemRandom().random() < 1,
            "inst": random.Random().random() < 1,
        })
"""


class EntropyTests(unittest.TestCase):
    def load(self, src, **kw):
        g = Guest(src, **kw)
        self.addCleanup(g.close)
        return g

    def test_each_api_is_refused_at_top_level(self):
        cases = {
            "random.random()": "import random\nrandom.random()",
            "random.randint()": "import random\nrandom.randint(1, 6)",
            "random.choice()": "from random import choice\nchoice([1, 2])",
            "random.seed()": "import random\nrandom.seed()",
            "random.Random()": "import random\nrandom.Random()",
            "random.SystemRandom().random()": "import random\nrandom.SystemRandom().random()",
            "secrets.token_hex()": "import secrets\nsecrets.token_hex(8)",
            "secrets.token_bytes()": "from secrets import token_bytes\ntoken_bytes()",
            "uuid.uuid4()": "import uuid\nuuid.uuid4()",
            "os.urandom()": "import os\nos.urandom(4)",
        }
        for call, src in cases.items():
            with self.subTest(call=call):
                g = Guest(src + "\n", configure=False)
                try:
                    self.assertFalse(g.status["ok"])
                    self.assertEqual(g.status["error"]["type"], "RuntimeError")
                    self.assertEqual(g.status["error"]["message"], MSG.format(call))
                finally:
                    g.close()

    def test_seeded_random_is_allowed_and_poisoned_state_is_fixed(self):
        g = self.load("import random\nr = random.Random(7).random()\nstate = random.getstate()\n")
        self.assertTrue(g.status["ok"], g.status)
        import entry

        state1 = entry.state
        g2 = Guest("import random\nstate = random.getstate()\n")
        try:
            import entry as entry2

            self.assertEqual(state1, entry2.state)
        finally:
            g2.close()

    def test_configure_lifts_guard_and_reseeds(self):
        values = []
        for seed in ("aa" * 16, "bb" * 16, "aa" * 16):
            g = Guest(RANDOM_HANDLER, seed=seed)
            try:
                h, body = g.fetch("/")
                self.assertTrue(h["ok"], h)
                data = json.loads(body)
                self.assertEqual(data["urandom"], 8)
                self.assertTrue(data["sys"] and data["inst"])
                self.assertEqual(len(data["token"]), 8)
                values.append(data["random"])
            finally:
                g.close()
        self.assertNotEqual(values[0], values[1], "different seeds give different streams")
        self.assertEqual(values[0], values[2], "the seed fully determines random's stream")

    def test_allow_listed_package_may_draw_entropy_at_import(self):
        files = {
            "fastapi/__init__.py": "",
            "fastapi/telemetry.py": "import uuid\nSESSION = uuid.uuid4()\n",
            "entry.py": "import fastapi.telemetry\nimport uuid\nfrom workers import WorkerEntrypoint\n",
        }
        g = self.load(files, configure=False)
        self.assertTrue(g.status["ok"], g.status)
        files["entry.py"] += "uuid.uuid4()\n"
        g2 = Guest(files, configure=False)
        try:
            self.assertEqual(g2.status["error"]["message"], MSG.format("uuid.uuid4()"), "the guard is back on after the allowed import")
        finally:
            g2.close()

    def test_top_level_host_io_is_disallowed(self):
        g = self.load(
            """
            import asyncio, workers
            asyncio.run(workers.fetch("https://example.com/"))
            """,
            configure=False,
        )
        self.assertFalse(g.status["ok"])
        self.assertIn("Disallowed operation called within global scope", g.status["error"]["message"])
        self.assertEqual(g.host.calls, [])

    def test_io_allowed_after_configure(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response, fetch
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    r = await fetch("https://api.test/x", method="POST", body="hi", headers={"a": "b"})
                    return Response(await r.text(), status=r.status, headers={"x-m": r.headers.get("x-echo-method"), "x-u": r.url, "x-ok": str(r.ok)})
            """
        )
        h, body = g.fetch("/")
        # The body stayed on the host until read (`fetch.read`), as it streams in production.
        self.assertEqual((h["status"], body), (200, b"echo:hi:end"))
        hd = dict(h["headers"])
        self.assertEqual((hd["x-m"], hd["x-u"], hd["x-ok"]), ("POST", "https://api.test/x", "True"))
        args, sent = g.host.fetches[0]
        self.assertEqual((args["method"], args["url"], args["redirect"], sent), ("POST", "https://api.test/x", "follow", b"hi"))
        self.assertIn(["a", "b"], args["headers"])

    def test_host_error_becomes_js_exception(self):
        g = self.load(
            """
            from workers import WorkerEntrypoint, Response, fetch
            from pyodide.ffi import JsException
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    try:
                        await fetch("https://fail.test/")
                    except JsException as e:
                        return Response("caught: " + str(e))
            """
        )
        self.assertEqual(g.fetch("/")[1], b"caught: fetch failed: 'network unreachable'")


if __name__ == "__main__":
    unittest.main()
