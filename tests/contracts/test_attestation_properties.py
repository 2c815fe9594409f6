"""Property tests on attestations: eth-account's EIP-712 digest equals hashAttestation, and every
kind of tampering or misuse is rejected (fields, signers, quorum, domain, expiry, model, nonce, age)."""

import brownie
import pytest
from brownie import accounts, chain
from brownie.test import given, strategy
from eth_account import Account
from hypothesis import HealthCheck, settings

from scripts.scorechain_testkit import (
    MODEL_ID,
    OUTSIDER,
    REGISTERED_ORACLES,
    as_tuple,
    digest,
    err,
    fuzz_profile,
    sign,
)

EXAMPLES = 200 if fuzz_profile() == "full" else 15
SIGNATURE_ONLY_FIELDS = ["borrower", "featuresHash", "pdBps", "score", "reasonCodes", "validUntil", "issuedAt"]


def now():
    return chain[-1].timestamp


@pytest.fixture(scope="module")
def live(approved_model, oracle, scores):
    """A borrower with one recorded score (so issuedAt/nonce history exists) and a loan request
    open since; accounts[6] has an open request and no history."""
    b = accounts[5]
    oracle.open_request(b)
    att = oracle.attestation(b, issued_at=now() - 3600, valid_for=7200)
    oracle.submit(att, sender=b)
    oracle.open_request(b)
    oracle.open_request(accounts[6])
    return b


# Nine wide integer/bytes strategies at once can trip hypothesis's data-size health check.
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.data_too_large])
@given(
    borrower=strategy("address"),
    model=strategy("bytes32"),
    features=strategy("bytes32"),
    pd=strategy("uint16"),
    score=strategy("uint16"),
    codes=strategy("uint32"),
    issued=strategy("uint64"),
    valid=strategy("uint64"),
    nonce=strategy("uint256"),
    extension=strategy("bytes32"),
    config=strategy("bytes32"),
)
def test_contract_digest_equals_eth_account_typed_data(scores, borrower, model, features, pd, score, codes, issued,
                                                       valid, nonce, extension, config):
    att = {"borrower": str(borrower), "modelId": "0x" + bytes(model).hex(), "featuresHash": "0x" + bytes(features).hex(),
           "pdBps": pd, "score": score, "reasonCodes": codes, "issuedAt": issued, "validUntil": valid, "nonce": nonce,
           "extensionHash": "0x" + bytes(extension).hex(), "configDigest": "0x" + bytes(config).hex()}
    assert bytes(scores.hashAttestation(as_tuple(att))) == digest(att, chain.id, scores.address)


@settings(max_examples=EXAMPLES)
@given(field=strategy("uint8", max_value=len(SIGNATURE_ONLY_FIELDS) - 1), delta=strategy("uint16", min_value=1,
                                                                                           max_value=500))
def test_changing_any_single_field_breaks_the_signatures(scores, oracle, live, field, delta):
    b = live
    att = oracle.attestation(b, pd_bps=1000, score=650, issued_at=now() - 1800, reason_codes=0x01020304)
    sigs = oracle.sign(att)
    name = SIGNATURE_ONLY_FIELDS[field]
    forged = dict(att)
    if name == "borrower":
        forged["borrower"] = accounts[6].address  # open request, no history: only the signature is wrong
        forged["nonce"] = scores.nonces(accounts[6])
    elif name == "featuresHash":
        forged["featuresHash"] = "0x" + (int(att["featuresHash"], 16) ^ delta).to_bytes(32, "big").hex()
    elif name in ("issuedAt",):
        forged[name] = att[name] - delta  # still newer than the recorded score (1 hour old)
    else:
        forged[name] = att[name] + delta
    nonce_before = scores.nonces(b)
    with brownie.reverts(revert_pattern=r"CreditScoreUnknownSigner: 0x[0-9a-f]{40}"):
        scores.submit(as_tuple(forged), sigs, {"from": accounts[9]})
    assert scores.nonces(b) == nonce_before
    # The untouched attestation is accepted with the very same signatures (so the test can fail).
    scores.submit(as_tuple(att), sigs, {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(extra=strategy("uint256", min_value=1, max_value=2**64))
def test_modelid_or_nonce_change_is_rejected(scores, oracle, live, extra):
    att = oracle.attestation(live, issued_at=now() - 60)
    sigs = oracle.sign(att)
    other_model = dict(att, modelId="0x" + ((int(MODEL_ID, 16) + extra) % 2**256).to_bytes(32, "big").hex())
    with brownie.reverts(err("CreditScoreModelNotApproved", other_model["modelId"])):
        scores.submit(as_tuple(other_model), sigs, {"from": accounts[9]})
    other_nonce = dict(att, nonce=att["nonce"] + extra)
    with brownie.reverts(err("CreditScoreInvalidNonce", live, other_nonce["nonce"], att["nonce"])):
        scores.submit(as_tuple(other_nonce), sigs, {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(chain_id=strategy("uint64"), contract=strategy("address"), use_chain=strategy("bool"))
def test_signature_for_another_domain_is_rejected(scores, oracle, live, chain_id, contract, use_chain):
    att = oracle.attestation(live, issued_at=now() - 60)
    if use_chain:
        cid, vc = (chain_id if chain_id != chain.id else chain_id + 1), scores.address
    else:
        cid, vc = chain.id, str(contract)
    sigs = sign(att, REGISTERED_ORACLES[:3], cid, vc)
    with brownie.reverts(revert_pattern=r"CreditScoreUnknownSigner: 0x[0-9a-f]{40}"):
        scores.submit(as_tuple(att), sigs, {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(k=strategy("uint8", min_value=1, max_value=5), short=strategy("uint8", min_value=1, max_value=5))
def test_fewer_than_k_signatures_are_rejected(scores, oracle, live, admin, k, short):
    scores.setThreshold(k, {"from": admin})
    provided = max(0, k - short)
    att = oracle.attestation(live, issued_at=now() - 60)
    sigs = sign(att, REGISTERED_ORACLES[:provided], chain.id, scores.address)
    with brownie.reverts(err("CreditScoreInsufficientSignatures", provided, k)):
        scores.submit(as_tuple(att), sigs, {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(first=strategy("uint8", max_value=2), dup=strategy("uint8", max_value=4))
def test_duplicated_signer_among_the_first_k_is_rejected(scores, oracle, live, first, dup):
    """k = 3 signatures from two signers, the duplicate in any position: rejected (a duplicate after
    k valid distinct ones is ignored instead, see test_credit_score_registry)."""
    att = oracle.attestation(live, issued_at=now() - 60)
    twice = REGISTERED_ORACLES[dup % 3]
    other = REGISTERED_ORACLES[(dup + 1) % 3]
    signers = [twice, twice]
    signers.insert(first % 3, other)
    sigs = sign(att, signers, chain.id, scores.address)
    with brownie.reverts(err("CreditScoreDuplicateSigner", twice.address)):
        scores.submit(as_tuple(att), sigs, {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(position=strategy("uint8", max_value=2))
def test_non_signer_in_any_position_is_rejected(scores, oracle, live, position):
    att = oracle.attestation(live, issued_at=now() - 60)
    signers = list(REGISTERED_ORACLES[:2])
    signers.insert(position, OUTSIDER)
    with brownie.reverts(err("CreditScoreUnknownSigner", OUTSIDER.address)):
        scores.submit(as_tuple(att), sign(att, signers, chain.id, scores.address), {"from": accounts[9]})
    fresh = Account.create()
    signers[position] = fresh
    with brownie.reverts(err("CreditScoreUnknownSigner", fresh.address)):
        scores.submit(as_tuple(att), sign(att, signers, chain.id, scores.address), {"from": accounts[9]})


@settings(max_examples=EXAMPLES)
@given(age=strategy("uint32", min_value=1, max_value=10**7), lifetime=strategy("uint32", max_value=10**7))
def test_expired_attestation_is_rejected(scores, oracle, live, age, lifetime):
    t = now()
    issued = t - age - lifetime
    att = oracle.attestation(live, issued_at=max(issued, 1), valid_for=lifetime)
    if att["validUntil"] > t + 100:
        return
    with brownie.reverts(revert_pattern=r"CreditScore(Expired|Stale): .*"):
        oracle.submit(att, sender=accounts[9])


@settings(max_examples=EXAMPLES)
@given(back=strategy("uint32", min_value=0, max_value=10**6))
def test_older_issued_at_is_rejected(scores, oracle, live, back):
    last = scores.latestScore(live)["issuedAt"]
    att = oracle.attestation(live, issued_at=last - back, valid_for=back + 7200)
    with brownie.reverts(err("CreditScoreStale", live, last - back, last)):
        oracle.submit(att, sender=accounts[9])


@settings(max_examples=5)
@given(reason=strategy("uint8"))
def test_revoked_model_attestation_is_rejected(scores, oracle, live, models, approver, reason):
    att = oracle.attestation(live, issued_at=now() - 60)
    sigs = oracle.sign(att)
    models.revoke(MODEL_ID, reason, {"from": approver})
    with brownie.reverts(err("CreditScoreModelNotApproved", MODEL_ID)):
        scores.submit(as_tuple(att), sigs, {"from": accounts[9]})
    chain.undo()  # un-revoke for the next example


def test_a_second_score_for_the_same_request_is_rejected(scores, oracle, live):
    att = oracle.attestation(live, issued_at=now() - 60)
    sigs = oracle.sign(att)
    scores.submit(as_tuple(att), sigs, {"from": accounts[9]})
    replay = dict(att, issuedAt=att["issuedAt"] + 1)  # newer, validly signed, same request
    with brownie.reverts(err("CreditScoreNoOpenRequest", live)):
        scores.submit(as_tuple(replay), oracle.sign(replay), {"from": accounts[9]})
