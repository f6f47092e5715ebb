import asgi
from fastapi import FastAPI, Request
from workers import WorkerEntrypoint

# Built at import time, so the app is part of the Worker's start-up snapshot.
app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello from FastAPI on Cloudflare Workers!"}


@app.get("/greeting")
async def greeting(request: Request):
    # The Worker's bindings travel in the ASGI scope.
    env = request.scope["env"]
    return {"greeting": env.GREETING}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request.js_object, self.env)
