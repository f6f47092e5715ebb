"""`pipelines`: `send()` is checked and dropped."""



class Pipeline:
    """`pipelines`: `send()` is accepted and dropped, as in miniflare."""

    def __init__(self, name):
        self._name = name

    async def send(self, records):
        if not isinstance(records, (list, tuple)):
            raise TypeError("send: records must be a list")
        return None

    def __repr__(self):
        return f"<Pipeline {self._name}>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"pipelines": lambda name, raw: Pipeline(name)}
