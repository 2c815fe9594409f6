"""The requests' EIP-712 encoder equals eth-account's generic one, so a wallet's signature over a
ScoreRequest, ScoreDelegation or PeerRequest is what the node checks."""

import pytest
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import request_types, typed_data
from oracle.request_types import RequestFormatError

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
addresses = st.binary(min_size=20, max_size=20).map(lambda b: typed_data.checksum("0x" + b.hex()))
words = st.binary(min_size=32, max_size=32)
u64 = st.integers(0, 2**64 - 1)
MESSAGES = {
    "ScoreRequest": st.fixed_dictionaries({"borrower": addresses, "requester": addresses,
                                           "requestId": words, "expiresAt": u64}),
    "ScoreDelegation": st.fixed_dictionaries({"borrower": addresses, "delegate": addresses,
                                              "expiresAt": u64}),
    "PeerRequest": st.fixed_dictionaries({"peer": addresses, "path": st.text(max_size=40),
                                          "bodyHash": words, "timestamp": u64,
                                          "requestId": words}),
}


def test_type_strings_are_the_fixed_interface():
    assert request_types.type_string("ScoreRequest") == (
        "ScoreRequest(address borrower,address requester,bytes32 requestId,uint64 expiresAt)")
    assert request_types.type_string("ScoreDelegation") == (
        "ScoreDelegation(address borrower,address delegate,uint64 expiresAt)")
    assert request_types.type_string("PeerRequest") == (
        "PeerRequest(address peer,string path,bytes32 bodyHash,uint64 timestamp,"
        "bytes32 requestId)")


@pytest.mark.parametrize("name", sorted(MESSAGES))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), chain_id=st.integers(1, 2**64))
def test_digest_equals_eth_account_generic_eip712_encoder(name, data, chain_id):
    msg = data.draw(MESSAGES[name])
    full = request_types.typed_data_message(name, msg, chain_id, REGISTRY)
    expected = _hash_eip191_message(encode_typed_data(full_message=full))
    assert request_types.digest(name, msg, request_types.domain_separator(chain_id, REGISTRY)) \
        == expected


def test_the_domain_differs_from_the_attestations_domain():
    assert request_types.domain_separator(1, REGISTRY) != typed_data.domain_separator(1, REGISTRY)


def test_json_round_trip():
    msg = {"borrower": "0x" + "ab" * 20, "requester": "0x" + "cd" * 20,
           "requestId": "0x" + "11" * 32, "expiresAt": 5}
    norm = request_types.normalise("ScoreRequest", msg)
    assert request_types.normalise("ScoreRequest", request_types.to_json("ScoreRequest", norm)) \
        == norm


@pytest.mark.parametrize("change", [
    {"borrower": "0x1234"}, {"requestId": "0x12"}, {"requestId": "11" * 32},
    {"requestId": "0x" + "zz" * 32}, {"expiresAt": -1}, {"expiresAt": 2**64},
    {"expiresAt": "5"}, {"expiresAt": True}, {"extra": 1}, {"requester": None}])
def test_malformed_requests_are_refused(change):
    msg = {"borrower": "0x" + "ab" * 20, "requester": "0x" + "cd" * 20,
           "requestId": "0x" + "11" * 32, "expiresAt": 5}
    with pytest.raises(RequestFormatError):
        request_types.normalise("ScoreRequest", {**msg, **change})
    with pytest.raises(RequestFormatError):
        request_types.normalise("ScoreRequest", {k: v for k, v in msg.items() if k != "expiresAt"})
