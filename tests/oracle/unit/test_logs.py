"""No log line and no /healthz error shows the RPC URL's credentials or a secret, even when an
exception's text carries them."""

import json
import logging

import pytest

from oracle import logs
from oracle.settings import load_settings

RPC = "https://user:pw123456@rpc.example.org/v3/abcdef0123456789?apikey=s3cr3tkey"


@pytest.fixture
def settings():
    s = load_settings(env={"ORACLE_RPC_URL": RPC, "ORACLE_PRIVATE_KEY": "0x" + "42" * 32})
    logs.register_secrets(s.secret_strings())
    yield s
    logs._SECRETS.clear()


def test_a_logged_exception_naming_the_rpc_url_is_scrubbed(settings):
    try:
        raise ConnectionError(f"Max retries exceeded with url: /v3/abcdef0123456789?apikey="
                              f"s3cr3tkey ({RPC})")
    except ConnectionError as exc:
        record = logging.LogRecord("oracle", logging.ERROR, __file__, 1, "step failed: %s",
                                   (exc,), None)
        record.error = str(exc)
        import sys

        record.exc_info = sys.exc_info()
    line = logs.JsonFormatter().format(record)
    for leak in ("abcdef0123456789", "s3cr3tkey", "pw123456", "42" * 32):
        assert leak not in line
    out = json.loads(line)
    assert logs.REDACTED in out["msg"] and logs.REDACTED in out["error"]
    assert "rpc.example.org" not in out["msg"]  # the whole URL went, host included


def test_redact_leaves_other_text_alone(settings):
    assert logs.redact("block 12 mined") == "block 12 mined"
    assert logs.redact(12) == 12
