from urllib.parse import parse_qs, urlparse

from workers import DurableObject, Response, WorkerEntrypoint


class Counter(DurableObject):
    """One counter per name. Each instance keeps its value in its own storage."""

    async def increment(self, by=1):
        value = (await self.ctx.storage.get("value")) or 0
        value += by
        await self.ctx.storage.put("value", value)
        return value

    async def current(self):
        return (await self.ctx.storage.get("value")) or 0


class Default(WorkerEntrypoint):
    """Routes `/increment?name=NAME` and `/?name=NAME` to the counter called NAME."""

    async def fetch(self, request):
        url = urlparse(request.url)
        name = parse_qs(url.query).get("name", ["default"])[0]
        # Every name maps to exactly one Durable Object instance, wherever it runs.
        counter = self.env.COUNTER.getByName(name)
        if url.path == "/increment":
            value = await counter.increment()
        elif url.path == "/":
            value = await counter.current()
        else:
            return Response("Not found", status=404)
        return Response.json({"name": name, "value": value})
