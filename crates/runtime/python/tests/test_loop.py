"""The socket-free event loop: timers, tasks, gather, wait_for."""

import json
import unittest

from support import Guest

ASYNC_WORKER = """
import asyncio, time
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        out = {}
        t = time.monotonic()
        await asyncio.sleep(0.01)
        out["slept"] = time.monotonic() - t

        async def work(n, d):
            await asyncio.sleep(d)
            return n * 10
        t = time.monotonic()
        out["gather"] = await asyncio.gather(work(1, 0.03), work(2, 0.03), work(3, 0.03))
        out["gather_s"] = time.monotonic() - t

        task = asyncio.create_task(work(4, 0))
        out["task"] = await task
        try:
            await asyncio.wait_for(asyncio.sleep(5), timeout=0.02)
            out["wait_for"] = "no timeout"
        except asyncio.TimeoutError:
            out["wait_for"] = "timeout"
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, "later")
        loop.call_soon(lambda: out.setdefault("soon", True))
        out["later"] = await fut
        out["executor"] = await loop.run_in_executor(None, sum, [1, 2])
        ev = asyncio.Event()
        loop.call_later(0.005, ev.set)
        await ev.wait()
        out["event"] = ev.is_set()
        return Response.json(out)
"""


class LoopTests(unittest.TestCase):
    def test_timers_tasks_gather(self):
        g = Guest(ASYNC_WORKER)
        self.addCleanup(g.close)
        h, body = g.fetch("/")
        self.assertTrue(h["ok"], h)
        out = json.loads(body)
        self.assertGreaterEqual(out["slept"], 0.009)
        self.assertEqual(out["gather"], [10, 20, 30])
        self.assertLess(out["gather_s"], 0.085, "gathered sleeps overlap")
        self.assertEqual(out["task"], 40)
        self.assertEqual(out["wait_for"], "timeout")
        self.assertEqual(out["later"], "later")
        self.assertTrue(out["soon"])
        self.assertEqual(out["executor"], 3)
        self.assertTrue(out["event"])
        # The loop is reused across events.
        h, _ = g.fetch("/")
        self.assertTrue(h["ok"], h)

    def test_awaiting_forever_is_reported(self):
        g = Guest(
            """
            import asyncio
            from workers import WorkerEntrypoint
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    await asyncio.get_running_loop().create_future()
            """
        )
        self.addCleanup(g.close)
        h, _ = g.fetch("/")
        self.assertFalse(h["ok"])
        self.assertEqual(h["error"]["type"], "IdleLoopError")
        self.assertIn("can never complete", h["error"]["message"])
        # The next event still works on a clean loop state.
        h, _ = g.fetch("/")
        self.assertEqual(h["error"]["type"], "IdleLoopError")

    def test_uncaught_task_error_does_not_leak_into_next_request(self):
        g = Guest(
            """
            import asyncio
            from workers import WorkerEntrypoint, Response
            n = 0
            class Default(WorkerEntrypoint):
                async def fetch(self, request):
                    global n
                    n += 1
                    if n == 1:
                        raise KeyError("first")
                    return Response(str(n))
            """
        )
        self.addCleanup(g.close)
        self.assertEqual(g.fetch("/")[0]["error"]["type"], "KeyError")
        self.assertEqual(g.fetch("/")[1], b"2")


if __name__ == "__main__":
    unittest.main()
