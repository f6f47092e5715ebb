from datetime import datetime, timezone

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("This Worker runs on a schedule; see `triggers.crons` in wrangler.jsonc.")

    async def scheduled(self, controller, env, ctx):
        # `controller.scheduledTime` is the planned run time in milliseconds since the epoch.
        when = datetime.fromtimestamp(controller.scheduledTime / 1000, tz=timezone.utc)
        print(f"cron {controller.cron!r} fired for {when.isoformat()}")
