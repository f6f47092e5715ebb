"""`version_metadata`: the version's id, tag and timestamp."""



class WorkerVersionMetadata:
    """`version_metadata`: as miniflare, a random id per start, an empty tag
    and the start time."""

    def __init__(self, id, tag, timestamp):
        self.id = id
        self.tag = tag
        self.timestamp = timestamp

    def __repr__(self):
        return f"WorkerVersionMetadata(id={self.id!r}, tag={self.tag!r}, timestamp={self.timestamp!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {
    "version_metadata": lambda name, raw: WorkerVersionMetadata(raw.get("id", ""), raw.get("tag", ""), raw.get("timestamp", "")),
}
