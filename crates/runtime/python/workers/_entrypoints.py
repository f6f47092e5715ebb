"""Entry-point base classes (`WorkerEntrypoint`, `DurableObject`,
`WorkflowEntrypoint`), the `Context` handed to handlers, and `handler`."""

import asyncio
import functools
import inspect

from _pywrangler import state


class Context:
    """The ExecutionContext: `waitUntil` keeps work alive after the response
    (the runtime finishes it before the event completes)."""

    def __init__(self, props=None):
        self._pending = []
        self._pass_through = False
        self.props = props if props is not None else {}

    def waitUntil(self, awaitable):
        if inspect.isawaitable(awaitable):
            self._pending.append(asyncio.ensure_future(awaitable))
        return None

    wait_until = waitUntil

    def passThroughOnException(self):
        self._pass_through = True

    pass_through_on_exception = passThroughOnException

    async def _drain(self):
        """Wait for every waitUntil task (tasks may add more); report failures."""
        import sys
        import traceback

        while self._pending:
            batch, self._pending = self._pending, []
            for r in await asyncio.gather(*batch, return_exceptions=True):
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    print("Uncaught (in promise) from ctx.waitUntil:", file=sys.stderr)
                    traceback.print_exception(type(r), r, r.__traceback__, file=sys.stderr)


def _set_ctx_env(init):
    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        ctx = args[0] if args else kwargs.get("ctx", kwargs.get("state"))
        env = args[1] if len(args) > 1 else kwargs.get("env")
        object.__setattr__(self, "ctx", ctx)
        object.__setattr__(self, "env", env)
        init(self, *args, **kwargs)

    wrapped.__pywrangler_wrapped__ = True
    return wrapped


class _Base:
    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__pywrangler_wrapped__", False):
            cls.__init__ = _set_ctx_env(init)


class WorkerEntrypoint(_Base):
    """Base class of `Default` and named entrypoints: `self.ctx`, `self.env`."""


class DurableObject(_Base):
    """Base class of Durable Objects: `__init__(self, ctx, env)`, where
    `ctx.storage` is the object's storage and `ctx.id` its id."""


class WorkflowEntrypoint(_Base):
    """Base class of Workflows (`async def run(self, event, step)`), run by
    `dev`'s local engine (`_pywrangler/workflows.py`)."""


def handler(func):
    """Legacy decorator for module-level `on_fetch`: passes a `workers.Request`."""
    from ._http import Request

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if args and not isinstance(args[0], Request) and hasattr(args[0], "url"):
            args = (Request(args[0]),) + args[1:]
        return func(*args, **kwargs)

    return wrapper


def current_env():
    return state.env
