"""Drive an ASGI app in-process (no server, no httpx): one request, its status and JSON body."""

from __future__ import annotations

import asyncio
import json


def request(app, method: str, path: str, body: bytes = b"", headers: dict | None = None,
            client: str = "10.0.0.9") -> tuple[int, bytes]:
    """One request to `app`: its status and raw body (`path` may carry a query string)."""
    path, _, query = path.partition("?")
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "scheme": "http", "http_version": "1.1",
             "headers": hdrs, "client": (client, 1), "server": ("127.0.0.1", 9100)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def call(app, method: str, path: str, body: bytes = b"", headers: dict | None = None,
         client: str = "10.0.0.9") -> tuple[int, dict]:
    status, raw = request(app, method, path, body, headers, client)
    return status, json.loads(raw)
