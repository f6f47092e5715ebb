"""Guest-side runtime of pywrangler-rs: the C shim calls `snapshot_init()`
once (the snapshot step), `init_status()` for its JSON status, and
`invoke(envelope)` per event. See docs/runtime-abi.md."""


def snapshot_init():
    """Snapshot step: entropy guard on, import PW_MAIN_MODULE, find entrypoints."""
    from . import runtime

    runtime.snapshot_init()


def init_status():
    """UTF-8 JSON status recorded by snapshot_init()."""
    from . import runtime

    return runtime.init_status()


def invoke(data):
    """Handle one event envelope; returns the reply envelope (never raises)."""
    from . import runtime

    return runtime.invoke(data)
