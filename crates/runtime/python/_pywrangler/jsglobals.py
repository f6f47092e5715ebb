"""JavaScript globals Worker code reaches through `js` besides the HTTP
types: `crypto` (randomUUID, getRandomValues, subtle.digest), timers
(`setTimeout`/`setInterval` on the running event loop), `Date` and
`Uint8Array`. Each behaves as its Workers counterpart for what Python code
can observe."""

import asyncio
import datetime
import hashlib
import inspect
import itertools
import os
import time
import uuid

from .jsobj import JsBuffer, JsException, JsProxy

# ------------------------------------------------------------------ typed arrays


class Uint8Array(bytearray, JsProxy):
    """`Uint8Array.new(length | bytes | list)`: mutable bytes with the
    typed-array helpers Python code uses (`length`, `to_py`, `to_bytes`)."""

    @classmethod
    def new(cls, init=0, *args):
        if isinstance(init, int) and not isinstance(init, bool):
            return cls(init)
        return cls(bytes(init) if not isinstance(init, (list, tuple)) else bytes(init))

    @property
    def length(self):
        return len(self)

    @property
    def byteLength(self):
        return len(self)

    @property
    def buffer(self):
        return JsBuffer(bytes(self))

    def to_py(self, *args, **kwargs):
        return memoryview(self)

    def to_bytes(self):
        return bytes(self)

    def to_memoryview(self):
        return memoryview(self)

    def subarray(self, start=0, end=None):
        return Uint8Array(self[start:end])


# ------------------------------------------------------------------ crypto

_DIGESTS = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512", "MD5": "md5"}


def _bytes_of(data):
    if isinstance(data, str):
        raise TypeError("Failed to execute 'digest' on 'SubtleCrypto': parameter 2 is not of type 'ArrayBuffer or ArrayBufferView'.")
    raw = getattr(data, "_pywrangler_body", None)
    if raw is not None:
        return raw()
    return bytes(data)


class _Subtle:
    @staticmethod
    async def digest(algorithm, data):
        name = algorithm if isinstance(algorithm, str) else (algorithm.get("name") if isinstance(algorithm, dict) else getattr(algorithm, "name", None))
        algo = _DIGESTS.get(str(name).upper())
        if algo is None:
            raise JsException(f"Unrecognized name: {name}", "NotSupportedError")
        return JsBuffer(hashlib.new(algo, _bytes_of(data)).digest())


class crypto:
    """`crypto.randomUUID()`, `crypto.getRandomValues(array)`, `crypto.subtle.digest`."""

    subtle = _Subtle()

    @staticmethod
    def randomUUID():
        return str(uuid.uuid4())

    @staticmethod
    def getRandomValues(array):
        if len(array) > 65536:
            raise JsException(
                f"getRandomValues() only accepts buffers of size <= 64K but provided {len(array)} bytes.",
                "QuotaExceededError",
            )
        try:
            view = memoryview(array).cast("B")
        except TypeError:
            raise JsException(
                "Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.",
                "TypeMismatchError",
            ) from None
        if view.readonly:
            raise JsException("getRandomValues() needs a writable integer typed array", "TypeMismatchError")
        view[:] = os.urandom(len(view))
        return array


# ------------------------------------------------------------------ timers

_ids = itertools.count(1)
_timers = {}


def _fire(timer_id, fn, args, repeat_ms):
    if repeat_ms is None:
        _timers.pop(timer_id, None)
    elif timer_id in _timers:
        loop = asyncio.get_event_loop()
        _timers[timer_id] = loop.call_later(repeat_ms / 1000, _fire, timer_id, fn, args, repeat_ms)
    result = fn(*args)
    if inspect.isawaitable(result):
        asyncio.ensure_future(result)


def _schedule(fn, ms, args, repeat):
    if not callable(fn):
        raise TypeError("The \"callback\" argument must be of type function.")
    try:
        delay = max(0.0, float(ms or 0))
    except (TypeError, ValueError):
        delay = 0.0
    loop = asyncio.get_event_loop()
    timer_id = next(_ids)
    _timers[timer_id] = loop.call_later(delay / 1000, _fire, timer_id, fn, args, delay if repeat else None)
    return timer_id


def setTimeout(callback, ms=0, *args):
    """Run `callback(*args)` after `ms` milliseconds on the event loop; returns an id."""
    return _schedule(callback, ms, args, False)


def setInterval(callback, ms=0, *args):
    """Run `callback(*args)` every `ms` milliseconds until `clearInterval(id)`."""
    return _schedule(callback, ms, args, True)


def clearTimeout(timer_id=None):
    handle = _timers.pop(timer_id, None)
    if handle is not None:
        handle.cancel()


clearInterval = clearTimeout


# ------------------------------------------------------------------ Date


class Date(JsProxy):
    """`Date.now()` (ms since the epoch) and `Date.new(ms | iso string | None)`."""

    def __init__(self, ms):
        self._ms = float(ms)

    @staticmethod
    def now():
        return time.time() * 1000

    @classmethod
    def new(cls, value=None, *rest):
        if value is None:
            return cls(cls.now())
        if isinstance(value, str):
            return cls(cls.parse(value))
        if rest:
            parts = [int(value), int(rest[0]) + 1, *(int(x) for x in rest[1:])]
            dt = datetime.datetime(*parts[:6], tzinfo=datetime.timezone.utc)
            return cls(dt.timestamp() * 1000)
        return cls(value)

    @staticmethod
    def parse(text):
        try:
            dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return float("nan")
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
        return dt.timestamp() * 1000

    def getTime(self):
        return self._ms

    valueOf = getTime

    def toISOString(self):
        dt = datetime.datetime.fromtimestamp(self._ms / 1000, datetime.timezone.utc)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(self._ms % 1000):03d}Z"

    toJSON = toISOString

    def toUTCString(self):
        dt = datetime.datetime.fromtimestamp(self._ms / 1000, datetime.timezone.utc)
        return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")

    def __repr__(self):
        return f"Date({self.toISOString()})"
