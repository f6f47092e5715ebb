"""`HTMLRewriter` (`from js import HTMLRewriter`): the host runs Cloudflare's
engine (lol_html) over the body and calls back here, as a nested `html`
event, for each match; the handler's edits travel back as a list of ops.
`transform()` returns a Response whose body is rewritten as it is read:
streamed to the client chunk by chunk, or joined when the handler reads it."""

import inspect
import itertools

from . import host
from .jsobj import JsException

_ids = itertools.count(1)
_sessions = {}  # id -> _Session of transforms being read


def _handler_fn(handlers, name):
    """`handlers.name` of an object, a dict/JsDict or a `create_proxy` of either."""
    if isinstance(handlers, dict):
        return handlers.get(name)
    fn = getattr(handlers, name, None)
    return fn if callable(fn) else None


def _is_html(options, kwargs):
    if "html" in kwargs:
        return bool(kwargs["html"])
    if options is None:
        return False
    if isinstance(options, dict):
        return bool(options.get("html"))
    return bool(getattr(options, "html", False))


def _content(content):
    if isinstance(content, str):
        return content
    if isinstance(content, (bytes, bytearray)):
        return bytes(content).decode("utf-8")
    raise TypeError(f"HTMLRewriter content must be a string, not {type(content).__name__}")


class _Unit:
    """Shared by the objects handed to handlers: they record edits as ops."""

    def __init__(self):
        self._ops = []
        self._removed = False

    def _content_op(self, name, content, options, kwargs):
        self._ops.append([name, _content(content), _is_html(options, kwargs)])
        return self

    def before(self, content, options=None, **kwargs):
        return self._content_op("before", content, options, kwargs)

    def after(self, content, options=None, **kwargs):
        return self._content_op("after", content, options, kwargs)

    def replace(self, content, options=None, **kwargs):
        self._removed = True
        return self._content_op("replace", content, options, kwargs)

    def remove(self):
        self._removed = True
        self._ops.append(["remove"])
        return self

    @property
    def removed(self):
        return self._removed


class Element(_Unit):
    """An element start tag and its content."""

    def __init__(self, session, data):
        super().__init__()
        self._session = session
        self._tag = data.get("tag", "")
        self._attrs = [list(a) for a in data.get("attrs") or []]
        self.namespaceURI = data.get("ns", "")
        self.selfClosing = bool(data.get("self_closing"))
        self.canHaveContent = bool(data.get("can_have_content"))

    @property
    def tagName(self):
        return self._tag

    @tagName.setter
    def tagName(self, name):
        self._tag = str(name).lower()
        self._ops.append(["tagName", str(name)])

    @property
    def attributes(self):
        return iter([list(a) for a in self._attrs])

    def getAttribute(self, name):
        name = str(name).lower()
        for k, v in self._attrs:
            if k == name:
                return v
        return None

    def hasAttribute(self, name):
        return self.getAttribute(name) is not None

    def setAttribute(self, name, value):
        name = str(name).lower()
        self._attrs = [a for a in self._attrs if a[0] != name] + [[name, str(value)]]
        self._ops.append(["setAttribute", str(name), str(value)])
        return self

    def removeAttribute(self, name):
        name = str(name).lower()
        self._attrs = [a for a in self._attrs if a[0] != name]
        self._ops.append(["removeAttribute", name])
        return self

    def prepend(self, content, options=None, **kwargs):
        return self._content_op("prepend", content, options, kwargs)

    def append(self, content, options=None, **kwargs):
        return self._content_op("append", content, options, kwargs)

    def setInnerContent(self, content, options=None, **kwargs):
        return self._content_op("setInnerContent", content, options, kwargs)

    def removeAndKeepContent(self):
        self._removed = True
        self._ops.append(["removeAndKeepContent"])
        return self

    def onEndTag(self, handler):
        if not callable(handler):
            raise TypeError("onEndTag needs a function")
        self._session.end_tags.append(handler)
        self._ops.append(["onEndTag", len(self._session.end_tags) - 1])

    def __repr__(self):
        return f"<Element {self._tag}>"


class EndTag(_Unit):
    """An element's end tag (passed to an `onEndTag` callback)."""

    def __init__(self, data):
        super().__init__()
        self._name = data.get("name", "")

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        self._name = str(value)
        self._ops.append(["name", str(value)])

    def replace(self, content, options=None, **kwargs):
        raise AttributeError("'EndTag' object has no attribute 'replace'")


class TextChunk(_Unit):
    """A piece of a text node; `lastInTextNode` marks the node's last piece."""

    def __init__(self, data):
        super().__init__()
        self.text = data.get("text", "")
        self.lastInTextNode = bool(data.get("last"))


class Comment(_Unit):
    """An HTML comment; `text` may be set."""

    def __init__(self, data):
        super().__init__()
        self._text = data.get("text", "")

    @property
    def text(self):
        return self._text

    @text.setter
    def text(self, value):
        self._text = str(value)
        self._ops.append(["text", str(value)])


class Doctype:
    """The document's doctype (read-only)."""

    def __init__(self, data):
        self.name = data.get("name")
        self.publicId = data.get("public_id")
        self.systemId = data.get("system_id")
        self._ops = []


class DocumentEnd:
    """The end of the document: `append` adds content after everything."""

    def __init__(self):
        self._ops = []

    def append(self, content, options=None, **kwargs):
        self._ops.append(["append", _content(content), _is_html(options, kwargs)])
        return self


class _Session:
    def __init__(self, elements, documents):
        self.elements = elements
        self.documents = documents
        self.end_tags = []
        self.error = None


_CALLBACK = {"element": "element", "comments": "comments", "text": "text", "doctype": "doctype", "end": "end"}


def handle_event(header):
    """The nested `html` event: run one handler, return its ops."""
    session = _sessions.get(header.get("session"))
    if session is None or session.error is not None:
        # A handler already failed: the rewriter is poisoned, skip the rest.
        return {"ops": []}
    kind = header.get("type")
    target = header.get("target")
    index = int(header.get("handler", 0))
    if kind == "element":
        unit = Element(session, header)
    elif kind == "end_tag":
        unit = EndTag(header)
    elif kind == "text":
        unit = TextChunk(header)
    elif kind == "comments":
        unit = Comment(header)
    elif kind == "doctype":
        unit = Doctype(header)
    else:
        unit = DocumentEnd()
    if target == "end_tag":
        fn = session.end_tags[index]
    else:
        handlers = (session.elements[index][1] if target == "el" else session.documents[index])
        fn = _handler_fn(handlers, _CALLBACK.get(kind, kind))
    try:
        result = fn(unit)
        if inspect.isawaitable(result):
            from .ffi import run_sync

            run_sync(result)
    except BaseException as e:
        session.error = e
        raise
    return {"ops": unit._ops}


def _charset(content_type):
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


class HTMLRewriter:
    """`HTMLRewriter.new().on(selector, handlers).onDocument(handlers).transform(response)`."""

    def __init__(self):
        self._elements = []
        self._documents = []

    @classmethod
    def new(cls):
        return cls()

    def on(self, selector, handlers):
        self._elements.append((str(selector), handlers))
        return self

    def onDocument(self, handlers):
        self._documents.append(handlers)
        return self

    on_document = onDocument

    def transform(self, response):
        import workers

        response = getattr(response, "js_object", response)
        if not isinstance(response, workers.FetchResponse):
            raise TypeError("HTMLRewriter.transform() needs a Response")
        if response.status == 0:
            raise TypeError("HTMLRewriter cannot transform an error response")
        headers = workers.Headers(response._headers)
        headers.delete("content-length")
        out = workers.Response(None, status=response.status, status_text=response.status_text, headers=headers)
        out.url = response.url
        source = _source(response)
        if source is None:
            return out
        transform = _Transform(list(self._elements), list(self._documents), _charset(headers.get("content-type")))
        # Rewritten as it is read: streamed to the client chunk by chunk when
        # returned, joined when the handler reads it.
        if hasattr(source, "__aiter__"):
            out._stream = transform.run_async(source)
        else:
            out._stream = transform.run(source)
        return out


def _source(response):
    """The body of `response` as an iterable of chunks (async for a stream
    an ASGI app is producing), or None without a body."""
    pulled = response._take_pulled()
    if pulled is not None:
        return iter(pulled.read_chunk, None)
    stream = response._stream
    if stream is not None:
        response._stream = None
        response.body_used = True
        return stream
    data = response._body
    if data is None:
        return None
    response.body_used = True
    return [data]


class _Transform:
    """One run of the rewriter over one body: an `html.start` session fed
    chunk by chunk (`html.write`), its handlers called back as `html` events."""

    def __init__(self, elements, documents, encoding):
        self.elements = elements
        self.documents = documents
        self.encoding = encoding
        self.session = None
        self.sid = None
        self.host_id = None

    def _start(self):
        self.session = _Session(self.elements, self.documents)
        self.sid = next(_ids)
        _sessions[self.sid] = self.session
        spec = {
            "session": self.sid,
            "encoding": self.encoding,
            "elements": [
                {"selector": sel, **{k: _handler_fn(h, k) is not None for k in ("element", "comments", "text")}}
                for sel, h in self.elements
            ],
            "document": [
                {k: _handler_fn(h, k) is not None for k in ("doctype", "comments", "text", "end")}
                for h in self.documents
            ],
        }
        value, _ = host.call("html.start", spec)
        self.host_id = value["id"]

    def _call(self, op, chunk=b""):
        try:
            _, body = host.call(op, {"id": self.host_id}, chunk)
        except JsException:
            self.host_id = None  # the host dropped the failed session
            if self.session.error is not None:
                raise self.session.error from None
            raise
        return body or b""

    def _finish(self):
        if self.host_id is not None:
            host.call("html.close", {"id": self.host_id})
            self.host_id = None
        _sessions.pop(self.sid, None)

    def run(self, chunks):
        """The rewritten body, chunk by chunk, as the source yields."""
        try:
            self._start()
            for chunk in chunks:
                if chunk:
                    out = self._call("html.write", bytes(chunk))
                    if out:
                        yield out
            out = self._call("html.end")
            self.host_id = None
            if out:
                yield out
        finally:
            self._finish()

    async def run_async(self, chunks):
        from workers._http import chunk_bytes

        try:
            self._start()
            async for chunk in chunks:
                if chunk:
                    out = self._call("html.write", chunk_bytes(chunk))
                    if out:
                        yield out
            out = self._call("html.end")
            self.host_id = None
            if out:
                yield out
        finally:
            self._finish()
            if hasattr(chunks, "aclose"):
                await chunks.aclose()
