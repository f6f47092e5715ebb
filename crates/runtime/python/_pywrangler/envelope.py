"""The host <-> guest envelope (docs/runtime-abi.md): a little-endian u32
header length, a UTF-8 JSON header, then raw body bytes."""

import json
import struct

VERSION = 1
_LEN = struct.Struct("<I")
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class EnvelopeError(ValueError):
    """A malformed envelope (wrong length prefix, bad JSON, wrong version)."""


def encode(header, body=b""):
    """Serialise `header` (a dict; "v" is added) and `body` into one envelope."""
    if "v" not in header:
        header = {"v": VERSION, **header}
    raw = _ENCODER.encode(header).encode("utf-8")
    if body is None:
        body = b""
    return b"".join((_LEN.pack(len(raw)), raw, bytes(body)))


def decode(data):
    """Split an envelope into `(header dict, body bytes)`."""
    data = bytes(data)
    if len(data) < 4:
        raise EnvelopeError(f"envelope too short ({len(data)} bytes)")
    (n,) = _LEN.unpack_from(data, 0)
    if 4 + n > len(data):
        raise EnvelopeError(f"envelope header length {n} exceeds {len(data) - 4} bytes")
    try:
        header = json.loads(data[4 : 4 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EnvelopeError(f"envelope header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise EnvelopeError("envelope header is not a JSON object")
    if header.get("v") != VERSION:
        raise EnvelopeError(f"unsupported envelope version {header.get('v')!r} (guest speaks v{VERSION})")
    return header, data[4 + n :]
