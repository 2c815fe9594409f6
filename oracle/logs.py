"""Structured logs: one JSON object per line on stderr. Fields passed with `extra=` are included
(request, loan ids, nonce, tx hash ...). Secrets are never passed to the logger on purpose; and
because an exception's text can carry one anyway (an HTTP client error names the RPC URL, whose
path or query holds a provider key), every line is scrubbed of the strings `register_secrets`
was given before it is written (`redact`; /healthz uses it too)."""

from __future__ import annotations

import json
import logging
import sys
import time

_SECRETS: list[str] = []
REDACTED = "[redacted]"


def register_secrets(values: list[str]) -> None:
    """Strings never to show (longest first, so a URL goes before its path). Short ones are
    ignored: replacing "/" or "1" everywhere would garble every line and protect nothing."""
    _SECRETS[:] = sorted({v for v in (*_SECRETS, *values) if v and len(v) >= 6},
                         key=len, reverse=True)


def redact(value: object) -> object:
    if not isinstance(value, str):
        return value
    for secret in _SECRETS:
        value = value.replace(secret, REDACTED)
    return value


_STD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = redact(value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "web3", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.Formatter.converter = time.gmtime
