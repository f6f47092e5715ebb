"""The deploy-time entropy guard. Cloudflare snapshots a Worker's global scope,
so randomness drawn there would be baked into every instance. While the guard
is on, `random` is seeded with a fixed poison value and every entropy API
raises; `configure` reseeds from host entropy and lifts the guard."""

import functools
import os
import random
import secrets
import uuid

POISON_SEED = 0x5EED_DEAD_BEEF

_on = False
_installed = False
_saved = []  # (owner, attribute, original) for uninstall()


def message(call):
    return (
        f"Cannot use {call} in the global scope of a Worker: Cloudflare snapshots "
        "the global scope at deploy time. Move this call into a handler."
    )


def _guard(call, fn):
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        if _on:
            raise RuntimeError(message(call))
        return fn(*args, **kwargs)

    guarded.__pywrangler_original__ = fn
    return guarded


# Module-level functions of `random` bound to the hidden `random._inst`.
_RANDOM_FUNCS = (
    "random", "uniform", "triangular", "randint", "choice", "randrange", "sample",
    "shuffle", "choices", "normalvariate", "lognormvariate", "expovariate",
    "vonmisesvariate", "gammavariate", "gauss", "betavariate", "paretovariate",
    "weibullvariate", "getrandbits", "randbytes", "binomialvariate",
)
_SECRETS_FUNCS = ("token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice")
_SYSTEM_RANDOM_METHODS = ("random", "getrandbits", "randbytes")


def install():
    """Wrap every entropy API once; the wrappers stay installed and consult the
    guard flag, so names imported at top level keep working after `configure`."""
    global _installed
    if _installed:
        return
    _installed = True
    for owner, names in (
        (random, _RANDOM_FUNCS + ("seed",)),
        (random.Random, ("seed",)),
        (random.SystemRandom, _SYSTEM_RANDOM_METHODS),
        (secrets, _SECRETS_FUNCS + ("SystemRandom",)),
        (uuid, ("uuid4",)),
        (os, ("urandom", "getrandom")),
    ):
        for name in names:
            if name in vars(owner):
                _saved.append((owner, name, vars(owner)[name]))
    for name in _RANDOM_FUNCS:
        fn = getattr(random, name, None)
        if fn is not None:
            setattr(random, name, _guard(f"random.{name}()", fn))
    # `random.seed()` with no argument draws from the OS.
    orig_seed = random.seed

    @functools.wraps(orig_seed)
    def seed(a=None, version=2):
        if _on and a is None:
            raise RuntimeError(message("random.seed()"))
        return orig_seed(a, version)

    random.seed = seed
    # `random.Random()` without a seed draws from the OS too.
    orig_inst_seed = random.Random.seed

    def inst_seed(self, a=None, version=2):
        if _on and a is None and not isinstance(self, random.SystemRandom):
            raise RuntimeError(message("random.Random()"))
        return orig_inst_seed(self, a, version)

    random.Random.seed = inst_seed
    for name in _SYSTEM_RANDOM_METHODS:
        fn = getattr(random.SystemRandom, name, None)
        if fn is not None:
            setattr(random.SystemRandom, name, _guard(f"random.SystemRandom().{name}()", fn))
    for name in _SECRETS_FUNCS:
        fn = getattr(secrets, name, None)
        if fn is not None:
            setattr(secrets, name, _guard(f"secrets.{name}()", fn))
    secrets.SystemRandom = random.SystemRandom
    uuid.uuid4 = _guard("uuid.uuid4()", uuid.uuid4)
    os.urandom = _guard("os.urandom()", os.urandom)
    if hasattr(os, "getrandom"):
        os.getrandom = _guard("os.getrandom()", os.getrandom)


def uninstall():
    """Put the original functions back (used by the test-suite to load a
    fresh runtime in the same process)."""
    global _installed, _on
    for owner, name, original in reversed(_saved):
        setattr(owner, name, original)
    _saved.clear()
    _installed = False
    _on = False


def _original(fn):
    return getattr(fn, "__pywrangler_original__", fn)


def turn_on():
    """Guard on, `random` seeded with the fixed poison value."""
    global _on
    install()
    _on = False
    random.seed(POISON_SEED)
    _on = True


def lift(seed_hex):
    """Reseed `random` from the host's entropy and lift the guard."""
    global _on
    _on = False
    if seed_hex:
        try:
            seed = int(str(seed_hex), 16)
        except ValueError:
            seed = None
    else:
        seed = None
    if seed is None:
        seed = int.from_bytes(_original(os.urandom)(32), "little")
    random.seed(seed)


def is_on():
    return _on


def suspend():
    """Let entropy through temporarily (allow-listed imports during the snapshot)."""
    global _on
    _on = False


def resume():
    global _on
    _on = True
