"""EIP-712 typed data for score attestations and reports, defined once and matching CreditScoreRegistry.

Pure functions only: no I/O. The digest built here is what every oracle node signs and what the
contract's `hashAttestation` returns; `tests/oracle/integration` proves the two are equal on chain
and `tests/oracle/unit` proves this encoder equals eth-account's generic EIP-712 encoder.

Domain: ``EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`` with
name "Scorechain", version "2", the chain id and the CreditScoreRegistry address.

Two signed forms share one entry layout (see ICreditScoreRegistry's NatSpec): a ScoreAttestation
(one borrower, pull mode) is a ScoreEntry's fields followed by the signer-set ``configDigest``; a
ScoreReport is ``(configDigest, ScoreEntry[] entries)``, signed once for many borrowers.
``extensionHash`` is zero or keccak256 of a versioned extension (``extension_hash``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from eth_hash.auto import keccak
from eth_utils import is_hex_address, to_checksum_address

DOMAIN_NAME = "Scorechain"
DOMAIN_VERSION = "2"

# (field, solidity type) in struct order; the single source for encoding, JSON and the ABI tuple.
ENTRY_FIELDS: tuple[tuple[str, str], ...] = (
    ("borrower", "address"),
    ("modelId", "bytes32"),
    ("featuresHash", "bytes32"),
    ("pdBps", "uint16"),
    ("score", "uint16"),
    ("reasonCodes", "uint32"),
    ("issuedAt", "uint64"),
    ("validUntil", "uint64"),
    ("nonce", "uint256"),
    ("extensionHash", "bytes32"),
)
ATTESTATION_FIELDS: tuple[tuple[str, str], ...] = ENTRY_FIELDS + (("configDigest", "bytes32"),)


def _type_string(name: str, members: tuple[tuple[str, str], ...]) -> str:
    return f"{name}(" + ",".join(f"{t} {n}" for n, t in members) + ")"


ENTRY_TYPE = _type_string("ScoreEntry", ENTRY_FIELDS)
ATTESTATION_TYPE = _type_string("ScoreAttestation", ATTESTATION_FIELDS)
REPORT_TYPE = "ScoreReport(bytes32 configDigest,ScoreEntry[] entries)" + ENTRY_TYPE
# A proven score's signed half (CreditScoreRegistry.submitProven): the features commitment, no PD.
FEATURES_FIELDS: tuple[tuple[str, str], ...] = (
    ("borrower", "address"),
    ("modelId", "bytes32"),
    ("featuresCommitment", "bytes32"),
    ("reasonCodes", "uint32"),
    ("issuedAt", "uint64"),
    ("validUntil", "uint64"),
    ("nonce", "uint256"),
    ("extensionHash", "bytes32"),
    ("configDigest", "bytes32"),
)
FEATURES_TYPE = _type_string("FeaturesAttestation", FEATURES_FIELDS)
FEATURES_TYPEHASH = keccak(FEATURES_TYPE.encode())
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
ATTESTATION_TYPEHASH = keccak(ATTESTATION_TYPE.encode())
ENTRY_TYPEHASH = keccak(ENTRY_TYPE.encode())
REPORT_TYPEHASH = keccak(REPORT_TYPE.encode())
DOMAIN_TYPEHASH = keccak(DOMAIN_TYPE.encode())
ZERO32 = bytes(32)
# Extension version 1 (reserved for the bundle manifest, the zk verifying key, the Poseidon
# features commitment and an IPFS content id); zero extensionHash means no extension. The bundle
# manifest's hash is the modelId itself (models/manifest.py), so manifestHash stays zero.
EXTENSION_V1_FIELDS = ("manifestHash", "vkHash", "featuresCommitment", "dataCid")


def extension_hash(version: int, *words: bytes) -> bytes:
    """keccak256(abi.encode(uint16 version, bytes32 ...)): the extensionHash of an extension."""
    if version == 1 and len(words) != len(EXTENSION_V1_FIELDS):
        raise ValueError(f"extension v1 takes {len(EXTENSION_V1_FIELDS)} words: {EXTENSION_V1_FIELDS}")
    if not 0 < version < 1 << 16 or any(len(w) != 32 for w in words):
        raise ValueError("extension: a version in 1..65535 and 32-byte words")
    return keccak(version.to_bytes(32, "big") + b"".join(words))
_UINT_BITS = {"uint16": 16, "uint32": 32, "uint64": 64, "uint256": 256}


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """EIP-55 checksum address (cached: a keccak per call adds up on the signing path).
    Raises ValueError for anything that is not a 20-byte hex address."""
    if not isinstance(address, str) or not is_hex_address(address):
        raise ValueError(f"not an address: {address!r}")
    return to_checksum_address(address)


class AttestationError(ValueError):
    """An attestation field is missing, of the wrong type or out of its Solidity range."""


@dataclass(frozen=True, slots=True)
class ScoreAttestation:
    borrower: str  # checksummed address
    modelId: bytes  # 32 bytes: the bundle id, SHA-256 of the bundle's manifest.json
    featuresHash: bytes  # 32 bytes: see oracle.commitment
    pdBps: int
    score: int
    reasonCodes: int
    issuedAt: int
    validUntil: int
    nonce: int
    extensionHash: bytes = ZERO32  # 32 bytes: zero, or extension_hash(...)
    configDigest: bytes = ZERO32  # 32 bytes: the registry's configDigest() it is signed under

    def __post_init__(self) -> None:
        _normalise(self, ATTESTATION_FIELDS)

    # --- JSON form (hex strings for bytes, ints for numbers) -----------------------------------
    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["modelId"] = "0x" + self.modelId.hex()
        out["featuresHash"] = "0x" + self.featuresHash.hex()
        out["extensionHash"] = "0x" + self.extensionHash.hex()
        out["configDigest"] = "0x" + self.configDigest.hex()
        return out

    @classmethod
    def from_json(cls, data: Any) -> "ScoreAttestation":
        return cls(**_from_json(data, ATTESTATION_FIELDS, "attestation"))

    def as_tuple(self) -> tuple:
        """The ABI tuple in struct order, for web3 contract calls."""
        return tuple(getattr(self, name) for name, _ in ATTESTATION_FIELDS)

    def entry_tuple(self) -> tuple:
        """The ScoreEntry ABI tuple (a report's element)."""
        return tuple(getattr(self, name) for name, _ in ENTRY_FIELDS)

    def with_(self, **changes: Any) -> "ScoreAttestation":
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class FeaturesAttestation:
    """The signed half of a proven score (CreditScoreRegistry.submitProven): the borrower's
    features commitment (Poseidon, the circuit's instance 0) with no PD; the proof brings it."""
    borrower: str
    modelId: bytes
    featuresCommitment: bytes
    reasonCodes: int
    issuedAt: int
    validUntil: int
    nonce: int
    extensionHash: bytes = ZERO32
    configDigest: bytes = ZERO32

    def __post_init__(self) -> None:
        _normalise(self, FEATURES_FIELDS)

    def to_json(self) -> dict[str, Any]:
        return {n: "0x" + getattr(self, n).hex() if t == "bytes32" else getattr(self, n)
                for n, t in FEATURES_FIELDS}

    @classmethod
    def from_json(cls, data: Any) -> "FeaturesAttestation":
        return cls(**_from_json(data, FEATURES_FIELDS, "features attestation"))

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, name) for name, _ in FEATURES_FIELDS)


def features_digest(att: FeaturesAttestation, separator: bytes) -> bytes:
    """The EIP-712 digest of a FeaturesAttestation (CreditScoreRegistry.hashFeaturesAttestation)."""
    words = b"".join(_word_address(v) if t == "address" else v if t == "bytes32" else _word_uint(v)
                     for v, (_, t) in zip(att.as_tuple(), FEATURES_FIELDS))
    return keccak(b"\x19\x01" + separator + keccak(FEATURES_TYPEHASH + words))


def _normalise(obj: Any, members: tuple[tuple[str, str], ...]) -> None:
    """Check each field against its Solidity type (checksumming addresses, bytes for bytes32)."""
    for name, typ in members:
        value = getattr(obj, name)
        if typ == "address":
            try:
                object.__setattr__(obj, name, checksum(value))
            except (ValueError, TypeError):
                raise AttestationError(f"{name}: not an address: {value!r}") from None
        elif typ == "bytes32":
            if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
                raise AttestationError(f"{name}: expected 32 bytes")
            object.__setattr__(obj, name, bytes(value))
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise AttestationError(f"{name}: expected an integer, got {value!r}")
            if not 0 <= value < (1 << _UINT_BITS[typ]):
                raise AttestationError(f"{name}: {value} out of {typ} range")


def _from_json(data: Any, members: tuple[tuple[str, str], ...], what: str) -> dict[str, Any]:
    """Constructor arguments from the JSON form (hex strings for bytes, ints or digit strings)."""
    if not isinstance(data, dict):
        raise AttestationError(f"{what} must be a JSON object")
    names = {n for n, _ in members}
    missing = names - data.keys()
    if missing:
        raise AttestationError(f"{what} is missing fields: {sorted(missing)}")
    extra = data.keys() - names
    if extra:
        raise AttestationError(f"{what} has unknown fields: {sorted(extra)}")
    kwargs: dict[str, Any] = {}
    for name, typ in members:
        value = data[name]
        if typ == "bytes32":
            value = _parse_bytes32(name, value)
        elif typ.startswith("uint") and isinstance(value, str) and value.isdigit():
            value = int(value)
        kwargs[name] = value
    return kwargs


def _parse_bytes32(name: str, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise AttestationError(f"{name}: expected 0x-prefixed 32-byte hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise AttestationError(f"{name}: invalid hex") from exc


def _word_uint(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _word_address(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """keccak256(abi.encode(DOMAIN_TYPEHASH, keccak(name), keccak(version), chainId, contract))."""
    return keccak(
        DOMAIN_TYPEHASH
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + _word_uint(chain_id)
        + _word_address(to_checksum_address(verifying_contract))
    )


def _entry_words(att: ScoreAttestation) -> bytes:
    return (
        _word_address(att.borrower)
        + att.modelId
        + att.featuresHash
        + _word_uint(att.pdBps)
        + _word_uint(att.score)
        + _word_uint(att.reasonCodes)
        + _word_uint(att.issuedAt)
        + _word_uint(att.validUntil)
        + _word_uint(att.nonce)
        + att.extensionHash
    )


def struct_hash(att: ScoreAttestation) -> bytes:
    """keccak256(abi.encode(TYPEHASH, every field in order)): every field is a static 32-byte word."""
    return keccak(ATTESTATION_TYPEHASH + _entry_words(att) + att.configDigest)


def entry_hash(att: ScoreAttestation) -> bytes:
    """The struct hash of `att` as a report's ScoreEntry (its configDigest is the report's)."""
    return keccak(ENTRY_TYPEHASH + _entry_words(att))


def digest(att: ScoreAttestation, separator: bytes) -> bytes:
    """The EIP-712 digest: keccak256(0x1901 ‖ domainSeparator ‖ structHash)."""
    return keccak(b"\x19\x01" + separator + struct_hash(att))


def report_digest(config_digest: bytes, entries: list[ScoreAttestation], separator: bytes) -> bytes:
    """The EIP-712 digest of ScoreReport(configDigest, entries): an array of structs is hashed as
    keccak256 of its elements' struct hashes. Each entry's own configDigest must be the report's."""
    if not entries:
        raise AttestationError("a report needs at least one entry")
    if any(e.configDigest != config_digest for e in entries):
        raise AttestationError("every report entry must carry the report's configDigest")
    entries_hash = keccak(b"".join(entry_hash(e) for e in entries))
    return keccak(b"\x19\x01" + separator + keccak(REPORT_TYPEHASH + config_digest + entries_hash))


_DOMAIN_MEMBERS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _domain(chain_id: int, verifying_contract: str) -> dict:
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
            "verifyingContract": to_checksum_address(verifying_contract)}


def typed_data_message(att: ScoreAttestation, chain_id: int, verifying_contract: str) -> dict:
    """The same data in the generic eth_signTypedData_v4 form (for wallets and cross-checks)."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_MEMBERS,
            "ScoreAttestation": [{"name": n, "type": t} for n, t in ATTESTATION_FIELDS],
        },
        "primaryType": "ScoreAttestation",
        "domain": _domain(chain_id, verifying_contract),
        "message": {n: getattr(att, n) for n, _ in ATTESTATION_FIELDS},
    }


def typed_data_report(config_digest: bytes, entries: list[ScoreAttestation], chain_id: int,
                      verifying_contract: str) -> dict:
    """A ScoreReport in eth_signTypedData_v4 form: what a wallet shows and signs for a batch."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_MEMBERS,
            "ScoreReport": [{"name": "configDigest", "type": "bytes32"},
                            {"name": "entries", "type": "ScoreEntry[]"}],
            "ScoreEntry": [{"name": n, "type": t} for n, t in ENTRY_FIELDS],
        },
        "primaryType": "ScoreReport",
        "domain": _domain(chain_id, verifying_contract),
        "message": {"configDigest": config_digest,
                    "entries": [{n: getattr(e, n) for n, _ in ENTRY_FIELDS} for e in entries]},
    }


def typed_data_features(message: dict, chain_id: int, verifying_contract: str) -> dict:
    """A FeaturesAttestation (the signed half of a proven score) in eth_signTypedData_v4 form;
    `message` maps FEATURES_FIELDS' names to values."""
    missing = [n for n, _ in FEATURES_FIELDS if n not in message]
    if missing:
        raise AttestationError(f"a features attestation needs {missing}")
    return {
        "types": {"EIP712Domain": _DOMAIN_MEMBERS,
                  "FeaturesAttestation": [{"name": n, "type": t} for n, t in FEATURES_FIELDS]},
        "primaryType": "FeaturesAttestation",
        "domain": _domain(chain_id, verifying_contract),
        "message": {n: message[n] for n, _ in FEATURES_FIELDS},
    }
