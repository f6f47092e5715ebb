from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    """`/visits` counts requests in KV; `/notes` lists notes in D1 and POST adds one."""

    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/visits":
            return await self.visits()
        if path == "/notes":
            if request.method == "POST":
                return await self.add_note(request)
            return await self.list_notes()
        return Response("Try /visits or /notes", status=404)

    async def visits(self):
        count = int((await self.env.KV.get("visits")) or 0) + 1
        await self.env.KV.put("visits", str(count))
        return Response.json({"visits": count})

    async def add_note(self, request):
        # Writes need the API_TOKEN secret (locally from .dev.vars).
        if request.headers.get("authorization") != f"Bearer {self.env.API_TOKEN}":
            return Response("Unauthorized", status=401)
        body = await request.text()
        result = await self.env.DB.prepare("INSERT INTO notes (body) VALUES (?)").bind(body).run()
        return Response.json({"id": result["meta"]["last_row_id"]}, status=201)

    async def list_notes(self):
        result = await self.env.DB.prepare("SELECT id, body, created_at FROM notes ORDER BY id").all()
        return Response.json({"notes": [dict(row) for row in result["results"]]})
