"""EIP-712 typed requests to an oracle node, defined once: who may ask for what.

Pure functions only (no I/O, no clock). `oracle.auth` checks them; `oracle.pull_client` and the
leader's gather (`oracle.node`) build them; `tests/oracle/unit/test_request_types.py` proves each
digest equals eth-account's generic EIP-712 encoder, so any wallet's ``eth_signTypedData_v4``
produces a signature the node accepts.

Domain: ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`` with
name "Scorechain oracle", version "1", the chain id and the CreditScoreRegistry address. The name
differs from the attestations' domain ("Scorechain"), so no request signature can ever be
presented as an attestation signature, or the reverse.

* ``ScoreRequest(address borrower,address requester,bytes32 requestId,uint64 expiresAt)`` — signed
  by `requester`: the borrower, or an address the borrower delegated to. `requestId` is random
  (replay protection), `expiresAt` a unix time a short while ahead.
* ``ScoreDelegation(address borrower,address delegate,uint64 expiresAt)`` — signed by the borrower,
  presented with a ScoreRequest whose requester is `delegate` (no contract involved).
* ``PeerRequest(address peer,string path,bytes32 bodyHash,uint64 timestamp,bytes32 requestId)`` —
  signed by a node's key for every request it sends to a peer's ``/v1/sign``.
"""

from __future__ import annotations

from typing import Any

from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from oracle.typed_data import checksum

DOMAIN_NAME = "Scorechain oracle"
DOMAIN_VERSION = "1"
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

SCORE_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("borrower", "address"), ("requester", "address"), ("requestId", "bytes32"),
    ("expiresAt", "uint64"))
DELEGATION_FIELDS: tuple[tuple[str, str], ...] = (
    ("borrower", "address"), ("delegate", "address"), ("expiresAt", "uint64"))
PEER_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("peer", "address"), ("path", "string"), ("bodyHash", "bytes32"), ("timestamp", "uint64"),
    ("requestId", "bytes32"))

TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "ScoreRequest": SCORE_REQUEST_FIELDS,
    "ScoreDelegation": DELEGATION_FIELDS,
    "PeerRequest": PEER_REQUEST_FIELDS,
}


class RequestFormatError(ValueError):
    """A typed request is missing a field, has an unknown one, or a value of the wrong type."""


def type_string(name: str) -> str:
    return f"{name}(" + ",".join(f"{t} {n}" for n, t in TYPES[name]) + ")"


def domain_separator(chain_id: int, registry: str) -> bytes:
    return keccak(keccak(DOMAIN_TYPE.encode()) + keccak(DOMAIN_NAME.encode())
                  + keccak(DOMAIN_VERSION.encode()) + chain_id.to_bytes(32, "big")
                  + bytes(12) + bytes.fromhex(to_checksum_address(registry)[2:]))


def _word(typ: str, value: Any) -> bytes:
    if typ == "address":
        return bytes(12) + bytes.fromhex(value[2:])
    if typ == "bytes32":
        return value
    if typ == "string":
        return keccak(value.encode())
    return value.to_bytes(32, "big")


def digest(name: str, message: dict[str, Any], separator: bytes) -> bytes:
    """keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message)) of a message `normalise`d first."""
    words = b"".join(_word(t, message[n]) for n, t in TYPES[name])
    return keccak(b"\x19\x01" + separator + keccak(keccak(type_string(name).encode()) + words))


def normalise(name: str, data: Any) -> dict[str, Any]:
    """A message of type `name` from its JSON form (hex strings for bytes32, integers for uints),
    with every field checked; raises RequestFormatError."""
    if not isinstance(data, dict):
        raise RequestFormatError(f"{name} must be a JSON object")
    expected = [n for n, _ in TYPES[name]]
    missing = sorted(set(expected) - data.keys())
    extra = sorted(data.keys() - set(expected))
    if missing or extra:
        raise RequestFormatError(f"{name}: missing fields {missing}, unknown fields {extra}")
    out: dict[str, Any] = {}
    for field, typ in TYPES[name]:
        value = data[field]
        if typ == "address":
            try:
                out[field] = checksum(value)
            except (ValueError, TypeError):
                raise RequestFormatError(f"{name}.{field}: not an address") from None
        elif typ == "bytes32":
            if isinstance(value, (bytes, bytearray)) and len(value) == 32:
                out[field] = bytes(value)
                continue
            if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
                raise RequestFormatError(f"{name}.{field}: expected 0x-prefixed 32-byte hex")
            try:
                out[field] = bytes.fromhex(value[2:])
            except ValueError:
                raise RequestFormatError(f"{name}.{field}: invalid hex") from None
        elif typ == "string":
            if not isinstance(value, str) or len(value) > 256:
                raise RequestFormatError(f"{name}.{field}: expected a short string")
            out[field] = value
        else:  # uint64
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
                raise RequestFormatError(f"{name}.{field}: expected an integer in uint64 range")
            out[field] = value
    return out


def to_json(name: str, message: dict[str, Any]) -> dict[str, Any]:
    return {n: ("0x" + message[n].hex() if t == "bytes32" else message[n]) for n, t in TYPES[name]}


def typed_data_message(name: str, message: dict[str, Any], chain_id: int, registry: str) -> dict:
    """The same message in eth_signTypedData_v4 form: what a borrower's wallet shows and signs."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"},
                             {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            name: [{"name": n, "type": t} for n, t in TYPES[name]],
        },
        "primaryType": name,
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                   "verifyingContract": to_checksum_address(registry)},
        "message": dict(message),
    }

