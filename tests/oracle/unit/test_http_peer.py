"""The peer app with the node faked: authentication comes before anything else, an entry is
co-signed only for a borrower with an open loan request, and a report is signed only when every
entry of it is."""

import json
import secrets
import time
from types import SimpleNamespace

import pytest

from oracle import auth, keys, request_types, typed_data
from oracle.http import create_peer_app
from oracle.node import Refusal
from oracle.settings import load_settings
from tests.oracle.unit.asgi import call

CHAIN_ID, REGISTRY = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SEP = request_types.domain_separator(CHAIN_ID, REGISTRY)
LEADER, ME = keys.Signer(secrets.token_bytes(32)), keys.Signer(secrets.token_bytes(32))
BORROWER = "0x" + "ab" * 20


class FakeNode:
    def __init__(self, open_request):
        self.signer = ME
        self.cosigned = 0
        self.chain = SimpleNamespace(
            chain_id=CHAIN_ID, registry=SimpleNamespace(address=REGISTRY),
            nonces_of=lambda bs: {b: 1 for b in bs}, now=lambda: 1,
            scores_requested=lambda bs: {b: open_request for b in bs})

    def signer_set(self):
        return frozenset({LEADER.address, ME.address}), 2

    def cosign(self, att, nonce, now):
        self.cosigned += 1
        if att.nonce != nonce:
            raise Refusal("nonce differs", status=409)
        return b"\x01" * 65

    def sign_report(self, atts):
        return ME.sign_digest(typed_data.report_digest(atts[0].configDigest, atts, b"\x07" * 32))


def attestation(nonce=1, borrower=BORROWER):
    return typed_data.ScoreAttestation(
        borrower=borrower, modelId=b"\x11" * 32, featuresHash=b"\x33" * 32, pdBps=420,
        score=640, reasonCodes=1, issuedAt=1, validUntil=86_401, nonce=nonce)


def body(*atts, report=None) -> bytes:
    out = {"attestations": [a.to_json() for a in atts or (attestation(),)]}
    if report is not None:
        out["report"] = report
    return json.dumps(out).encode()


def sign(node, data: bytes, signer=LEADER):
    app = create_peer_app(node, load_settings(env={}))
    return call(app, "POST", "/v1/sign", data, auth.peer_headers(signer, SEP, data,
                                                                 int(time.time())))


@pytest.mark.parametrize("open_request,signed", [(True, True), (False, False)])
def test_an_entry_is_cosigned_only_for_an_open_loan_request(open_request, signed):
    node = FakeNode(open_request)
    status, out = sign(node, body())
    (res,) = out["results"]
    assert status == 200 and ("signature" in res) == signed
    if not signed:
        assert res == {"error": "the borrower has no open loan request",
                       "reasons": ["the borrower has no open loan request"], "status": 409}
        assert node.cosigned == 0


def test_an_unauthenticated_malformed_body_gets_401_not_422():
    node = FakeNode(True)
    app = create_peer_app(node, load_settings(env={}))
    status, out = call(app, "POST", "/v1/sign", b"{not json")
    assert status == 401 and "missing headers" in out["error"]


def test_an_authenticated_malformed_body_gets_422():
    status, out = sign(FakeNode(True), b"{not json")
    assert status == 422 and out["error"] == "invalid request"


def test_a_stranger_gets_403_and_nothing_is_cosigned():
    node = FakeNode(True)
    status, out = sign(node, body(), signer=keys.Signer(secrets.token_bytes(32)))
    assert status == 403 and "not a registered signer" in out["error"] and node.cosigned == 0


@pytest.mark.parametrize("nonces,report,signed", [
    ((1, 1), True, True),     # every entry co-signed: the report too
    ((1, 2), True, False),    # one refused: no report signature (the leader falls back)
    ((1, 1), None, False),    # not asked for
])
def test_a_report_is_signed_only_when_asked_and_every_entry_is_cosigned(nonces, report, signed):
    atts = [attestation(n, borrower="0x" + f"{i + 1:040x}") for i, n in enumerate(nonces)]
    status, out = sign(FakeNode(True), body(*atts, report=report))
    assert status == 200 and ("report_signature" in out) == signed
    if signed:
        digest = typed_data.report_digest(atts[0].configDigest, atts, b"\x07" * 32)
        assert keys.recover(digest, bytes.fromhex(out["report_signature"][2:])) == ME.address


def test_features_attestations_are_parsed_as_such_and_never_signed_as_a_report():
    """kind "features": each entry must be a FeaturesAttestation (a ScoreAttestation is malformed
    there), is co-signed like any entry, and a report over them is refused before any signing."""
    node = FakeNode(True)
    features = typed_data.FeaturesAttestation(
        borrower=BORROWER, modelId=b"\x11" * 32, featuresCommitment=b"\x44" * 32, reasonCodes=1,
        issuedAt=1, validUntil=86_401, nonce=1)
    data = json.dumps({"attestations": [features.to_json(), attestation().to_json()],
                       "kind": "features"}).encode()
    status, out = sign(node, data)
    assert status == 200 and "signature" in out["results"][0] and node.cosigned == 1
    assert out["results"][1]["status"] == 422 and "missing fields" in out["results"][1]["error"]
    data = json.dumps({"attestations": [features.to_json()], "kind": "features", "report": True}).encode()
    status, out = sign(node, data)
    assert status == 422 and "not signed as a report" in out["error"] and node.cosigned == 1
