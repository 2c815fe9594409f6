"""The Python EIP-712 digests equal the contract's `hashAttestation` and `hashReport`, Python
signatures are accepted by `submit` and `submitReport`, and the signer set a config digest names is
found from its ConfigSet event."""

import secrets

import brownie
import pytest
from brownie import CreditScoreRegistry, ModelRegistry, accounts, chain, web3
from brownie.test import given
from hypothesis import settings
from hypothesis import strategies as st

from oracle import keys, typed_data
from oracle.typed_data import ScoreAttestation
from scripts.scorechain_testkit import recorded

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
    registry = CreditScoreRegistry.deploy(admin, models, [s.address for s in signers], 2, {"from": admin})
    # admin opens score requests as LoanManager.request would (advanceNonce)
    registry.grantRole(registry.SCORE_REQUESTER_ROLE(), admin, {"from": admin})
    return registry


u = st.integers
attestations = st.builds(
    ScoreAttestation,
    borrower=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    modelId=st.binary(min_size=32, max_size=32), featuresHash=st.binary(min_size=32, max_size=32),
    pdBps=u(0, 2**16 - 1), score=u(0, 2**16 - 1), reasonCodes=u(0, 2**32 - 1),
    issuedAt=u(0, 2**64 - 1), validUntil=u(0, 2**64 - 1), nonce=u(0, 2**256 - 1),
    extensionHash=st.binary(min_size=32, max_size=32), configDigest=st.binary(min_size=32, max_size=32))


@settings(max_examples=25, deadline=None)
@given(att=attestations)
def test_python_digest_equals_hash_attestation(registry, att):
    sep = typed_data.domain_separator(chain.id, registry.address)
    assert bytes(registry.hashAttestation(att.as_tuple())) == typed_data.digest(att, sep)


def test_domain_separator_equals_contract(registry):
    assert bytes(registry.domainSeparator()) == typed_data.domain_separator(chain.id,
                                                                          registry.address)


def test_python_signatures_are_accepted_on_chain(registry, signers):
    registry.advanceNonce(accounts[5], {"from": accounts[0]})
    now = web3.eth.get_block("latest").timestamp
    att = ScoreAttestation(borrower=accounts[5].address, modelId=MODEL_ID,
                           featuresHash=b"\x01" * 32, pdBps=250, score=700,
                           reasonCodes=0x01020300, issuedAt=now - 5, validUntil=now + 3600,
                           nonce=registry.nonces(accounts[5]),
                           configDigest=bytes(registry.configDigest()))
    digest = typed_data.digest(att, typed_data.domain_separator(chain.id, registry.address))
    sigs = [s.sign_digest(digest) for s in signers[:2]]
    with brownie.reverts():  # one signature is below the threshold
        registry.submit(att.as_tuple(), sigs[:1], {"from": accounts[0]})
    tx = registry.submit(att.as_tuple(), sigs, {"from": accounts[0]})
    ev = recorded(tx.events["ScoreRecorded"])
    assert ev["borrower"] == att.borrower and ev["pdBps"] == 250 and ev["nonce"] == att.nonce


@settings(max_examples=10, deadline=None)
@given(entries=st.lists(attestations, min_size=1, max_size=3))
def test_python_report_digest_equals_hash_report(registry, entries):
    config = bytes(registry.configDigest())
    entries = [e.with_(configDigest=config) for e in entries]
    sep = typed_data.domain_separator(chain.id, registry.address)
    assert bytes(registry.hashReport(config, [e.entry_tuple() for e in entries])) == \
        typed_data.report_digest(config, entries, sep)


def test_python_report_signatures_are_accepted_on_chain(registry, signers):
    for i in (6, 7):
        registry.advanceNonce(accounts[i], {"from": accounts[0]})
    now = web3.eth.get_block("latest").timestamp
    config = bytes(registry.configDigest())
    entries = [ScoreAttestation(borrower=accounts[i].address, modelId=MODEL_ID,
                                featuresHash=bytes([i]) * 32, pdBps=100 * i, score=600 + i,
                                reasonCodes=0, issuedAt=now - 5, validUntil=now + 3600,
                                nonce=registry.nonces(accounts[i]), configDigest=config)
               for i in (6, 7)]
    digest = typed_data.report_digest(config, entries, typed_data.domain_separator(chain.id,
                                                                                   registry.address))
    sigs = [s.sign_digest(digest) for s in signers[:2]]
    tx = registry.submitReport(config, [e.entry_tuple() for e in entries], sigs, {"from": accounts[0]})
    assert [e["borrower"] for e in tx.events["ScoreRecorded"]] == [accounts[6], accounts[7]]


def test_chain_finds_the_signer_set_a_digest_names_by_walking_config_set_events(registry, signers):
    from oracle.chain import Chain
    from oracle.settings import load_settings

    c = Chain(load_settings(env={}, registry_address=registry.address), w3=web3)
    first = bytes(registry.configDigest())
    admin = accounts[0]
    registry.grantRole(registry.ORACLE_ADMIN_ROLE(), admin, {"from": admin})
    extra = keys.Signer(secrets.token_bytes(32))
    registry.addSigner(extra.address, {"from": admin})
    second = bytes(registry.configDigest())
    registry.setThreshold(3, {"from": admin})
    third = bytes(registry.configDigest())
    assert c.config_at(first) == ([s.address for s in signers], 2)
    assert c.config_at(second) == ([s.address for s in signers] + [extra.address], 2)
    assert c.config_at(third) == ([s.address for s in signers] + [extra.address], 3)
    assert c.config_at(b"\x00" * 32) is None
    assert c.signer_config() == (registry.signers(), 3, third)


def test_chain_replays_a_mined_reverted_transaction_for_its_reason(registry):
    """A transaction that reverted on chain (sent with a fixed gas limit, so no estimate stopped
    it) is replayed on its parent block's state and its custom error decoded; one that succeeded
    has no reason."""
    from oracle.chain import Chain
    from oracle.settings import load_settings

    c = Chain(load_settings(env={}, registry_address=registry.address), w3=web3)
    config = bytes(registry.configDigest())
    sent = web3.eth.send_transaction({"from": accounts[0].address, "to": registry.address, "gas": 300_000,
                                      "data": registry.submitReport.encode_input(config, [], [])})
    receipt = web3.eth.wait_for_transaction_receipt(sent)
    assert receipt["status"] == 0
    assert c.revert_reason("0x" + bytes(sent).hex(), receipt["blockNumber"]) == "CreditScoreEmptyReport()"
    ok = web3.eth.send_transaction({"from": accounts[0].address, "to": accounts[1].address, "value": 1})
    assert c.revert_reason("0x" + bytes(ok).hex(), web3.eth.wait_for_transaction_receipt(ok)["blockNumber"]) is None
