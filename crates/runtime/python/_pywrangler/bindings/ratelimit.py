"""`ratelimits`: `limit()` over the `ratelimit.limit` host op."""

from .. import host
from ..jsobj import from_json, to_json
from ._util import _opts


class RateLimit:
    """`ratelimits`: `limit({"key": ...})` counts against the configured
    simple rule in fixed windows, as miniflare does."""

    def __init__(self, name):
        self._name = name

    async def limit(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        value, _ = host.call("ratelimit.limit", {"options": to_json(o)}, binding=self._name)
        return from_json(value)

    def __repr__(self):
        return f"<RateLimit {self._name}>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"ratelimit": lambda name, raw: RateLimit(name)}
