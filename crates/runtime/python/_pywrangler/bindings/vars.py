"""`vars` and secrets: plain values in `env` (a JSON var as JS-like objects)."""

from ..jsobj import from_json


def _var(name, raw):
    v = raw.get("value")
    return v if isinstance(v, str) else from_json(v)


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {
    "var": _var,
    "secret": lambda name, raw: str(raw.get("value", "")),
}
