"""The hand-rolled calldata encoder and log decoders agree with web3 and the ABI."""

import pytest
from eth_abi import encode
from web3 import Web3

from oracle.abi import load_abi
from oracle.chain import (NONCES_SELECTOR_HEX, SCORE_RECORDED_TOPIC, SCORE_REQUESTED_TOPIC,
                          SCORE_SKIPPED_TOPIC, _address_word, _decode_recorded, encode_report,
                          encode_submit)
from oracle.chain.codec import SCORE_REQUESTED_SELECTOR_HEX
from oracle.typed_data import ScoreAttestation

REG = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def att(i):
    return ScoreAttestation(borrower="0x" + f"{i:040x}", modelId=bytes([i]) * 32,
                            featuresHash=bytes([i + 1]) * 32, pdBps=100 + i, score=600 + i,
                            reasonCodes=0x01020304, issuedAt=1000 + i, validUntil=2000 + i,
                            nonce=i, extensionHash=bytes([i + 2]) * 32,
                            configDigest=b"\x00\x02" + bytes([i + 3]) * 30)


def test_calldata_equals_web3_encoding():
    c = Web3().eth.contract(address=REG, abi=load_abi("CreditScoreRegistry"))
    atts = [att(i) for i in range(1, 4)]
    sigs = [[bytes([i]) * 65, bytes([i + 1]) * 65] for i in range(3)]
    assert "0x" + encode_submit(atts, sigs).hex() == c.encode_abi(
        "submitBatch", args=[[a.as_tuple() for a in atts], sigs])
    assert "0x" + encode_submit(atts[:1], sigs[:1]).hex() == c.encode_abi(
        "submit", args=[atts[0].as_tuple(), sigs[0]])
    digest = b"\x00\x02" + b"\x09" * 30
    assert "0x" + encode_report(digest, atts, sigs[0]).hex() == c.encode_abi(
        "submitReport", args=[digest, [a.entry_tuple() for a in atts], sigs[0]])


@pytest.mark.parametrize("borrower", ["0xA514f4E72BafCB5eB6ecFDE0D3aEFCC8eF226f5C",
                                      "0x0000000000000000000000000000000000000001"])
def test_nonces_calldata_equals_web3_encoding(borrower):
    c = Web3().eth.contract(address=REG, abi=load_abi("CreditScoreRegistry"))
    assert NONCES_SELECTOR_HEX + _address_word(borrower) == c.encode_abi("nonces", args=[borrower])
    assert SCORE_REQUESTED_SELECTOR_HEX + _address_word(borrower) == c.encode_abi(
        "scoreRequested", args=[borrower])


def test_nonces_calldata_refuses_a_malformed_address():
    with pytest.raises(ValueError, match="20-byte"):
        _address_word("0x1234")


def test_topics_match_the_abi():
    def topic(contract, name):
        (ev,) = [e for e in load_abi(contract) if e.get("name") == name and e["type"] == "event"]
        sig = f"{name}({','.join(i['type'] for i in ev['inputs'])})"
        return "0x" + Web3.keccak(text=sig).hex().removeprefix("0x")

    assert topic("CreditScoreRegistry", "ScoreRecorded") == SCORE_RECORDED_TOPIC
    assert topic("CreditScoreRegistry", "ScoreSkipped") == SCORE_SKIPPED_TOPIC
    assert topic("LoanManager", "ScoreRequested") == SCORE_REQUESTED_TOPIC


def test_recorded_log_decodes_every_field():
    a = att(7)
    # the record word as CreditScoreRegistry._pack builds it (nonce twice: the request is closed)
    record = (a.pdBps | a.score << 16 | a.reasonCodes << 32 | a.issuedAt << 64
              | a.validUntil << 104 | a.nonce << 144 | a.nonce << 184 | 3 << 224)
    log = {"topics": [bytes.fromhex(SCORE_RECORDED_TOPIC[2:]),
                      bytes(12) + bytes.fromhex(a.borrower[2:]), a.modelId],
           "data": encode(["bytes32", "uint256", "bytes32"], [a.featuresHash, record, a.extensionHash]),
           "blockNumber": 5, "logIndex": 2, "transactionHash": b"\x01" * 32}
    e = _decode_recorded(log)
    assert (e.args.borrower, e.args.modelId, e.args.featuresHash, e.args.pdBps, e.args.score,
            e.args.reasonCodes, e.args.issuedAt, e.args.validUntil, e.args.nonce,
            e.args.extensionHash) == a.entry_tuple()
    assert e.args.modelIndex == 3
    assert (e.blockNumber, e.logIndex) == (5, 2)


def test_a_recorded_log_of_another_layout_is_refused():
    """A ScoreRecorded log whose data is not the three words of today's event (say, the eight of
    the old layout under a wrong topic filter) is an error, not fields read at the wrong offsets."""
    a = att(7)
    log = {"topics": [bytes.fromhex(SCORE_RECORDED_TOPIC[2:]),
                      bytes(12) + bytes.fromhex(a.borrower[2:]), a.modelId],
           "data": bytes(8 * 32), "blockNumber": 5, "logIndex": 2, "transactionHash": b"\x01" * 32}
    with pytest.raises(ValueError, match="expected 96"):
        _decode_recorded(log)
