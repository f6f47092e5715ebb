"""Header containers: `Headers` behaves like the JavaScript Headers object
(case-insensitive, repeated values joined with ", " except Set-Cookie);
`HTTPMessageMapping` is the `http.client.HTTPMessage` that `.headers`
properties return, as in production."""

import collections.abc
import http.client


class HTTPMessageMapping(http.client.HTTPMessage, collections.abc.Mapping):
    """An HTTPMessage that is also a Mapping (`dict(headers)` works)."""


class Headers:
    """JavaScript-style `Headers`. Accepts a dict, a list of pairs, another
    Headers, an HTTPMessage or None."""

    def __init__(self, init=None):
        self._pairs = []  # (lowercase name, value) in insertion order
        for k, v in iter_pairs(init):
            self.append(k, v)

    @classmethod
    def new(cls, init=None):
        return cls(init)

    def append(self, name, value):
        self._pairs.append((str(name).lower(), _value(value)))

    def set(self, name, value):
        self.delete(name)
        self.append(name, value)

    def delete(self, name):
        n = str(name).lower()
        self._pairs = [(k, v) for k, v in self._pairs if k != n]

    def get(self, name, default=None):
        n = str(name).lower()
        vals = [v for k, v in self._pairs if k == n]
        if not vals:
            return default
        return ", ".join(vals)

    def getSetCookie(self):
        return [v for k, v in self._pairs if k == "set-cookie"]

    def get_all(self, name):
        n = str(name).lower()
        return [v for k, v in self._pairs if k == n]

    def has(self, name):
        n = str(name).lower()
        return any(k == n for k, _ in self._pairs)

    def __contains__(self, name):
        return self.has(name)

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        self.delete(name)

    def entries(self):
        """Combined entries as JavaScript iterates them (sorted names, one per
        name, Set-Cookie kept separate)."""
        out = []
        for name in sorted({k for k, _ in self._pairs}):
            if name == "set-cookie":
                out.extend((name, v) for v in self.getSetCookie())
            else:
                out.append((name, self.get(name)))
        return out

    def items(self):
        return self.entries()

    def keys(self):
        return [k for k, _ in self.entries()]

    def values(self):
        return [v for _, v in self.entries()]

    def __iter__(self):
        return iter(self.entries())

    def __len__(self):
        return len(self.entries())

    def pairs(self):
        """Every (name, value) pair as appended (used on the wire)."""
        return list(self._pairs)

    def to_http_message(self):
        return to_http_message(self._pairs)

    def __repr__(self):
        return f"Headers({self.entries()!r})"


def _value(v):
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    return str(v).strip()


def iter_pairs(init):
    """(name, value) pairs from any header container worker code passes."""
    if init is None:
        return []
    if isinstance(init, Headers):
        return init.pairs()
    if isinstance(init, http.client.HTTPMessage):
        return list(init.items())
    if isinstance(init, collections.abc.Mapping):
        return [(k, v) for k, v in init.items()]
    if hasattr(init, "items") and not isinstance(init, (list, tuple)):
        return list(init.items())
    out = []
    for item in init:
        k, v = item
        out.append((k, v))
    return out


def to_http_message(pairs):
    """Build the HTTPMessage production returns: repeated names combined with
    ", " (RFC 9110 §5.3), except Set-Cookie which stays one line per cookie."""
    msg = HTTPMessageMapping()
    order = []
    combined = {}
    cookies = []
    for k, v in pairs:
        k = str(k).lower()
        if k == "set-cookie":
            cookies.append(v)
            continue
        if k not in combined:
            order.append(k)
            combined[k] = [v]
        else:
            combined[k].append(v)
    for v in cookies:
        msg.add_header("set-cookie", str(v).strip())
    for k in order:
        msg.add_header(k, ", ".join(str(v).strip() for v in combined[k]))
    return msg
