"""`analytics_engine_datasets`: `writeDataPoint` is checked and dropped."""

from ._util import _opts


class AnalyticsEngineDataset:
    """`analytics_engine_datasets`: writes are accepted and dropped, as in
    miniflare's local dataset."""

    def __init__(self, name):
        self._name = name

    def writeDataPoint(self, event=None, **kwargs):
        point = _opts(event, kwargs)
        for key in point:
            if key not in ("indexes", "blobs", "doubles"):
                raise TypeError(f"writeDataPoint: unknown field {key!r} (use indexes, blobs, doubles)")
        return None

    def __repr__(self):
        return f"<AnalyticsEngineDataset {self._name}>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"analytics_engine": lambda name, raw: AnalyticsEngineDataset(name)}
