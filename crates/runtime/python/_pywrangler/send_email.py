"""`send_email` bindings and `cloudflare:email`'s `EmailMessage`, as miniflare
emulates them: `await env.EMAIL.send(msg)` checks the binding's allow-lists
and writes the message to files under `.wrangler/tmp/email/` (host op
`send_email.raw` / `send_email.builder`), returning `{messageId}`."""

import base64
import types

from . import host
from .jsobj import from_json

# The builder keys miniflare reads (`MessageBuilder` in its email types).
_BUILDER_KEYS = ("from", "to", "subject", "text", "html", "cc", "bcc", "replyTo", "headers", "attachments")


def _raw_bytes(raw):
    if isinstance(raw, str):
        return raw.encode("utf-8")
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    body = getattr(raw, "_pywrangler_body", None)
    if body is not None:
        return body()
    raise TypeError(
        f"EmailMessage(): `raw` must be the MIME message as str or bytes, not {type(raw).__name__}"
    )


class EmailMessage:
    """`EmailMessage(from, to, raw)` from `cloudflare:email`: a MIME message
    with its envelope sender and recipient. Construct it directly or, as
    Pyodide code calls JavaScript classes, with `EmailMessage.new(...)`."""

    def __init__(self, from_, to, raw):
        if not isinstance(from_, str) or not isinstance(to, str):
            raise TypeError("EmailMessage(from, to, raw): `from` and `to` must be strings")
        self.__dict__["from"] = from_
        self.to = to
        self._raw = _raw_bytes(raw)

    @classmethod
    def new(cls, from_, to, raw):
        return cls(from_, to, raw)

    @property
    def raw(self):
        return self._raw

    def __repr__(self):
        return f"<EmailMessage from {self.__dict__['from']} to {self.to}>"


def cloudflare_email_module():
    """The module `import_from_javascript("cloudflare:email")` returns."""
    mod = types.ModuleType("cloudflare:email")
    mod.EmailMessage = EmailMessage
    return mod


def _field(msg, key):
    if hasattr(msg, "keys"):
        return msg.get(key) if hasattr(msg, "get") else (msg[key] if key in msg.keys() else None)
    return getattr(msg, key, None)


def _plain(value):
    """Builder values as JSON: addresses stay str or `{email, name}` dicts."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "keys"):
        return {str(k): _plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "email"):
        return {"email": value.email, "name": getattr(value, "name", None)}
    raise TypeError(f"send(): cannot send a {type(value).__name__} in an email message")


def _attachment(att):
    out = {k: _plain(_field(att, k)) for k in ("disposition", "filename", "type", "contentId")}
    content = _field(att, "content")
    if isinstance(content, str):
        out["content"] = content
    else:
        try:
            data = _raw_bytes(content)
        except TypeError:
            raise TypeError(
                f"send(): attachment content must be str or bytes, not {type(content).__name__}"
            ) from None
        out["content"] = base64.b64encode(data).decode("ascii")
        out["base64"] = True
    return out


def builder_json(msg):
    """The builder object form as JSON (attachment bytes base64-encoded)."""
    out = {}
    for key in _BUILDER_KEYS:
        value = _field(msg, key)
        if value is None:
            continue
        if key == "attachments":
            out[key] = [_attachment(a) for a in value]
        else:
            out[key] = _plain(value)
    return out


class SendEmail:
    """A `send_email` binding: `await send(EmailMessage | {from, to, subject, ...})`."""

    def __init__(self, name):
        self._name = name

    async def send(self, message):
        if isinstance(message, EmailMessage):
            value, _ = host.call(
                "send_email.raw",
                {"from": message.__dict__["from"], "to": message.to},
                body=message.raw,
                binding=self._name,
            )
        else:
            value, _ = host.call("send_email.builder", {"builder": builder_json(message)}, binding=self._name)
        return from_json(value)

    def __repr__(self):
        return f"<SendEmail {self._name}>"
