"""The attestation key behind a remote signer: its signatures equal a local key's, and a signer
that answers as someone else, or garbage, or not at all, is refused without showing its URL."""

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from oracle import keys
from oracle.app import load_signer
from oracle.settings import SettingsError, load_settings

KEY, OTHER = secrets.token_bytes(32), secrets.token_bytes(32)
TOKEN = "tok-" + secrets.token_hex(8)


@pytest.fixture
def service():
    """A signing service on a free local port; `state["key"]`/`["garbage"]` change its answers."""
    state = {"key": KEY, "garbage": False, "seen": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state["seen"].append((self.headers.get("authorization"), body))
            if self.headers.get("authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.end_headers()
                return
            sig = keys.Signer(state["key"]).sign_digest(bytes.fromhex(body["digest"][2:]))
            out = b"not json" if state["garbage"] else json.dumps(
                {"signature": "0x" + sig.hex()}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/sign/secret-path"
    yield state
    server.shutdown()
    server.server_close()


def test_a_remote_signature_equals_the_local_keys(service):
    local = keys.Signer(KEY)
    remote = keys.RemoteSigner(service["url"], local.address, TOKEN)
    digest = secrets.token_bytes(32)
    assert remote.sign_digest(digest) == local.sign_digest(digest)
    assert service["seen"][0][1] == {"address": local.address, "digest": "0x" + digest.hex()}


def test_a_remote_signer_signing_as_someone_else_is_refused(service):
    service["key"] = OTHER
    remote = keys.RemoteSigner(service["url"], keys.Signer(KEY).address, TOKEN)
    with pytest.raises(keys.RemoteSignerError, match="signed as"):
        remote.sign_digest(bytes(32))


def test_a_malformed_answer_is_refused(service):
    service["garbage"] = True
    remote = keys.RemoteSigner(service["url"], keys.Signer(KEY).address, TOKEN)
    with pytest.raises(keys.RemoteSignerError, match="malformed"):
        remote.sign_digest(bytes(32))


def test_errors_never_show_the_url_or_token(service):
    remote = keys.RemoteSigner(service["url"], keys.Signer(KEY).address, "wrong-token")
    with pytest.raises(keys.RemoteSignerError) as err:
        remote.sign_digest(bytes(32))
    assert "secret-path" not in str(err.value) and "wrong-token" not in str(err.value)
    assert "secret-path" not in repr(remote)


def test_settings_choose_the_remote_signer(service):
    address = keys.Signer(KEY).address
    s = load_settings(env={"ORACLE_REMOTE_SIGNER_URL": service["url"],
                           "ORACLE_REMOTE_SIGNER_ADDRESS": address,
                           "ORACLE_REMOTE_SIGNER_TOKEN": TOKEN})
    signer = load_signer(s)
    assert isinstance(signer, keys.RemoteSigner) and signer.address == address
    public = json.dumps(s.public_dict())
    assert "secret-path" not in public and TOKEN not in public
    assert s.public_dict()["remote_signer_token"] == "set"


def test_two_key_sources_are_refused():
    s = load_settings(env={"ORACLE_REMOTE_SIGNER_URL": "http://127.0.0.1:1/",
                           "ORACLE_REMOTE_SIGNER_ADDRESS": "0x" + "11" * 20,
                           "ORACLE_PRIVATE_KEY": "0x" + "22" * 32})
    with pytest.raises(SettingsError, match="one signing key source"):
        load_signer(s)


def test_a_remote_signer_url_needs_its_address():
    with pytest.raises(SettingsError, match="go together"):
        load_settings(env={"ORACLE_REMOTE_SIGNER_URL": "http://127.0.0.1:1/"})
