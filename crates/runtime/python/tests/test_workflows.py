"""The `workflow` event and `step` (`_pywrangler/workflows.py`) against an
in-memory version of the host's `workflow.*` ops: replay of stored steps,
retries with their delays, sleeps, the SDK's step signatures."""

import unittest

from support import Guest

WORKFLOW = """
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

RAN = []

class Flow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("one")
        async def one():
            RAN.append("one")
            return {"n": event.payload["n"]}

        @step.do(config={"retries": {"limit": 1, "delay": "2 seconds", "backoff": "linear"}})
        async def two(one, ctx):
            RAN.append(("two", ctx["attempt"]))
            if ctx["attempt"] == 1:
                raise ValueError("flaky")
            return one["n"] + 1

        got = await two()
        await step.sleep("nap", "1 minute")
        last = await step.do("last", lambda: "cb")
        return [got, last, event.instanceId, event.timestamp.year]

class Fatal(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("stop")
        def stop():
            RAN.append("stop")
            raise NonRetryableError("no more")
        try:
            await stop()
        except NonRetryableError as e:
            return "caught " + str(e)

class Legacy(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            return 1

        @step.do("b", depends=[a])
        async def b(x):
            return x + 1

        return await b()
"""


class Engine:
    """The host's step store, in memory, with a movable clock."""

    def __init__(self):
        self.now = 1_000_000
        self.steps = {}

    def install(self, host):
        host.op_workflow_step_get = self.get
        host.op_workflow_step_put = self.put
        host.op_workflow_step_fail = self.fail
        host.op_workflow_sleep = self.sleep

    def get(self, b, a, body):
        s = self.steps.get(a["key"])
        if s is None:
            return {"status": "pending", "attempts": 0, "retry_at": None, "now": self.now}, b""
        if s["state"] in ("done", "failed"):
            return {"status": s["state"], "value": s.get("value"), "error": s.get("error")}, b""
        return {"status": "pending", "attempts": s["attempts"], "retry_at": s["until"], "now": self.now}, b""

    def put(self, b, a, body):
        self.steps[a["key"]] = {"state": "done", "value": a["value"]}
        return None, b""

    def fail(self, b, a, body):
        if a["delay_ms"] is None:
            self.steps[a["key"]] = {"state": "failed", "error": a["error"]}
            return {"retry_at": None}, b""
        until = self.now + a["delay_ms"]
        self.steps[a["key"]] = {"state": "retrying", "attempts": a["attempts"], "until": until}
        return {"retry_at": until}, b""

    def sleep(self, b, a, body):
        s = self.steps.setdefault(a["key"], {"state": "sleeping", "until": self.now + a["ms"]})
        done = s["until"] <= self.now
        return {"done": done, "until": s["until"]}, b""


class WorkflowEventTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest(WORKFLOW)
        self.addCleanup(self.g.close)
        self.engine = Engine()
        self.engine.install(self.g.host)

    def run_once(self, cls, implicit=True):
        h, _ = self.g.invoke(
            {"v": 1, "kind": "workflow", "class": cls, "workflow": "wf", "instance_id": "i-1",
             "payload": {"n": 41}, "timestamp": 1_767_225_600_000, "implicit_dependencies": implicit}
        )
        self.assertTrue(h["ok"], h)
        return h["result"]

    def ran(self):
        import entry

        return entry.RAN

    def test_replays_stored_steps_through_a_retry_and_a_sleep(self):
        self.assertEqual(self.g.status["entrypoints"]["workflows"], ["Fatal", "Flow", "Legacy"])
        r = self.run_once("Flow")
        self.assertEqual(r, {"state": "suspended", "until": 1_002_000, "sleeping": False})
        self.engine.now = 1_002_000
        r = self.run_once("Flow")
        self.assertEqual(r, {"state": "suspended", "until": 1_062_000, "sleeping": True})
        self.engine.now = 1_062_000
        r = self.run_once("Flow")
        self.assertEqual(r, {"state": "complete", "output": [42, "cb", "i-1", 2026]})
        # `one` ran once although run() ran three times; `two` failed then passed.
        self.assertEqual(self.ran(), ["one", ("two", 1), ("two", 2)])

    def test_a_non_retryable_error_is_final_and_reaches_run(self):
        self.assertEqual(self.run_once("Fatal"), {"state": "complete", "output": "caught no more"})
        self.assertEqual(self.ran(), ["stop"])
        self.assertEqual(self.run_once("Fatal"), {"state": "complete", "output": "caught no more"})
        self.assertEqual(self.ran(), ["stop"], "a stored failure is replayed, not re-run")

    def test_legacy_depends_and_unknown_class(self):
        self.assertEqual(self.run_once("Legacy", implicit=False), {"state": "complete", "output": 2})
        h, _ = self.g.invoke({"v": 1, "kind": "workflow", "class": "Nope", "instance_id": "x"})
        self.assertFalse(h["ok"])
        self.assertIn("no WorkflowEntrypoint class named 'Nope'", h["error"]["message"])

    def test_durations(self):
        from _pywrangler.workflows import duration_ms

        self.assertEqual(duration_ms("1 second"), 1000)
        self.assertEqual(duration_ms("10 minutes"), 600_000)
        self.assertEqual(duration_ms("2.5 hours"), 9_000_000)
        self.assertEqual(duration_ms("10 millis"), 10)
        self.assertEqual(duration_ms(250), 250)
        with self.assertRaises(TypeError):
            duration_ms("soon")


if __name__ == "__main__":
    unittest.main()
