"""Bounds on what a client can make a node do: a body size cap and a per-client rate limit, as
plain ASGI middleware (they answer before FastAPI parses anything), and a bounded cache of signed
pull results.

The rate limit uses the `limits` library's moving window, keyed by the client's IP address as the
listener sees it (behind a reverse proxy, give each client its own limit there).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]],
                   Awaitable[None]]


async def answer(send: Callable, status: int, body: dict, headers: list | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuses a request body over `max_bytes` with 413: by its Content-Length before reading,
    and while reading a body sent without one (chunked). The app gets the body already read."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Any | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def _refuse(self, send: Callable) -> None:
        if self.metrics is not None:
            self.metrics.http_refused.labels("body_too_large").inc()
        await answer(send, 413, {"error": f"request body over {self.max_bytes} bytes"})

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    return await self._refuse(send)
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            size += len(msg.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send)
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()  # only a disconnect can come now
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class RateLimit:
    """Answers 429 (with Retry-After) once a client IP exceeds `spec`, e.g. "10/second;120/minute"
    (the `limits` library's notation; every item must hold)."""

    def __init__(self, app: ASGIApp, spec: str, metrics: Any | None = None) -> None:
        self.app = app
        self.items = parse_many(spec)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        for item in self.items:
            if not self.limiter.hit(item, client):
                reset, _ = self.limiter.get_window_stats(item, client)
                retry = max(1, int(reset - time.time()) + 1)
                if self.metrics is not None:
                    self.metrics.http_refused.labels("rate_limited").inc()
                return await answer(send, 429, {"error": f"rate limit {item} exceeded"},
                                     [(b"retry-after", str(retry).encode())])
        await self.app(scope, receive, send)


class ResultCache:
    """Signed pull results by key (borrower, nonce, model id, config digest), each kept until its
    deadline, at most `max_entries` (least recently used dropped first: a dropped entry is only
    gathered again). A per-key lock makes concurrent pulls of one key gather once."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Any, threading.Lock] = {}

    def get(self, key: Any, now: float) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            if hit[0] <= now:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: Any, value: Any, deadline: float) -> None:
        with self._lock:
            self._items[key] = (deadline, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def key_lock(self, key: Any) -> threading.Lock:
        with self._lock:
            if len(self._key_locks) > 4 * self.max_entries:
                self._key_locks = {k: v for k, v in self._key_locks.items() if v.locked()}
            return self._key_locks.setdefault(key, threading.Lock())
