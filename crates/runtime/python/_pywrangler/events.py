"""Event objects handed to handlers: the cron `ScheduledController`, the
queue `MessageBatch` / `Message`, and the Durable Object alarm info."""

import datetime

from .jsobj import from_json


class ScheduledController:
    """`controller` of `scheduled(controller, env, ctx)`."""

    def __init__(self, cron, scheduled_time):
        self.cron = cron or ""
        self.scheduledTime = float(scheduled_time) if scheduled_time is not None else 0.0
        self.type = "scheduled"
        self._no_retry = False

    @property
    def scheduled_time(self):
        return self.scheduledTime

    def noRetry(self):
        self._no_retry = True

    no_retry = noRetry

    def __repr__(self):
        return f"ScheduledController(cron={self.cron!r}, scheduledTime={self.scheduledTime!r})"


class Message:
    """One queue message: `.id .timestamp .body .attempts .ack() .retry()`."""

    def __init__(self, raw, batch):
        self.id = str(raw.get("id", ""))
        ts = raw.get("timestamp")
        self.timestamp = (
            datetime.datetime.fromtimestamp(ts / 1000, tz=datetime.timezone.utc)
            if isinstance(ts, (int, float))
            else ts
        )
        self.body = from_json(raw.get("body"))
        self.attempts = int(raw.get("attempts", 1))
        self._batch = batch
        self._state = None  # "ack" | "retry"
        self._delay = None

    def ack(self):
        if self._state is None:
            self._state = "ack"

    def retry(self, options=None, **kwargs):
        if self._state is None:
            self._state = "retry"
            opts = dict(options or {}, **kwargs)
            delay = opts.get("delaySeconds", opts.get("delay_seconds"))
            if delay is not None:
                self._delay = delay

    def __repr__(self):
        return f"Message(id={self.id!r}, attempts={self.attempts})"


class MessageBatch:
    """`batch` of `queue(batch, env, ctx)`."""

    def __init__(self, queue, messages):
        self.queue = queue
        self.messages = [Message(m, self) for m in messages or []]

    def ackAll(self):
        for m in self.messages:
            m.ack()

    def retryAll(self, options=None, **kwargs):
        for m in self.messages:
            m.retry(options, **kwargs)

    ack_all = ackAll
    retry_all = retryAll

    def outcome(self):
        """{"acks": [...], "retries": [...], "retry_delays": {...}}: every message
        lands in exactly one list; undecided ones are acknowledged."""
        acks, retries, delays = [], [], {}
        for m in self.messages:
            if m._state == "retry":
                retries.append(m.id)
                if m._delay is not None:
                    delays[m.id] = m._delay
            else:
                acks.append(m.id)
        return {"acks": acks, "retries": retries, "retry_delays": delays}
