"""The body cap and the per-client rate limit answer before the app runs; the result cache keeps
entries until their deadline and stays bounded."""

import asyncio
import json

import pytest

from oracle.http_limits import BodyLimit, RateLimit, ResultCache


class Recorder:
    """An ASGI app that records the body it got."""

    def __init__(self):
        self.bodies = []

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app, chunks, headers=(), client="10.0.0.1"):
    scope = {"type": "http", "path": "/v1/score", "headers": list(headers),
             "client": (client, 1234)}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    asyncio.run(app(scope, receive, send))
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body, dict(sent[0]["headers"])


def test_a_body_under_the_cap_reaches_the_app_whole():
    inner = Recorder()
    status, _, _ = call(BodyLimit(inner, 10), [b"12345", b"6789"])
    assert status == 200 and inner.bodies == [b"123456789"]


def test_an_oversize_body_by_content_length_is_413_before_reading():
    inner = Recorder()
    status, body, _ = call(BodyLimit(inner, 10), [b"x" * 11], [(b"content-length", b"11")])
    assert status == 413 and "over 10 bytes" in json.loads(body)["error"] and inner.bodies == []


def test_an_oversize_chunked_body_is_413():
    inner = Recorder()
    status, _, _ = call(BodyLimit(inner, 10), [b"x" * 6, b"x" * 6])
    assert status == 413 and inner.bodies == []


def test_a_client_over_its_rate_is_429_and_others_are_not():
    inner = Recorder()
    app = RateLimit(inner, "3/minute")
    assert [call(app, [b""])[0] for _ in range(3)] == [200, 200, 200]
    status, body, headers = call(app, [b""])
    assert status == 429 and "rate limit" in json.loads(body)["error"]
    assert int(headers[b"retry-after"]) >= 1
    assert call(app, [b""], client="10.0.0.2")[0] == 200
    assert len(inner.bodies) == 4


def test_the_result_cache_expires_and_is_bounded():
    cache = ResultCache(max_entries=2)
    cache.put("a", 1, deadline=100)
    assert cache.get("a", now=99) == 1 and cache.get("a", now=100) is None
    cache.put("a", 1, 200)
    cache.put("b", 2, 200)
    cache.get("a", 0)  # "a" used last: "b" goes first
    cache.put("c", 3, 200)
    assert cache.get("b", 0) is None and cache.get("a", 0) == 1 and cache.get("c", 0) == 3


@pytest.mark.parametrize("spec", ["", "five per second", "5/fortnight"])
def test_a_bad_rate_limit_setting_is_refused(spec):
    from oracle.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="ORACLE_PUBLIC_RATE_LIMIT"):
        load_settings(env={"ORACLE_PUBLIC_RATE_LIMIT": spec})
