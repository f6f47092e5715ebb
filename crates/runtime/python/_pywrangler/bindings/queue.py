"""`queues.producers`: `Queue` (send/sendBatch), over the `queue.send` host op."""

from .. import host
from ..jsobj import to_json
from ._util import _opts


class Queue:
    """Queue producer: send/sendBatch."""

    def __init__(self, binding, queue):
        self._binding = binding
        self._queue = queue

    @staticmethod
    def _message(body, o):
        m = {"body": to_json(body)}
        ct = o.get("contentType", o.get("content_type"))
        if ct is not None:
            m["content_type"] = ct
        d = o.get("delaySeconds", o.get("delay_seconds"))
        if d is not None:
            m["delay_seconds"] = d
        return m

    async def send(self, body, options=None, **kwargs):
        o = _opts(options, kwargs)
        msgs = [self._message(body, o)]
        host.call("queue.send", {"queue": self._queue, "messages": msgs}, binding=self._binding)
        return None

    async def sendBatch(self, messages, options=None, **kwargs):
        o = _opts(options, kwargs)
        msgs = []
        for m in messages:
            mo = dict(m) if isinstance(m, dict) else {k: getattr(m, k) for k in ("body", "contentType", "delaySeconds") if hasattr(m, k)}
            if "delaySeconds" not in mo and "delaySeconds" in o:
                mo["delaySeconds"] = o["delaySeconds"]
            msgs.append(self._message(mo.get("body"), mo))
        host.call("queue.send", {"queue": self._queue, "messages": msgs}, binding=self._binding)
        return None

    send_batch = sendBatch

    def __repr__(self):
        return f"Queue({self._queue!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"queue": lambda name, raw: Queue(name, raw.get("queue") or name)}
