import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import keys, typed_data
from oracle.typed_data import AttestationError, ScoreAttestation

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def make(**kw):
    base = dict(borrower="0x" + "ab" * 20, modelId=b"\x11" * 32, featuresHash=b"\x22" * 32,
                pdBps=1234, score=640, reasonCodes=0x01020304, issuedAt=1_700_000_000,
                validUntil=1_700_086_400, nonce=3, extensionHash=b"\x33" * 32,
                configDigest=b"\x00\x03" + b"\x44" * 30)
    base.update(kw)
    return ScoreAttestation(**base)


def test_type_string_is_the_fixed_interface():
    assert typed_data.ATTESTATION_TYPE == (
        "ScoreAttestation(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,"
        "uint16 score,uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,"
        "bytes32 extensionHash,bytes32 configDigest)")
    assert typed_data.REPORT_TYPE == (
        "ScoreReport(bytes32 configDigest,ScoreEntry[] entries)"
        "ScoreEntry(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,"
        "uint16 score,uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,"
        "bytes32 extensionHash)")


attestations = st.builds(
    ScoreAttestation,
    borrower=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    modelId=st.binary(min_size=32, max_size=32),
    featuresHash=st.binary(min_size=32, max_size=32),
    pdBps=st.integers(0, 2**16 - 1), score=st.integers(0, 2**16 - 1),
    reasonCodes=st.integers(0, 2**32 - 1), issuedAt=st.integers(0, 2**64 - 1),
    validUntil=st.integers(0, 2**64 - 1), nonce=st.integers(0, 2**256 - 1),
    extensionHash=st.binary(min_size=32, max_size=32),
    configDigest=st.binary(min_size=32, max_size=32))


@settings(max_examples=60, deadline=None)
@given(att=attestations, chain_id=st.integers(1, 2**64))
def test_digest_equals_eth_account_generic_eip712_encoder(att, chain_id):
    msg = typed_data.typed_data_message(att, chain_id, REGISTRY)
    expected = _hash_eip191_message(encode_typed_data(full_message=msg))
    assert typed_data.digest(att, typed_data.domain_separator(chain_id, REGISTRY)) == expected


@settings(max_examples=30, deadline=None)
@given(entries=st.lists(attestations, min_size=1, max_size=4), config=st.binary(min_size=32, max_size=32))
def test_report_digest_equals_eth_account_generic_eip712_encoder(entries, config):
    entries = [e.with_(configDigest=config) for e in entries]
    msg = typed_data.typed_data_report(config, entries, 31337, REGISTRY)
    expected = _hash_eip191_message(encode_typed_data(full_message=msg))
    assert typed_data.report_digest(config, entries, typed_data.domain_separator(31337, REGISTRY)) == expected


def test_report_refuses_empty_and_mixed_configs():
    sep = typed_data.domain_separator(1, REGISTRY)
    with pytest.raises(AttestationError):
        typed_data.report_digest(b"\x01" * 32, [], sep)
    with pytest.raises(AttestationError):
        typed_data.report_digest(b"\x01" * 32, [make()], sep)  # make() carries another digest


def test_extension_hash_is_keccak_of_the_abi_encoded_versioned_extension():
    from eth_abi import encode
    from eth_utils import keccak

    words = [bytes([i]) * 32 for i in range(1, 5)]
    assert typed_data.extension_hash(1, *words) == keccak(encode(["uint16"] + ["bytes32"] * 4, [1, *words]))
    with pytest.raises(ValueError):
        typed_data.extension_hash(1, *words[:3])
    with pytest.raises(ValueError):
        typed_data.extension_hash(0)


def test_signature_equals_eth_account_and_recovers():
    key = bytes(range(1, 33))
    att = make()
    msg = typed_data.typed_data_message(att, 31337, REGISTRY)
    theirs = Account.sign_message(encode_typed_data(full_message=msg), key).signature
    signer = keys.Signer(key)
    digest = typed_data.digest(att, typed_data.domain_separator(31337, REGISTRY))
    ours = signer.sign_digest(digest)
    assert ours == bytes(theirs)
    assert keys.recover(digest, ours) == signer.address


def test_every_field_changes_the_digest():
    sep = typed_data.domain_separator(1, REGISTRY)
    base = typed_data.digest(make(), sep)
    changes = dict(borrower="0x" + "cd" * 20, modelId=b"\x12" * 32, featuresHash=b"\x23" * 32,
                   pdBps=1235, score=641, reasonCodes=0x01020305, issuedAt=1_700_000_001,
                   validUntil=1_700_086_401, nonce=4, extensionHash=b"\x34" * 32,
                   configDigest=b"\x00\x03" + b"\x45" * 30)
    for name, value in changes.items():
        assert typed_data.digest(make(**{name: value}), sep) != base, name
    assert typed_data.digest(make(), typed_data.domain_separator(2, REGISTRY)) != base
    assert typed_data.digest(make(), typed_data.domain_separator(1, "0x" + "00" * 19 + "01")) != base


def test_json_round_trip():
    att = make()
    assert ScoreAttestation.from_json(att.to_json()) == att


@pytest.mark.parametrize("field,value", [
    ("pdBps", 2**16), ("pdBps", -1), ("score", 1.5), ("reasonCodes", 2**32), ("nonce", True),
    ("issuedAt", "soon"), ("borrower", "0x1234"), ("modelId", b"\x00" * 31),
])
def test_out_of_range_fields_are_rejected(field, value):
    with pytest.raises(AttestationError):
        make(**{field: value})


def test_from_json_rejects_missing_and_unknown_fields():
    data = make().to_json()
    del data["nonce"]
    with pytest.raises(AttestationError, match="missing"):
        ScoreAttestation.from_json(data)
    data = make().to_json()
    data["extra"] = 1
    with pytest.raises(AttestationError, match="unknown"):
        ScoreAttestation.from_json(data)
