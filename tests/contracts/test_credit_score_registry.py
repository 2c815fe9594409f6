"""CreditScoreRegistry: quorum submission, every rejection path, batches, signer-set admin, views."""

import brownie
import pytest
from brownie import CreditScoreRegistry, accounts, chain
from eth_abi import decode
from eth_utils import keccak

from scripts.scorechain_testkit import (
    recorded,
    MODEL_ID,
    MODEL_ID_2,
    OUTSIDER,
    REGISTERED_ORACLES,
    as_tuple,
    digest,
    pack_reason_codes,
    err,
    role_err,
    sign,
)


def now():
    return chain[-1].timestamp


def lower(a):
    return str(a).lower()


@pytest.fixture(autouse=True)
def open_requests(isolation, oracle, borrower, borrower2):
    """A score request open for each borrower these tests score (as a loan request opens one),
    inside each test's snapshot."""
    for b in (borrower, borrower2, accounts[3]):
        oracle.open_request(b)


# ------------------------------------------------------------------ deployment and signer set


def test_constructor_sets_signers_threshold_and_domain(scores, models):
    assert scores.signers() == [a.address for a in REGISTERED_ORACLES]
    assert scores.threshold() == 3
    assert scores.modelRegistry() == models
    domain = scores.eip712Domain()
    assert domain[1] == "Scorechain" and domain[2] == "2"
    assert domain[3] == chain.id and domain[4] == scores.address


def test_constructor_with_threshold_above_signer_count_reverts(admin, models):
    with brownie.reverts("CreditScoreInvalidThreshold: 3, 2"):
        CreditScoreRegistry.deploy(admin, models, [a.address for a in REGISTERED_ORACLES[:2]], 3, {"from": admin})


def test_constructor_with_duplicate_signer_reverts(admin, models):
    a = REGISTERED_ORACLES[0].address
    with brownie.reverts(f"CreditScoreSignerAlreadyRegistered: {a.lower()}"):
        CreditScoreRegistry.deploy(admin, models, [a, a], 1, {"from": admin})


def test_constructor_with_zero_admin_or_registry_reverts(admin, models):
    with brownie.reverts(err("CreditScoreZeroAddress")):
        CreditScoreRegistry.deploy(admin, brownie.ZERO_ADDRESS, [REGISTERED_ORACLES[0].address], 1, {"from": admin})
    with brownie.reverts(err("AccessControlInvalidDefaultAdmin", brownie.ZERO_ADDRESS)):
        CreditScoreRegistry.deploy(brownie.ZERO_ADDRESS, models, [REGISTERED_ORACLES[0].address], 1, {"from": admin})


def test_add_signer_emits_and_registers(scores, admin):
    tx = scores.addSigner(OUTSIDER.address, {"from": admin})
    assert tx.events["OracleSignerAdded"] == {"signer": OUTSIDER.address, "signerCount": 6}
    assert scores.isSigner(OUTSIDER.address)


def test_add_existing_or_zero_signer_reverts(scores, admin):
    a = REGISTERED_ORACLES[1].address
    with brownie.reverts(f"CreditScoreSignerAlreadyRegistered: {a.lower()}"):
        scores.addSigner(a, {"from": admin})
    with brownie.reverts(err("CreditScoreZeroAddress")):
        scores.addSigner(brownie.ZERO_ADDRESS, {"from": admin})


def test_signer_admin_by_non_admin_reverts(scores, borrower):
    msg = role_err(borrower, scores.ORACLE_ADMIN_ROLE())
    with brownie.reverts(msg):
        scores.addSigner(OUTSIDER.address, {"from": borrower})
    with brownie.reverts(msg):
        scores.setThreshold(1, {"from": borrower})


def test_remove_signer_keeps_others_and_emits(scores, admin):
    gone = REGISTERED_ORACLES[1].address
    tx = scores.removeSigner(gone, {"from": admin})
    assert tx.events["OracleSignerRemoved"] == {"signer": gone, "signerCount": 4}
    assert not scores.isSigner(gone)
    assert sorted(scores.signers()) == sorted(a.address for a in REGISTERED_ORACLES if a.address != gone)
    for a in REGISTERED_ORACLES:
        if a.address != gone:
            assert scores.isSigner(a.address)


def test_remove_signer_below_threshold_reverts(scores, admin):
    scores.setThreshold(5, {"from": admin})
    with brownie.reverts("CreditScoreInvalidThreshold: 5, 4"):
        scores.removeSigner(REGISTERED_ORACLES[0].address, {"from": admin})


def test_remove_unknown_signer_reverts(scores, admin):
    with brownie.reverts(f"CreditScoreSignerNotRegistered: {OUTSIDER.address.lower()}"):
        scores.removeSigner(OUTSIDER.address, {"from": admin})


def test_rotate_signer_swaps_in_place_and_emits(scores, admin):
    old = REGISTERED_ORACLES[2].address
    tx = scores.rotateSigner(old, OUTSIDER.address, {"from": admin})
    assert tx.events["OracleSignerRotated"] == {"oldSigner": old, "newSigner": OUTSIDER.address}
    assert scores.signers()[2] == OUTSIDER.address
    assert not scores.isSigner(old) and scores.isSigner(OUTSIDER.address)


def test_rotate_signer_reverts_on_bad_input(scores, admin):
    a, b = REGISTERED_ORACLES[0].address, REGISTERED_ORACLES[1].address
    with brownie.reverts(f"CreditScoreSignerNotRegistered: {OUTSIDER.address.lower()}"):
        scores.rotateSigner(OUTSIDER.address, a, {"from": admin})
    with brownie.reverts(f"CreditScoreSignerAlreadyRegistered: {b.lower()}"):
        scores.rotateSigner(a, b, {"from": admin})
    with brownie.reverts(err("CreditScoreZeroAddress")):
        scores.rotateSigner(a, brownie.ZERO_ADDRESS, {"from": admin})


def test_set_threshold_emits_and_bounds(scores, admin):
    tx = scores.setThreshold(5, {"from": admin})
    assert tx.events["OracleThresholdChanged"] == {"oldThreshold": 3, "newThreshold": 5}
    with brownie.reverts("CreditScoreInvalidThreshold: 0, 5"):
        scores.setThreshold(0, {"from": admin})
    with brownie.reverts("CreditScoreInvalidThreshold: 6, 5"):
        scores.setThreshold(6, {"from": admin})


# ------------------------------------------------------------------ submission


@pytest.mark.ganache
def test_quorum_submit_records_score_and_emits_every_field(scores, models, oracle, approved_model, borrower,
                                                           accounts):
    att = oracle.attestation(borrower, pd_bps=432, score=701, issued_at=now(),
                             reason_codes=pack_reason_codes(7, 3, 0, 1))
    tx = oracle.submit(att, sender=accounts[9])  # anyone relays
    ev = recorded(tx.events["ScoreRecorded"])
    for name in ("borrower", "modelId", "featuresHash", "pdBps", "score", "reasonCodes", "issuedAt",
                 "validUntil", "nonce", "extensionHash"):
        assert str(ev[name]).lower() == str(att[name]).lower(), name
    assert ev["modelIndex"] == models.getModel(MODEL_ID)["index"] != 0
    rec = scores.latestScore(borrower)
    assert rec["modelId"] == MODEL_ID
    assert [rec[k] for k in ("pdBps", "score", "reasonCodes", "issuedAt", "validUntil", "nonce", "nextNonce")] == [
        432, 701, pack_reason_codes(7, 3, 0, 1), att["issuedAt"], att["validUntil"], 1, 1]
    assert scores.nonces(borrower) == 1 and not scores.scoreRequested(borrower)
    assert scores.scoreAge(borrower) == now() - att["issuedAt"]


def test_hash_attestation_equals_eth_account_typed_data_digest(scores, oracle, borrower):
    att = oracle.attestation(borrower, issued_at=123456, reason_codes=0x01020304)
    assert bytes(scores.hashAttestation(as_tuple(att))) == digest(att, chain.id, scores.address)


def test_signatures_in_any_order_are_accepted(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    sigs = sign(att, [REGISTERED_ORACLES[4], REGISTERED_ORACLES[0], REGISTERED_ORACLES[2]], chain.id, scores.address)
    scores.submit(as_tuple(att), sigs, {"from": borrower})
    assert scores.nonces(borrower) == 1


def test_more_than_threshold_valid_signatures_are_accepted(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    scores.submit(as_tuple(att), oracle.sign(att, REGISTERED_ORACLES), {"from": borrower})
    assert scores.latestScore(borrower)[4] == att["issuedAt"]


def test_signatures_beyond_the_threshold_are_ignored_even_bad_ones(scores, oracle, approved_model, borrower):
    """A relayer that appends a spare, a duplicate or garbage after k valid signatures cannot sink
    the record; a bad signature among the first k still does."""
    from scripts.scorechain_testkit import OUTSIDER

    att = oracle.attestation(borrower, issued_at=now())
    good = oracle.sign(att, REGISTERED_ORACLES[:3])
    outsider = oracle.sign(att, [OUTSIDER])[0]
    with brownie.reverts(f"CreditScoreUnknownSigner: {OUTSIDER.address.lower()}"):
        scores.submit(as_tuple(att), [outsider] + good, {"from": borrower})
    tx = scores.submit(as_tuple(att), good + [good[0], b"\x01" * 65, outsider], {"from": borrower})
    assert recorded(tx.events["ScoreRecorded"])["nonce"] == att["nonce"]


def test_fewer_than_threshold_signatures_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    with brownie.reverts("CreditScoreInsufficientSignatures: 2, 3"):
        scores.submit(as_tuple(att), oracle.sign(att, REGISTERED_ORACLES[:2]), {"from": borrower})


@pytest.mark.ganache
def test_duplicated_signer_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    a, b = REGISTERED_ORACLES[0], REGISTERED_ORACLES[1]
    with brownie.reverts(f"CreditScoreDuplicateSigner: {a.address.lower()}"):
        scores.submit(as_tuple(att), oracle.sign(att, [a, b, a]), {"from": borrower})


def test_non_signer_signature_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    with brownie.reverts(f"CreditScoreUnknownSigner: {OUTSIDER.address.lower()}"):
        scores.submit(as_tuple(att), oracle.sign(att, REGISTERED_ORACLES[:2] + [OUTSIDER]), {"from": borrower})


def test_malformed_or_high_s_signature_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    sigs = oracle.sign(att)
    with brownie.reverts("CreditScoreInvalidSignature: 1"):
        scores.submit(as_tuple(att), [sigs[0], sigs[1][:64], sigs[2]], {"from": borrower})
    # Malleable twin (s' = n - s, v flipped) recovers the same signer but ECDSA rejects it.
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = sigs[2][:32], int.from_bytes(sigs[2][32:64], "big"), sigs[2][64]
    twin = r + (n - s).to_bytes(32, "big") + bytes([55 - v])
    with brownie.reverts("CreditScoreInvalidSignature: 2"):
        scores.submit(as_tuple(att), [sigs[0], sigs[1], twin], {"from": borrower})


def test_removed_signer_no_longer_counts(scores, oracle, approved_model, borrower, admin):
    scores.removeSigner(REGISTERED_ORACLES[0].address, {"from": admin})
    att = oracle.attestation(borrower, issued_at=now())
    a = REGISTERED_ORACLES[0].address.lower()
    with brownie.reverts(f"CreditScoreUnknownSigner: {a}"):
        scores.submit(as_tuple(att), oracle.sign(att, REGISTERED_ORACLES[:3]), {"from": borrower})


def test_expired_attestation_reverts(scores, oracle, approved_model, borrower):
    t = now()
    att = oracle.attestation(borrower, issued_at=t - 100, valid_for=50)
    with brownie.reverts(revert_pattern=rf"CreditScoreExpired: {lower(borrower)}, {t - 50}, \d+"):
        oracle.submit(att, sender=borrower)


def test_future_issued_at_reverts(scores, oracle, approved_model, borrower):
    t = now() + 3600
    att = oracle.attestation(borrower, issued_at=t)
    with brownie.reverts(revert_pattern=rf"CreditScoreNotYetValid: {lower(borrower)}, {t}, \d+"):
        oracle.submit(att, sender=borrower)


def test_pd_above_10000_bps_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, pd_bps=10_001, issued_at=now())
    with brownie.reverts(f"CreditScoreInvalidPd: {lower(borrower)}, 10001"):
        oracle.submit(att, sender=borrower)


def test_zero_borrower_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(brownie.ZERO_ADDRESS, issued_at=now())
    with brownie.reverts(err("CreditScoreZeroAddress")):
        oracle.submit(att, sender=borrower)


def test_unapproved_model_reverts(scores, oracle, approved_model, borrower, models, registrar):
    models.register(MODEL_ID_2, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, "ipfs://v2", 2,
                    {"from": registrar})
    att = oracle.attestation(borrower, issued_at=now(), model_id=MODEL_ID_2)
    with brownie.reverts(err("CreditScoreModelNotApproved", MODEL_ID_2)):
        oracle.submit(att, sender=borrower)


def test_revoked_model_reverts(scores, oracle, approved_model, borrower, models, approver):
    models.revoke(MODEL_ID, 9, {"from": approver})
    att = oracle.attestation(borrower, issued_at=now())
    with brownie.reverts(err("CreditScoreModelNotApproved", MODEL_ID)):
        oracle.submit(att, sender=borrower)


def test_replayed_nonce_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now() - 10)
    oracle.submit(att, sender=borrower)
    with brownie.reverts(revert_pattern=rf"CreditScore(Stale|InvalidNonce): {lower(borrower)}.*"):
        oracle.submit(att, sender=borrower)  # the exact replay
    newer = dict(att, issuedAt=now(), nonce=0)
    with brownie.reverts(f"CreditScoreInvalidNonce: {lower(borrower)}, 0, 1"):
        oracle.submit(newer, sender=borrower)


def test_skipped_nonce_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now(), nonce=2)
    with brownie.reverts(f"CreditScoreInvalidNonce: {lower(borrower)}, 2, 1"):
        oracle.submit(att, sender=borrower)


# ------------------------------------------------------------------ one score per request


def test_no_score_is_recorded_for_a_borrower_who_never_requested(scores, oracle, approved_model, lender):
    """The review's open finding: a relayer (or a refreshing daemon) published the score of a
    borrower who never asked for a loan. The registry now refuses it."""
    assert scores.nonces(lender) == 0 and not scores.scoreRequested(lender)
    att = oracle.attestation(lender, issued_at=now())
    with brownie.reverts(f"CreditScoreNoOpenRequest: {lower(lender)}"):
        oracle.submit(att, sender=accounts[9])
    assert scores.latestScore(lender)["issuedAt"] == 0


def test_one_request_publishes_one_score(scores, oracle, approved_model, borrower):
    """A newer, validly signed score for the same request (a refresh, a second oracle's copy, a
    pull-mode attestation posted later) is refused; the next request opens the next one."""
    assert scores.scoreRequested(borrower)
    oracle.submit(oracle.attestation(borrower, issued_at=now() - 1, score=600), sender=borrower)
    assert not scores.scoreRequested(borrower)
    assert scores.nonces(borrower) == scores.latestScore(borrower)["nonce"] == 1
    again = oracle.attestation(borrower, issued_at=now(), score=650)
    with brownie.reverts(f"CreditScoreNoOpenRequest: {lower(borrower)}"):
        oracle.submit(again, sender=borrower)
    oracle.open_request(borrower)
    assert scores.scoreRequested(borrower) and scores.nonces(borrower) == 2
    with brownie.reverts(f"CreditScoreInvalidNonce: {lower(borrower)}, 1, 2"):
        oracle.submit(again, sender=borrower)  # signed before the request: void
    oracle.submit(oracle.attestation(borrower, issued_at=now(), score=650), sender=borrower)
    rec = scores.latestScore(borrower)
    assert (rec["score"], rec["nonce"], rec["nextNonce"]) == (650, 2, 2)


def test_a_batch_or_report_entry_without_an_open_request_is_skipped(scores, oracle, approved_model, borrower,
                                                                   lender):
    t = now()
    entries = [oracle.attestation(lender, issued_at=t), oracle.attestation(borrower, issued_at=t)]
    tx = oracle.submit_report(entries, accounts[9])
    assert tx.return_value == 1
    (skipped,) = tx.events["ScoreSkipped"]
    assert skipped["index"] == 0 and skipped["borrower"] == lender
    sel, args = _reason(skipped)
    assert sel == _selector("CreditScoreNoOpenRequest(address)")
    assert decode(["address"], args) == (lender.address.lower(),)
    # The same borrower twice in one report (nonces N and N): the second finds the request closed.
    oracle.open_request(borrower)
    chain.sleep(5)
    chain.mine()
    t = now()
    twice = [oracle.attestation(borrower, issued_at=t - 1), oracle.attestation(borrower, issued_at=t)]
    tx = oracle.submit_report(twice, accounts[9])
    assert tx.return_value == 1
    sel, _ = _reason(tx.events["ScoreSkipped"][0])
    assert sel == _selector("CreditScoreNoOpenRequest(address)")
    assert scores.latestScore(borrower)["issuedAt"] == t - 1


def test_older_or_equal_issued_at_reverts(scores, oracle, approved_model, borrower):
    t = now()
    oracle.submit(oracle.attestation(borrower, issued_at=t), sender=borrower)
    for older in (t, t - 1):
        att = oracle.attestation(borrower, issued_at=older)
        with brownie.reverts(f"CreditScoreStale: {lower(borrower)}, {older}, {t}"):
            oracle.submit(att, sender=borrower)


def test_update_replaces_latest_score(scores, oracle, approved_model, borrower):
    t = now()
    oracle.submit(oracle.attestation(borrower, issued_at=t - 5, score=600), sender=borrower)
    oracle.open_request(borrower)
    oracle.submit(oracle.attestation(borrower, issued_at=t, score=720, pd_bps=100), sender=borrower)
    rec = scores.latestScore(borrower)
    assert (rec["score"], rec["pdBps"], rec["issuedAt"]) == (720, 100, t)
    assert scores.nonces(borrower) == 2


def test_score_age_without_score_reverts(scores, borrower):
    with brownie.reverts(f"CreditScoreNotFound: {lower(borrower)}"):
        scores.scoreAge(borrower)


def test_score_age_grows_with_time(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    oracle.submit(att, sender=borrower)
    chain.sleep(1000)
    chain.mine()
    assert scores.scoreAge(borrower) == now() - att["issuedAt"] >= 1000


# ------------------------------------------------------------------ batches


def _selector(signature):
    return keccak(text=signature)[:4]


def _reason(ev):
    data = bytes(ev["reason"])
    return data[:4], data[4:]


def test_batch_records_good_entries_and_skips_bad_ones_with_their_error(scores, oracle, approved_model,
                                                                          borrower, borrower2):
    t = now()
    good1 = oracle.attestation(borrower, issued_at=t - 2)
    good2 = oracle.attestation(borrower2, issued_at=t)
    stale = dict(oracle.attestation(borrower, issued_at=t - 3), nonce=1)  # after good1, older
    bad_sig = oracle.attestation(accounts[3], issued_at=t)
    atts = [good1, stale, good2, bad_sig]
    sigs = [oracle.sign(good1), oracle.sign(stale), oracle.sign(good2), oracle.sign(bad_sig, REGISTERED_ORACLES[:2])]
    tx = scores.submitBatch([as_tuple(a) for a in atts], sigs, {"from": accounts[9]})
    assert tx.return_value == 2
    assert [e["borrower"] for e in tx.events["ScoreRecorded"]] == [borrower, borrower2]
    skipped = tx.events["ScoreSkipped"]
    assert [e["index"] for e in skipped] == [1, 3]
    sel, args = _reason(skipped[0])
    assert sel == _selector("CreditScoreStale(address,uint64,uint64)")
    assert decode(["address", "uint64", "uint64"], args) == (borrower.address.lower(), t - 3, t - 2)
    assert skipped[0]["nonce"] == 1
    sel, args = _reason(skipped[1])
    assert sel == _selector("CreditScoreInsufficientSignatures(uint256,uint256)")
    assert decode(["uint256", "uint256"], args) == (2, 3)
    assert scores.nonces(borrower) == 1 and scores.nonces(borrower2) == 1


def test_batch_with_mismatched_lengths_reverts(scores, oracle, approved_model, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    with brownie.reverts("CreditScoreBatchLengthMismatch: 1, 2"):
        scores.submitBatch([as_tuple(att)], [oracle.sign(att), oracle.sign(att)], {"from": borrower})


def test_batch_of_twenty_records_all(scores, oracle, approved_model):
    who = list(accounts[:10]) + [f"0x{i:040x}" for i in range(0xB0, 0xBA)]  # 20 borrowers
    for b in who:
        if not scores.scoreRequested(b):
            oracle.open_request(b)
    t = now()
    atts, sigs = [], []
    for i, b in enumerate(who):
        att = oracle.attestation(b, issued_at=t - 40 + i)
        atts.append(as_tuple(att))
        sigs.append(oracle.sign(att))
    tx = scores.submitBatch(atts, sigs, {"from": accounts[0]})
    assert tx.return_value == 20 and len(tx.events["ScoreRecorded"]) == 20
    assert "ScoreSkipped" not in tx.events
    assert [scores.latestScore(b)["nonce"] for b in who] == [1] * 20
    assert not any(scores.scoreRequested(b) for b in who)
