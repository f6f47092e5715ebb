"""Workflows in the local runtime: the `env.MY_WORKFLOW` binding
(`create`/`get`/`create_batch`, instance `status`/`pause`/...), and the
`workflow` event that runs a `WorkflowEntrypoint.run(event, step)`.

The host keeps every finished step (docs/runtime-abi.md, `workflow.*` ops).
A run that reaches a sleep or a retry delay stops with `_Suspend`; the host
replays `run()` from the top when its time comes, and finished steps return
their stored results without running again, as on Cloudflare."""

import asyncio
import datetime
import inspect
import re
import sys
import traceback

from . import host, state
from .jsobj import JsDict, JsException, from_json, to_json

DEFAULT_CONFIG = {"retries": {"limit": 5, "delay": 1000, "backoff": "exponential"}, "timeout": "10 minutes"}

_UNITS = [
    ("ms", 1),
    ("milli", 1),
    ("mo", 2_592_000_000),
    ("s", 1000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 604_800_000),
    ("y", 31_557_600_000),
]
_DURATION = re.compile(r"^\s*(-?\d*\.?\d+)\s*([a-zA-Z]*)\s*$")


def duration_ms(value, what="duration"):
    """Milliseconds from a number (ms), a `timedelta` or a string like
    "1 second", "10 minutes", "2.5 hours" (itty-time's `ms()` format)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number of milliseconds or a string like '10 seconds'")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            n = float(m.group(1))
            unit = m.group(2).lower()
            if not unit:
                return int(n)
            for prefix, factor in _UNITS:
                if unit.startswith(prefix):
                    return int(n * factor)
    raise TypeError(f"{what} {value!r} is not a duration (use milliseconds or a string like '10 seconds')")


def _epoch_ms(when):
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        return int(when.timestamp() * 1000)
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return int(when)
    if isinstance(when, str):
        text = when.strip().replace("Z", "+00:00")
        return _epoch_ms(datetime.datetime.fromisoformat(text))
    raise TypeError(f"sleep_until needs a datetime, an ISO-8601 string or epoch milliseconds, got {type(when).__name__}")


# ------------------------------------------------------------------ binding


class Workflow:
    """`env.MY_WORKFLOW`: create and look up instances."""

    def __init__(self, binding, name):
        self._binding = binding
        self._name = name

    def _call(self, op, args):
        value, _ = host.call(f"workflow.{op}", args, binding=self._binding)
        return value

    @staticmethod
    def _options(options, kwargs):
        o = dict(options) if isinstance(options, dict) else {}
        if options is not None and not isinstance(options, dict):
            raise TypeError("create() takes an options dict: create({'id': ..., 'params': ...}) or create(id=..., params=...)")
        o.update(kwargs)
        args = {}
        if o.get("id") is not None:
            args["id"] = str(o["id"])
        if "params" in o:
            args["params"] = to_json(o["params"])
        return args

    async def create(self, options=None, **kwargs):
        value = self._call("create", self._options(options, kwargs))
        return WorkflowInstance(self, value["id"])

    async def create_batch(self, batch):
        items = [self._options(o, {}) for o in batch]
        value = self._call("createBatch", {"instances": items})
        return [WorkflowInstance(self, v["id"]) for v in value]

    createBatch = create_batch

    async def get(self, id):
        value = self._call("get", {"id": str(id)})
        return WorkflowInstance(self, value["id"])

    def __repr__(self):
        return f"<Workflow {self._name}>"


class WorkflowInstance:
    """One instance: `.id`, `await .status()`, `.pause()`, `.resume()`,
    `.terminate()`, `.restart()`."""

    def __init__(self, workflow, id):
        self._workflow = workflow
        self.id = id

    async def status(self):
        return from_json(self._workflow._call("status", {"id": self.id}))

    async def pause(self):
        self._workflow._call("pause", {"id": self.id})

    async def resume(self):
        self._workflow._call("resume", {"id": self.id})

    async def terminate(self):
        self._workflow._call("terminate", {"id": self.id})

    async def restart(self):
        self._workflow._call("restart", {"id": self.id})

    async def send_event(self, options=None, /, *, type=None, payload=None):
        """Queue an event for `step.wait_for_event(..., type)`: a waiting
        instance resumes; one not waiting yet gets it when it gets there."""
        if isinstance(options, dict):
            type = options.get("type", type)
            payload = options.get("payload", payload)
        elif options is not None:
            raise TypeError("send_event() takes type=... and payload=... (or a {'type', 'payload'} dict)")
        if not isinstance(type, str) or not type:
            raise TypeError("send_event() needs an event `type` (a non-empty str)")
        self._workflow._call("sendEvent", {"id": self.id, "type": type, "payload": to_json(payload)})

    sendEvent = send_event

    def __repr__(self):
        return f"<WorkflowInstance {self.id}>"


# ------------------------------------------------------------------ engine side


class _Suspend(BaseException):
    """Stops `run()` until `until` (ms): a sleep or a retry delay. A
    BaseException, so `except Exception` in the Workflow does not catch it.
    `until=None`: the instance was paused or terminated."""

    def __init__(self, until, sleeping=False):
        super().__init__(until)
        self.until = until
        self.sleeping = sleeping


_CTX = object()  # stands for the `ctx` parameter of a step function


def _error(exc):
    if isinstance(exc, JsException):
        return {"name": exc.name, "message": exc.message}
    return {"name": type(exc).__name__, "message": str(exc)}


def _raise_stored(error):
    from workers.workflows import NonRetryableError

    error = error or {}
    name, message = error.get("name") or "Error", error.get("message") or ""
    if name == "NonRetryableError":
        raise NonRetryableError(message)
    if name == "TypeError":
        raise TypeError(message)
    if name == "ValueError":
        raise ValueError(message)
    raise JsException(message, name)


def _check_config(name, config):
    bad = f'Step config for "{name}" is in a invalid format. See https://developers.cloudflare.com/workflows/build/sleeping-and-retrying/'
    if config is None:
        return {"retries": dict(DEFAULT_CONFIG["retries"]), "timeout": DEFAULT_CONFIG["timeout"]}
    if not isinstance(config, dict) or set(config) - {"retries", "timeout"}:
        raise TypeError(bad)
    retries = dict(DEFAULT_CONFIG["retries"])
    given = config.get("retries")
    if given is not None:
        if not isinstance(given, dict) or set(given) - {"limit", "delay", "backoff"}:
            raise TypeError(bad)
        retries.update(given)
    limit = retries["limit"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise TypeError(bad)
    if retries["backoff"] not in ("constant", "linear", "exponential"):
        raise TypeError(bad)
    try:
        duration_ms(retries["delay"])
        duration_ms(config.get("timeout", DEFAULT_CONFIG["timeout"]))
    except TypeError:
        raise TypeError(bad) from None
    return {"retries": retries, "timeout": config.get("timeout", DEFAULT_CONFIG["timeout"])}


def _retry_delay(retries, attempt):
    d = duration_ms(retries["delay"])
    if retries["backoff"] == "constant":
        return d
    if retries["backoff"] == "linear":
        return d * attempt
    return d * 2 ** (attempt - 1)


def _step_value(result):
    if isinstance(result, (tuple, bytearray)):
        raise TypeError(f"{type(result)} cannot be sent over RPC.")
    if isinstance(result, datetime.datetime):
        return _epoch_ms(result)
    return to_json(result)


class WorkflowStep:
    """The `step` of `run(event, step)`: `do`, `sleep`, `sleep_until`."""

    def __init__(self, workflow, instance_id, implicit):
        self._workflow = workflow
        self._instance = instance_id
        self._counts = {}
        self._memo = {}
        self._in_flight = {}
        self._closures = {}
        self.do = self._do_implicit if implicit else self._do_legacy

    def _op(self, op, args):
        args = dict(args, workflow=self._workflow, instance=self._instance)
        value, _ = host.call(f"workflow.{op}", args)
        return value or {}

    def _key(self, name):
        if not isinstance(name, str):
            raise TypeError(f"a step name must be a str, got {type(name).__name__}")
        import hashlib

        count = self._counts.get(name, 0) + 1
        self._counts[name] = count
        return f"{hashlib.sha1(name.encode('utf-8')).hexdigest()}-{count}", count

    # -- step.do

    def _do_legacy(self, name, depends=None, concurrent=False, config=None):
        if callable(depends):
            # step.do(name, callback): run it now (the JS API's form).
            return self._decorator(name, None, concurrent, config, False)(depends)()
        return self._decorator(name, depends, concurrent, config, False)

    def _do_implicit(self, name=None, callback=None, *, concurrent=False, config=None):
        if callable(name):
            # @step.do without parentheses.
            return self._decorator(None, None, concurrent, config, True)(name)
        if callback is not None:
            return self._decorator(name, None, concurrent, config, True)(callback)()
        return self._decorator(name, None, concurrent, config, True)

    def _decorator(self, name, depends, concurrent, config, implicit):
        def decorator(func):
            step_name = func.__name__ if name is None else name

            async def wrapper():
                deps = self._dependencies(func, depends, implicit)
                if concurrent:
                    results = await asyncio.gather(*[self._resolve(d) for d in deps])
                else:
                    results = [await self._resolve(d) for d in deps]
                task = asyncio.ensure_future(self._run_step(step_name, config, func, results))
                self._in_flight[wrapper] = task
                try:
                    result = await task
                    self._memo[wrapper] = result
                finally:
                    self._in_flight.pop(wrapper, None)
                return result

            wrapper._step_name = step_name
            self._closures[step_name] = wrapper
            return wrapper

        return decorator

    def _dependencies(self, func, depends, implicit):
        params = list(inspect.signature(func).parameters.values())
        if implicit:
            out = []
            for p in params:
                if p.name in self._closures:
                    out.append(self._closures[p.name])
                elif p.name == "ctx":
                    out.append(_CTX)
                else:
                    raise TypeError(f"Received unexpected parameter {p.name}")
            return out
        non_ctx = [p for p in params if p.name != "ctx"]
        if depends is None and non_ctx:
            raise TypeError(f"Step has {len(non_ctx)} non-ctx parameter(s) but no 'depends' list provided")
        if depends is not None and len(depends) != len(non_ctx):
            raise TypeError(
                f"Step declares {len(non_ctx)} non-ctx parameter(s) but 'depends' has {len(depends)} item(s)"
            )
        out, i = [], 0
        for p in params:
            if p.name == "ctx":
                out.append(_CTX)
            else:
                dep = depends[i]
                if not hasattr(dep, "_step_name"):
                    raise TypeError(f"'depends' entry for parameter {p.name!r} is not a function decorated with step.do")
                out.append(dep)
                i += 1
        return out

    async def _resolve(self, dep):
        if dep is _CTX:
            return _CTX
        if dep in self._memo:
            return self._memo[dep]
        if dep in self._in_flight:
            return await self._in_flight[dep]
        return await dep()

    async def _run_step(self, name, config, func, results):
        key, count = self._key(name)
        cfg = _check_config(name, config)
        st = self._op("step.get", {"key": key, "name": name})
        status = st.get("status")
        if status == "aborted":
            raise _Suspend(None)
        if status == "done":
            return from_json(st.get("value"))
        if status == "failed":
            _raise_stored(st.get("error"))
        retry_at = st.get("retry_at")
        if retry_at is not None and retry_at > st.get("now", 0):
            raise _Suspend(retry_at)
        attempt = int(st.get("attempts") or 0) + 1
        ctx = JsDict(step=JsDict(name=name, count=count), attempt=attempt, config=from_json(cfg))
        args = [ctx if r is _CTX else r for r in results]
        timeout_ms = duration_ms(cfg["timeout"])
        try:
            try:
                result = func(*args)
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(result, timeout_ms / 1000)
            except asyncio.TimeoutError:
                raise JsException(f"Execution timed out after {timeout_ms}ms", "WorkflowTimeoutError") from None
            value = _step_value(result)
        except _Suspend:
            raise
        except Exception as e:  # noqa: BLE001 - recorded, then retried or re-raised
            from workers.workflows import NonRetryableError

            limit = cfg["retries"]["limit"]
            final = isinstance(e, NonRetryableError) or attempt > limit
            err = _error(e)
            print(
                f"step {name!r} attempt {attempt} failed: {err['name']}: {err['message']}"
                + ("" if final else " (will retry)"),
                file=sys.stderr,
            )
            fail = {"key": key, "name": name, "attempts": attempt, "error": err}
            if final:
                self._op("step.fail", dict(fail, delay_ms=None))
                raise
            r = self._op("step.fail", dict(fail, delay_ms=_retry_delay(cfg["retries"], attempt)))
            raise _Suspend(r.get("retry_at")) from None
        self._op("step.put", {"key": key, "name": name, "attempts": attempt, "value": value})
        return from_json(value)

    # -- sleeping

    async def sleep(self, name, duration):
        await self._sleep(name, {"ms": duration_ms(duration, "sleep duration")})

    async def sleep_until(self, name, timestamp):
        await self._sleep(name, {"until": _epoch_ms(timestamp)})

    sleepUntil = sleep_until

    async def _sleep(self, name, args):
        key, _ = self._key(name)
        r = self._op("sleep", dict(args, key=key, name=name))
        if r.get("aborted"):
            raise _Suspend(None)
        if not r.get("done"):
            raise _Suspend(r.get("until"), sleeping=True)

    async def wait_for_event(self, name, event_type, /, timeout="24 hours"):
        """Wait until `instance.send_event(type=event_type)` (events sent
        earlier are queued per type, first in first out); raises
        `WorkflowTimeoutError` after `timeout`. The instance is `waiting`
        meanwhile and suspended, so the wait survives a `dev` restart."""
        if not isinstance(name, str):
            raise TypeError(f"a step name must be a str, got {type(name).__name__}")
        if not isinstance(event_type, str) or not event_type:
            raise TypeError("wait_for_event() needs an event type (a non-empty str)")
        import hashlib

        timeout_ms = duration_ms(timeout or "24 hours", "wait_for_event timeout")
        counter = "waitForEvent-" + name
        count = self._counts.get(counter, 0) + 1
        self._counts[counter] = count
        key = f"{hashlib.sha1(f'{name}-{count}'.encode('utf-8')).hexdigest()}-{count}"
        r = self._op("wait", {"key": key, "name": name, "type": event_type, "timeout_ms": timeout_ms})
        if r.get("aborted"):
            raise _Suspend(None)
        if r.get("error") is not None:
            _raise_stored(r["error"])
        if not r.get("done"):
            raise _Suspend(r.get("until"), sleeping=True)
        event = r.get("value") or {}
        ts = event.get("timestamp") or 0
        return JsDict(
            payload=from_json(event.get("payload")),
            type=event.get("type"),
            timestamp=datetime.datetime.fromtimestamp(ts / 1000, tz=datetime.timezone.utc),
        )

    waitForEvent = wait_for_event


def run_event(header, classes, runtime):
    """The `workflow` event: run `run(event, step)` of class `header["class"]`
    once; returns the result dict (docs/runtime-abi.md)."""
    class_name = header.get("class")
    cls = classes.get(class_name)
    if cls is None:
        raise runtime.WorkerError(
            f"the main module exports no WorkflowEntrypoint class named {class_name!r} "
            "(the `class_name` of this workflow in the wrangler config)"
        )
    ts = header.get("timestamp") or 0
    event = JsDict(
        payload=from_json(header.get("payload")),
        timestamp=datetime.datetime.fromtimestamp(ts / 1000, tz=datetime.timezone.utc),
        instanceId=header.get("instance_id"),
        workflowName=header.get("workflow"),
    )
    step = WorkflowStep(header.get("workflow"), header.get("instance_id"), bool(header.get("implicit_dependencies")))
    ctx = runtime._context()

    async def run():
        try:
            inst = cls(ctx, state.env)
            result = await runtime.call_relaxed(runtime._method(inst, "run", class_name), event, step)
            return {"state": "complete", "output": _step_value(result)}
        except _Suspend as s:
            if s.until is None:
                return {"state": "aborted"}
            return {"state": "suspended", "until": s.until, "sleeping": s.sleeping}
        except Exception as e:  # noqa: BLE001 - the instance errors
            tb = runtime._user_traceback(e.__traceback__)
            traceback.print_exception(type(e), e, tb, file=sys.stderr)
            return {"state": "errored", "error": _error(e)}

    return runtime._run_event(ctx, run)
