"""The Python EIP-712 digest equals the contract's `hashAttestation`, and a Python signature is
accepted by `submit`."""

import secrets

import brownie
import pytest
from brownie import CreditScoreRegistry, ModelRegistry, accounts, chain, web3
from brownie.test import given
from hypothesis import settings
from hypothesis import strategies as st

from oracle import keys, typed_data
from oracle.typed_data import ScoreAttestation

MODEL_ID = bytes.fromhex("aa" * 32)


@pytest.fixture(scope="module")
def signers():
    return [keys.Signer(secrets.token_bytes(32)) for _ in range(3)]


@pytest.fixture(scope="module")
def registry(signers):
    admin = accounts[0]
    models = ModelRegistry.deploy(admin, {"from": admin})
    models.grantRole(models.MODEL_REGISTRAR_ROLE(), accounts[1], {"from": admin})
    models.grantRole(models.MODEL_APPROVER_ROLE(), accounts[2], {"from": admin})
    models.register(MODEL_ID, b"\x00" * 32, b"\x00" * 32, b"\x00" * 32, "test", 1,
                    {"from": accounts[1]})
    models.approve(MODEL_ID, {"from": accounts[2]})
    return CreditScoreRegistry.deploy(admin, models, [s.address for s in signers], 2,
                                      {"from": admin})


u = st.integers
attestations = st.builds(
    ScoreAttestation,
    borrower=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    modelId=st.binary(min_size=32, max_size=32), featuresHash=st.binary(min_size=32, max_size=32),
    pdBps=u(0, 2**16 - 1), score=u(0, 2**16 - 1), reasonCodes=u(0, 2**32 - 1),
    issuedAt=u(0, 2**64 - 1), validUntil=u(0, 2**64 - 1), nonce=u(0, 2**256 - 1))


@settings(max_examples=25, deadline=None)
@given(att=attestations)
def test_python_digest_equals_hash_attestation(registry, att):
    sep = typed_data.domain_separator(chain.id, registry.address)
    assert bytes(registry.hashAttestation(att.as_tuple())) == typed_data.digest(att, sep)


def test_domain_separator_equals_contract(registry):
    assert bytes(registry.domainSeparator()) == typed_data.domain_separator(chain.id,
                                                                          registry.address)


def test_python_signatures_are_accepted_on_chain(registry, signers):
    now = web3.eth.get_block("latest").timestamp
    att = ScoreAttestation(borrower=accounts[5].address, modelId=MODEL_ID,
                           featuresHash=b"\x01" * 32, pdBps=250, score=700,
                           reasonCodes=0x01020300, issuedAt=now - 5, validUntil=now + 3600,
                           nonce=registry.nonces(accounts[5]))
    digest = typed_data.digest(att, typed_data.domain_separator(chain.id, registry.address))
    sigs = [s.sign_digest(digest) for s in signers[:2]]
    with brownie.reverts():  # one signature is below the threshold
        registry.submit(att.as_tuple(), sigs[:1], {"from": accounts[0]})
    tx = registry.submit(att.as_tuple(), sigs, {"from": accounts[0]})
    ev = tx.events["ScoreRecorded"]
    assert ev["borrower"] == att.borrower and ev["pdBps"] == 250 and ev["nonce"] == att.nonce
