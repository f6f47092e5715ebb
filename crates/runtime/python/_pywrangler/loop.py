"""A socket-free asyncio event loop for the guest. WASI has no selectors or
threads, so the "selector" just sleeps until the next timer; host calls are
synchronous, so nothing else can wake the loop. One loop serves an instance;
an event that re-enters the guest while a loop runs gets a loop of its own."""

import asyncio
import asyncio.events as _events
import asyncio.tasks as _tasks
import sys
import threading
import time


_websocket = None  # _pywrangler.websocket once imported (it registers itself)


class IdleLoopError(RuntimeError):
    """The awaited work can never finish: nothing is ready and no timer is set."""


class _SleepSelector:
    def select(self, timeout=None):
        if timeout != 0 and _websocket is not None and _websocket.awaiting():
            # A handler may be awaiting a WebSocket event: the host hands
            # over what arrives meanwhile (`ws.poll` waits up to `timeout`).
            if _websocket.poll(timeout):
                return []
        if timeout is None:
            raise IdleLoopError(
                "the handler is awaiting something that can never complete: no task "
                "is ready and no timer is pending (in the local runtime only timers "
                "and host calls can wake the event loop)"
            )
        if timeout > 0:
            time.sleep(timeout)
        return []

    def get_map(self):
        return {}

    def close(self):
        pass


class WorkerEventLoop(asyncio.BaseEventLoop):
    """`asyncio.BaseEventLoop` with a sleeping selector: call_soon, call_later,
    tasks, futures, gather, wait_for and sleep work; sockets do not."""

    def __init__(self):
        super().__init__()
        self._selector = _SleepSelector()
        self._hooks_installed = False

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass

    def run_in_executor(self, executor, func, *args):
        # No threads in the guest: run the function now.
        fut = self.create_future()
        try:
            fut.set_result(func(*args))
        except BaseException as e:  # noqa: BLE001 - delivered through the future
            fut.set_exception(e)
        return fut

    async def shutdown_default_executor(self, timeout=None):
        return None

    def drive(self, coro):
        """Run `coro` as a task until it is done and return its result.

        A lean `run_until_complete`: it steps the loop only until the task
        finishes (no extra iteration for `stop()`), and the per-run setup of
        `run_forever` is done once (asyncgen hooks are installed for good).
        The loop counts as running meanwhile (nested runs are refused)."""
        self._check_closed()
        if self.is_running() or _events._get_running_loop() is not None:
            raise RuntimeError("This event loop is already running")
        if not self._hooks_installed:
            sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook)
            self._hooks_installed = True
        task = self.create_task(coro)
        self._thread_id = threading.get_ident()
        _events._set_running_loop(self)
        try:
            try:
                while not task.done():
                    self._run_once()
            except BaseException:
                # Give the task a chance to run its finally blocks, then re-raise.
                task.cancel()
                for _ in range(100):
                    if task.done() or not self._ready:
                        break
                    self._run_once()
                raise
        finally:
            self._thread_id = None
            _events._set_running_loop(None)
        return task.result()


class WorkerEventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Makes `asyncio.new_event_loop()` / `asyncio.run()` use WorkerEventLoop."""

    def new_event_loop(self):
        return WorkerEventLoop()


_main_loop = None

# 3.12+; older Pythons (the host running the shim's unit tests) track the
# current task per loop, so there is nothing to suspend.
_swap_current_task = getattr(_tasks, "_swap_current_task", lambda loop, task: None)


def install_policy():
    asyncio.set_event_loop_policy(WorkerEventLoopPolicy())


def main_loop():
    """The instance's long-lived loop (created on first use)."""
    global _main_loop
    if _main_loop is None or _main_loop.is_closed():
        _main_loop = WorkerEventLoop()
        asyncio.set_event_loop(_main_loop)
    return _main_loop


def run(coro):
    """Run the coroutine `coro` to completion on a free loop and return its
    result. Re-entrant: when a loop is already running (a host call
    re-entered the guest), a fresh loop runs the nested event and the outer
    loop is restored afterwards."""
    outer = _events._get_running_loop()
    if outer is None:
        return main_loop().drive(coro)
    loop = WorkerEventLoop()
    # Suspend the outer task: 3.14 tracks the running task per thread, not
    # per loop, and refuses to enter the nested loop's task while it is set.
    outer_task = _swap_current_task(outer, None)
    _events._set_running_loop(None)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception:  # noqa: BLE001
            pass
        loop.close()
        _events._set_running_loop(outer)
        _swap_current_task(outer, outer_task)
