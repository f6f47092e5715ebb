"""`hyperdrive`: the local connection string, split into its parts."""



class Hyperdrive:
    """`hyperdrive`: locally, the parts of the configured local connection string."""

    def __init__(self, connection_string):
        from urllib.parse import unquote, urlsplit

        self.connectionString = connection_string
        u = urlsplit(connection_string)
        self.host = u.hostname or ""
        default_port = 3306 if u.scheme == "mysql" else 5432
        self.port = u.port or default_port
        self.user = unquote(u.username or "")
        self.password = unquote(u.password or "")
        self.database = unquote(u.path.lstrip("/"))

    def __repr__(self):
        return f"<Hyperdrive {self.host}:{self.port}/{self.database}>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"hyperdrive": lambda name, raw: Hyperdrive(raw.get("connection_string", ""))}
