"""Bindings `dev` cannot run: Cloudflare-only services, and kinds not emulated yet."""



class UnsupportedBinding:
    """A binding kind the local runtime does not implement."""

    def __init__(self, name, kind):
        self._name = name
        self._kind = kind

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise NotImplementedError(
            f"binding {self._name!r} of type {self._kind!r} is not emulated by pywrangler-rs dev yet; "
            "it works once deployed"
        )


class RemoteOnlyBinding:
    """A binding to a service that runs only on Cloudflare (Workers AI,
    Vectorize, Browser Rendering, ...): present in `env`, but every use fails
    with one message saying so."""

    def __init__(self, name, what):
        self._name = name
        self._what = what

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise RuntimeError(
            f"env.{self._name} is a {self._what} binding, which runs only on Cloudflare: "
            "pywrangler-rs dev cannot run it locally. Deploy the Worker to use it "
            "(wrangler users reach it from `wrangler dev` with `\"remote\": true` on the binding)."
        )

    def __repr__(self):
        return f"<{self._what} binding {self._name} (Cloudflare only)>"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"remote_only": lambda name, raw: RemoteOnlyBinding(name, raw.get("what") or "binding")}
