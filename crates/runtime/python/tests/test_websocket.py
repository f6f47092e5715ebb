"""The guest's WebSocket objects against a fake socket registry: the pair's
unpacking forms, the 101 envelope, workerd's refusals, and the `websocket`
event reaching listeners and hibernation handlers."""

import json
import unittest

from support import Guest

WORKER = '''
import json
from js import WebSocketPair, Response as JsResponse
from workers import WorkerEntrypoint, DurableObject, Response

SEEN = []

class Room(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        SEEN.append("init")

    async def webSocketMessage(self, ws, message):
        SEEN.append(("message", ws.deserializeAttachment(), message))

    async def webSocketClose(self, ws, code, reason):  # fewer parameters: a relaxed call
        SEEN.append(("close", code, reason))

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        pair = WebSocketPair.new()
        client, server = pair
        assert pair.object_values() == [client, server] and pair[1] is server
        if request.url.endswith("/accepted"):
            server.accept()
            return Response(None, status=101, web_socket=server)
        server.accept()
        server.addEventListener("message", lambda e: SEEN.append(("listener", e.data)))
        server.send("hi")
        server.send(b"\\x00")
        return JsResponse.new(None, status=101, webSocket=client)
'''


class WebSocketTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest(WORKER)
        self.addCleanup(self.g.close)
        h = self.g.host
        self.sent = []
        self.attachments = {}
        h.op_ws_pair = lambda b, a, body: ({"socket": 5}, b"")
        h.op_ws_accept = lambda b, a, body: (None, b"")
        h.op_ws_send = lambda b, a, body: (self.sent.append((a["binary"], body)), b"")
        h.op_ws_attachment = lambda b, a, body: ({"present": True}, json.dumps(self.attachments[a["socket"]]).encode())

    def test_pair_response_envelope_and_listener_events(self):
        head, _ = self.g.fetch("/")
        self.assertEqual((head["ok"], head["status"], head["webSocket"]), (True, 101, 5), head)
        self.assertEqual(self.sent, [(False, b"hi"), (True, b"\x00")])
        reply, _ = self.g.invoke({"v": 1, "kind": "websocket", "socket": 5, "event": "message", "binary": False}, b"yo")
        self.assertTrue(reply["ok"], reply)
        self.assertIn(("listener", "yo"), self.g.pw.runtime._main.SEEN)

    def test_accepted_socket_cannot_be_returned(self):
        head, _ = self.g.fetch("/accepted")
        self.assertFalse(head["ok"])
        self.assertIn("Can't return WebSocket in a Response after calling accept()", head["error"]["message"])

    def test_hibernation_handlers_get_raw_values(self):
        self.attachments[9] = {"name": "ann"}
        base = {"v": 1, "kind": "websocket", "socket": 9, "class": "Room", "id": "a" * 64, "hibernatable": True}
        reply, _ = self.g.invoke(dict(base, event="message", binary=True), b"\x01\x02")
        self.assertTrue(reply["ok"], reply)
        reply, _ = self.g.invoke(dict(base, event="close", code=1000, reason="bye", wasClean=True))
        self.assertTrue(reply["ok"], reply)
        seen = self.g.pw.runtime._main.SEEN
        self.assertEqual(seen[0], "init")
        kind, attachment, message = seen[1]
        self.assertEqual((kind, attachment["name"], message.to_bytes()), ("message", "ann", b"\x01\x02"))
        self.assertEqual(seen[2], ("close", 1000, "bye"))


if __name__ == "__main__":
    unittest.main()
