"""The public app's pull route with the node faked: the order of its checks, the open-request
rule, and the cache — without a chain."""

import json
from types import SimpleNamespace

from eth_account import Account

from oracle import pull_client, typed_data
from oracle.http import create_public_app
from oracle.node import Signed
from oracle.settings import load_settings
from tests.oracle.unit.asgi import call

CHAIN_ID, REGISTRY = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
BORROWER = Account.create()


class FakeNode:
    def __init__(self, open_request):
        self.open_request = open_request
        self.nonce = 1
        self.attested = 0
        self.chain = SimpleNamespace(chain_id=CHAIN_ID, registry=SimpleNamespace(address=REGISTRY),
                                     score_requested=lambda b: self.open_request,
                                     nonce_of=lambda b: self.nonce)
        self.model = SimpleNamespace(model_id=b"\x11" * 32)
        self.separator = typed_data.domain_separator(CHAIN_ID, REGISTRY)

    def config_digest(self):
        return b"\x00\x01" + b"\x22" * 30

    def signer_set(self):
        return frozenset({"0x" + "aa" * 20}), 1

    def attest_local(self, borrower, nonce):
        self.attested += 1
        att = typed_data.ScoreAttestation(
            borrower=borrower, modelId=b"\x11" * 32, featuresHash=b"\x33" * 32, pdBps=420,
            score=640, reasonCodes=1, issuedAt=1, validUntil=86_401, nonce=nonce)
        return Signed(att, None, {"0x" + "aa" * 20: b"\x01" * 65})

    def gather(self, batch, pool=None):
        return batch


def post(app, body: dict) -> tuple[int, dict]:
    return call(app, "POST", "/v1/score", json.dumps(body).encode())


def app_for(node):
    return create_public_app(node, load_settings(env={"ORACLE_PUBLIC_RATE_LIMIT": "100/second"}))


def signed_request():
    return pull_client.score_request(BORROWER.key, CHAIN_ID, REGISTRY)


def test_no_open_loan_request_means_nothing_is_signed():
    node = FakeNode(open_request=False)
    status, body = post(app_for(node), signed_request())
    assert status == 409 and "no open loan request" in body["error"]
    assert set(body) == {"error"} and node.attested == 0


def test_an_open_request_gets_the_attestation_and_a_repeat_comes_from_the_cache():
    node = FakeNode(open_request=True)
    app = app_for(node)
    status, body = post(app, signed_request())
    assert status == 200 and body["attestation"]["borrower"] == BORROWER.address
    status, again = post(app, signed_request())
    assert status == 200 and again == body and node.attested == 1
    node.nonce = 2  # a new loan request moved the nonce: gathered afresh
    status, fresh = post(app, signed_request())
    assert status == 200 and fresh["attestation"]["nonce"] == 2 and node.attested == 2


def test_a_chain_error_shows_its_kind_not_its_text():
    node = FakeNode(open_request=True)

    def down(b):
        raise ConnectionError("HTTPSConnectionPool(host='rpc.example', path='/v3/KEY123')")

    node.chain.nonce_of = down
    status, body = post(app_for(node), signed_request())
    assert status == 503 and body == {"error": "chain unavailable (ConnectionError)"}


def test_a_proof_is_refused_by_a_node_without_a_circuit_and_a_malformed_flag_is_422():
    node = FakeNode(open_request=True)
    status, body = post(app_for(node), {**signed_request(), "proof": True})
    assert status == 409 and "ORACLE_ZK_CIRCUIT_DIR" in body["error"] and node.attested == 0
    status, body = post(app_for(node), {**signed_request(), "proof": "yes"})
    assert status == 422 and "proof must be true or false" in body["error"]


def test_one_proof_at_a_time_a_second_is_told_to_retry_and_a_repeat_comes_from_the_cache(
        monkeypatch, tmp_path):
    """A proof takes both cores for seconds: a pull arriving while one is made gets 503 at once
    instead of queueing behind it; the finished proof is cached like a signed answer."""
    import oracle.proving

    node = FakeNode(open_request=True)
    app = create_public_app(node, load_settings(env={"ORACLE_PUBLIC_RATE_LIMIT": "100/second",
                                                     "ORACLE_ZK_CIRCUIT_DIR": str(tmp_path)}))
    seen = []

    def proving(node_, borrower, nonce, circuit_dir, pool=None):
        seen.append(post(app, {**signed_request(), "proof": True}))  # arrives meanwhile
        return {"proof": "0x01", "pdBps": 420, "borrower": borrower}

    monkeypatch.setattr(oracle.proving, "pulled_proof", proving)
    status, body = post(app, {**signed_request(), "proof": True})
    assert status == 200 and body["borrower"] == BORROWER.address
    assert seen == [(503, {"error": "busy proving another score: retry shortly"})]
    assert post(app, {**signed_request(), "proof": True}) == (200, body) and len(seen) == 1
