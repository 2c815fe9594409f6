"""Calldata and log codec of the Scorechain contracts, by hand (web3's encoders and event
decoders re-resolve the ABI and format every field: ~ms per call, the largest cost under load).
`tests/oracle/unit/test_chain_codec.py` checks every function here against web3 and the ABI."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from oracle.typed_data import ATTESTATION_FIELDS, ENTRY_FIELDS, ScoreAttestation, checksum

SCORE_REQUESTED_TOPIC = "0x" + keccak(
    b"ScoreRequested(uint256,address,uint256,uint16,uint64)").hex()
SCORE_RECORDED_TOPIC = "0x" + keccak(b"ScoreRecorded(address,bytes32,bytes32,uint256,bytes32)").hex()
# ScoreRecorded's `record`: the borrower's record slot as stored (ICreditScoreRegistry.ScoreRecord),
# (field, lowest bit, width); the next nonce (bits 184-223) equals nonce once recorded.
RECORD_LAYOUT = (("pdBps", 0, 16), ("score", 16, 16), ("reasonCodes", 32, 32), ("issuedAt", 64, 40),
                 ("validUntil", 104, 40), ("nonce", 144, 40), ("modelIndex", 224, 16))
SCORE_SKIPPED_TOPIC = "0x" + keccak(b"ScoreSkipped(uint256,address,uint256,bytes)").hex()
_ATT_TUPLE = "(" + ",".join(t for _, t in ATTESTATION_FIELDS) + ")"
_ENTRY_TUPLE = "(" + ",".join(t for _, t in ENTRY_FIELDS) + ")"
NONCES_SELECTOR_HEX = "0x" + keccak(b"nonces(address)")[:4].hex()
SCORE_REQUESTED_SELECTOR_HEX = "0x" + keccak(b"scoreRequested(address)")[:4].hex()
SUBMIT_SELECTOR = keccak(f"submit({_ATT_TUPLE},bytes[])".encode())[:4]
SUBMIT_BATCH_SELECTOR = keccak(f"submitBatch({_ATT_TUPLE}[],bytes[][])".encode())[:4]
SUBMIT_REPORT_SELECTOR = keccak(f"submitReport(bytes32,{_ENTRY_TUPLE}[],bytes[])".encode())[:4]


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _address_word(address: str) -> str:
    """An address as one 32-byte ABI word, hex without 0x."""
    raw = bytes.fromhex(address.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"not a 20-byte address: {address!r}")
    return raw.rjust(32, b"\0").hex()


def _block_param(block: int | str) -> str:
    return hex(block) if isinstance(block, int) else block


def _bytes(value: Any) -> bytes:
    """Raw JSON-RPC hex strings and web3's HexBytes alike (receipts come through web3)."""
    return bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else bytes(value)


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _topic_address(topic: Any) -> str:
    return checksum("0x" + _bytes(topic)[-20:].hex())


def _event(log: Any, **args: Any) -> SimpleNamespace:
    block_hash = log.get("blockHash")
    return SimpleNamespace(args=SimpleNamespace(**args), blockNumber=_int(log["blockNumber"]),
                           logIndex=_int(log["logIndex"]),
                           transactionHash=_bytes(log["transactionHash"]),
                           blockHash=_hex(block_hash).lower() if block_hash else None)


def unpack_record(record: int) -> dict[str, int]:
    """The fields of a ScoreRecorded `record` word (RECORD_LAYOUT)."""
    return {name: (int(record) >> low) & ((1 << width) - 1) for name, low, width in RECORD_LAYOUT}


def _decode_recorded(log: Any) -> SimpleNamespace:
    data = _bytes(log["data"])
    if len(data) != 3 * 32:
        raise ValueError(f"ScoreRecorded data: {len(data)} bytes, expected 96")
    return _event(log, borrower=_topic_address(log["topics"][1]),
                  modelId=_bytes(log["topics"][2]), featuresHash=data[:32],
                  **unpack_record(int.from_bytes(data[32:64], "big")), extensionHash=data[64:])


def encode_submit(atts: list[ScoreAttestation], sigs: list[list[bytes]]) -> bytes:
    """Calldata of submit (one entry) or submitBatch, encoded with eth_abi directly (web3's
    encode_abi validates and normalises every value again: ~10x slower for big batches)."""
    if len(atts) == 1:
        return SUBMIT_SELECTOR + abi_encode([_ATT_TUPLE, "bytes[]"],
                                            [atts[0].as_tuple(), sigs[0]])
    return SUBMIT_BATCH_SELECTOR + abi_encode([_ATT_TUPLE + "[]", "bytes[][]"],
                                              [[a.as_tuple() for a in atts], sigs])


def encode_report(config_digest: bytes, atts: list[ScoreAttestation], sigs: list[bytes]) -> bytes:
    """Calldata of submitReport: k signatures over the ScoreReport of every entry."""
    return SUBMIT_REPORT_SELECTOR + abi_encode(["bytes32", _ENTRY_TUPLE + "[]", "bytes[]"],
                                               [config_digest, [a.entry_tuple() for a in atts], sigs])


def _decode_raw(raw: bytes) -> dict:
    """Fields of a signed type-2 transaction, to re-sign with new fees."""
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    tx = TypedTransaction.from_bytes(HexBytes(raw))  # the checkpoint stores plain bytes
    d = tx.as_dict()
    out = {
        "type": 2, "chainId": d["chainId"], "nonce": d["nonce"], "to": to_checksum_address(d["to"]),
        "data": "0x" + bytes(d["data"]).hex(), "value": d["value"], "gas": d["gas"],
        "maxFeePerGas": d["maxFeePerGas"], "maxPriorityFeePerGas": d["maxPriorityFeePerGas"],
    }
    return out
