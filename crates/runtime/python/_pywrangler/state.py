"""Process-wide runtime state shared by `_pywrangler` and `workers`: whether we
are still in the snapshot (global scope), the configured `env`, and the
context of the event being handled."""

# True from the start of snapshot_init until the host's `configure` event.
in_global_scope = True

# The `workers` env wrapper built from the `configure` event (None before).
env = None

# Raw binding descriptions from `configure`, by name.
bindings = {}

# Stack of `workers.Context` objects for the events being handled (nested
# events happen when a host call re-enters the guest, e.g. Durable Object RPC).
contexts = []


def current_context():
    """The context of the innermost event being handled, or None."""
    return contexts[-1] if contexts else None
