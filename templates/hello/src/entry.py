from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    """The Worker's entrypoint: Cloudflare calls `fetch` for every HTTP request."""

    async def fetch(self, request):
        return Response("Hello world!")
