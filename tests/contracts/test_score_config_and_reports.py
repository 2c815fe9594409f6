"""CreditScoreRegistry's signer-set config digest (OCR2 style) and report-signed batches (issue 11):
a config change voids what was signed under the old one, a verifier reads the signer set a digest
names from ConfigSet, and k signatures over one ScoreReport record many scores."""

import brownie
import pytest
from brownie import chain
from eth_abi import decode, encode
from eth_utils import keccak

from scripts.scorechain_testkit import (
    recorded,
    MODEL_ID,
    OUTSIDER,
    REGISTERED_ORACLES,
    as_tuple,
    entry_tuple,
    err,
    sign,
    sign_report,
)

CONFIG_MISMATCH = keccak(b"CreditScoreConfigMismatch(bytes32,bytes32)")[:4]


def now():
    return chain[-1].timestamp


def hexd(b) -> str:
    return "0x" + bytes(b).hex()


@pytest.fixture(scope="module", autouse=True)
def model_ready(approved_model):
    pass


@pytest.fixture(autouse=True)
def requests_open(isolation, oracle, borrower, borrower2):
    """A loan request open for each borrower (the registry records a score only for one)."""
    for b in (borrower, borrower2):
        oracle.open_request(b)


def expected_digest(scores, count, signers, k) -> bytes:
    h = keccak(encode(["uint256", "address", "uint64", "address[]", "uint256"],
                      [chain.id, scores.address, count, signers, k]))
    return ((k << 240) | (int.from_bytes(h, "big") >> 16)).to_bytes(32, "big")


# ------------------------------------------------------------------ config digest


def test_the_digest_names_the_signer_set_and_its_top_bytes_are_the_threshold(scores):
    count, block, digest = scores.latestConfigDetails()
    assert count == 1 and block > 0
    assert bytes(digest) == bytes(scores.configDigest())
    assert bytes(digest) == expected_digest(scores, 1, [a.address for a in REGISTERED_ORACLES], 3)
    assert int.from_bytes(bytes(digest)[:2], "big") == scores.threshold() == 3


@pytest.mark.parametrize("change", ["add", "remove", "rotate", "threshold"])
def test_every_signer_set_change_is_a_new_config_announced_in_config_set(scores, admin, change):
    before = bytes(scores.configDigest())
    a = REGISTERED_ORACLES[0].address
    tx = {"add": lambda: scores.addSigner(OUTSIDER.address, {"from": admin}),
          "remove": lambda: scores.removeSigner(a, {"from": admin}),
          "rotate": lambda: scores.rotateSigner(a, OUTSIDER.address, {"from": admin}),
          "threshold": lambda: scores.setThreshold(2, {"from": admin})}[change]()
    ev = tx.events["ConfigSet"]
    count, block, digest = scores.latestConfigDetails()
    assert bytes(digest) != before and count == 2 and block == tx.block_number
    assert bytes(ev["configDigest"]) == bytes(digest) and ev["configCount"] == 2
    assert list(ev["signers"]) == scores.signers() and ev["threshold"] == scores.threshold()
    assert bytes(digest) == expected_digest(scores, 2, scores.signers(), scores.threshold())
    # a verifier walks back from the latest config to the one an old signature names
    assert ev["previousConfigBlockNumber"] < tx.block_number


def test_attack_an_old_partial_signature_set_after_the_threshold_is_lowered(scores, oracle, admin, borrower):
    # Two signers signed when three were needed; the admin then lowers the threshold to two. With a
    # bare threshold those two signatures became recordable; bound to the config they are void.
    att = oracle.attestation(borrower, issued_at=now())
    partial = oracle.sign(att, REGISTERED_ORACLES[:2])
    scores.setThreshold(2, {"from": admin})
    with brownie.reverts(err("CreditScoreConfigMismatch", att["configDigest"], hexd(scores.configDigest()))):
        scores.submit(as_tuple(att), partial, {"from": admin})
    fresh = oracle.attestation(borrower, issued_at=now())  # re-signed under the new config: fine
    oracle.submit(fresh, admin, REGISTERED_ORACLES[:2])
    assert scores.latestScore(borrower)["nonce"] == fresh["nonce"]


def test_attack_re_adding_a_removed_key_does_not_revive_what_it_signed(scores, oracle, admin, borrower):
    att = oracle.attestation(borrower, issued_at=now())
    sigs = oracle.sign(att, REGISTERED_ORACLES[:3])
    gone = REGISTERED_ORACLES[0].address
    scores.removeSigner(gone, {"from": admin})
    scores.addSigner(gone, {"from": admin})  # same signers, same threshold, later config
    assert sorted(scores.signers()) == sorted(a.address for a in REGISTERED_ORACLES)
    with brownie.reverts(err("CreditScoreConfigMismatch", att["configDigest"], hexd(scores.configDigest()))):
        scores.submit(as_tuple(att), sigs, {"from": admin})


def test_a_config_change_skips_in_flight_batch_entries_and_records_the_rest(scores, oracle, admin, borrower,
                                                                           borrower2):
    old = oracle.attestation(borrower, issued_at=now())
    old_sigs = oracle.sign(old)
    scores.rotateSigner(REGISTERED_ORACLES[4].address, OUTSIDER.address, {"from": admin})
    new = oracle.attestation(borrower2, issued_at=now())
    tx = scores.submitBatch([as_tuple(old), as_tuple(new)], [old_sigs, oracle.sign(new)], {"from": admin})
    assert tx.return_value == 1
    skipped = tx.events["ScoreSkipped"]
    assert skipped["borrower"] == borrower and bytes(skipped["reason"])[:4] == CONFIG_MISMATCH
    assert [bytes(x) for x in decode(["bytes32", "bytes32"], bytes(skipped["reason"])[4:])] == [
        bytes.fromhex(old["configDigest"][2:]), bytes(scores.configDigest())]
    assert tx.events["ScoreRecorded"]["borrower"] == borrower2


def test_an_attestation_signed_for_another_registry_config_cannot_be_replayed(scores, oracle, admin, borrower):
    att = oracle.attestation(borrower, issued_at=now(), config_digest="0x0003" + "ab" * 30)
    with brownie.reverts(err("CreditScoreConfigMismatch", att["configDigest"], hexd(scores.configDigest()))):
        oracle.submit(att, admin)


# ------------------------------------------------------------------ report-signed batches


def entries_for(oracle, borrowers, t):
    return [oracle.attestation(b, issued_at=t, pd_bps=100 + i, score=700 + i) for i, b in enumerate(borrowers)]


def test_a_report_records_every_entry_with_k_signatures_once(scores, oracle, admin, borrower, borrower2):
    entries = entries_for(oracle, [borrower, borrower2], now())
    tx = oracle.submit_report(entries, admin)
    assert tx.return_value == 2
    assert [(r["borrower"], r["pdBps"], r["score"]) for r in map(recorded, tx.events["ScoreRecorded"])] == [
        (borrower, 100, 700), (borrower2, 101, 701)]
    ev = tx.events["ScoreReportSubmitted"]
    assert (ev["entries"], ev["recorded"]) == (2, 2)
    assert bytes(ev["reportDigest"]) == bytes(scores.hashReport(scores.configDigest(),
                                                                [entry_tuple(e) for e in entries]))
    assert scores.latestScore(borrower2)["pdBps"] == 101


def test_report_digest_equals_the_wallet_encoding(scores, oracle, borrower, borrower2):
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    from scripts.scorechain_testkit import typed_report

    entries = entries_for(oracle, [borrower, borrower2, borrower], now())
    config = hexd(scores.configDigest())
    wallet = _hash_eip191_message(encode_typed_data(full_message=typed_report(config, entries, chain.id,
                                                                               scores.address)))
    assert bytes(scores.hashReport(config, [entry_tuple(e) for e in entries])) == wallet


def test_a_report_entry_that_fails_is_skipped_with_its_reason(scores, oracle, admin, borrower, borrower2):
    t = now()
    entries = entries_for(oracle, [borrower, borrower2], t)
    entries[0]["nonce"] += 1  # wrong nonce for this borrower
    tx = oracle.submit_report(entries, admin)
    assert tx.return_value == 1
    assert tx.events["ScoreSkipped"]["borrower"] == borrower
    assert tx.events["ScoreSkipped"]["index"] == 0
    assert tx.events["ScoreRecorded"]["borrower"] == borrower2


@pytest.mark.parametrize("tamper", ["entry", "order", "drop", "add"])
def test_a_relayer_cannot_change_a_signed_report(scores, oracle, admin, borrower, borrower2, tamper):
    entries = entries_for(oracle, [borrower, borrower2], now())
    config = hexd(scores.configDigest())
    sigs = sign_report(config, entries, REGISTERED_ORACLES[:3], chain.id, scores.address)
    sent = [dict(e) for e in entries]
    if tamper == "entry":
        sent[1]["pdBps"] = 1
    elif tamper == "order":
        sent.reverse()
    elif tamper == "drop":
        sent = sent[:1]
    else:
        sent.append(oracle.attestation(admin, issued_at=now()))
    # the recovered addresses are not registered signers: the report as a whole is refused
    with brownie.reverts(revert_pattern=r"CreditScoreUnknownSigner: 0x[0-9a-f]{40}"):
        scores.submitReport(config, [entry_tuple(e) for e in sent], sigs, {"from": admin})
    assert scores.latestScore(borrower)["issuedAt"] == 0


def test_a_report_needs_k_distinct_registered_signers_under_the_current_config(scores, oracle, admin, borrower):
    entries = entries_for(oracle, [borrower], now())
    config = hexd(scores.configDigest())
    ids = [entry_tuple(e) for e in entries]
    two = sign_report(config, entries, REGISTERED_ORACLES[:2], chain.id, scores.address)
    with brownie.reverts(err("CreditScoreInsufficientSignatures", 2, 3)):
        scores.submitReport(config, ids, two, {"from": admin})
    dup = two + two[:1]
    with brownie.reverts(err("CreditScoreDuplicateSigner", REGISTERED_ORACLES[0].address)):
        scores.submitReport(config, ids, dup, {"from": admin})
    outsider = two + sign_report(config, entries, [OUTSIDER], chain.id, scores.address)
    with brownie.reverts(err("CreditScoreUnknownSigner", OUTSIDER.address)):
        scores.submitReport(config, ids, outsider, {"from": admin})
    three = sign_report(config, entries, REGISTERED_ORACLES[:3], chain.id, scores.address)
    scores.setThreshold(2, {"from": admin})  # config moves on: the report signed before is void
    with brownie.reverts(err("CreditScoreConfigMismatch", config, hexd(scores.configDigest()))):
        scores.submitReport(config, ids, three, {"from": admin})
    with brownie.reverts(err("CreditScoreEmptyReport")):
        scores.submitReport(hexd(scores.configDigest()), [], three, {"from": admin})


def test_a_report_cannot_replay_a_pull_attestations_signatures(scores, oracle, admin, borrower):
    # The two typed structs hash differently, so signatures over one are no use for the other.
    att = oracle.attestation(borrower, issued_at=now())
    sigs = sign(att, REGISTERED_ORACLES[:3], chain.id, scores.address)
    with brownie.reverts(revert_pattern=r"CreditScoreUnknownSigner: 0x[0-9a-f]{40}"):
        scores.submitReport(att["configDigest"], [entry_tuple(att)], sigs, {"from": admin})


def test_report_entries_keep_the_nonce_rule_so_a_held_report_is_void_after_a_request(scores, oracle, admin,
                                                                                     borrower):
    entries = entries_for(oracle, [borrower], now())
    config = hexd(scores.configDigest())
    sigs = sign_report(config, entries, REGISTERED_ORACLES[:3], chain.id, scores.address)
    scores.grantRole(scores.SCORE_REQUESTER_ROLE(), admin, {"from": admin})
    scores.advanceNonce(borrower, {"from": admin})  # a loan request
    tx = scores.submitReport(config, [entry_tuple(e) for e in entries], sigs, {"from": admin})
    assert tx.return_value == 0 and tx.events["ScoreSkipped"]["borrower"] == borrower


def test_the_extension_hash_is_signed_and_recorded(scores, oracle, admin, borrower):
    ext = "0x" + keccak(encode(["uint16", "bytes32", "bytes32", "bytes32", "bytes32"],
                               [1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32])).hex()
    att = oracle.attestation(borrower, issued_at=now(), extension_hash=ext)
    sigs = oracle.sign(att)
    forged = dict(att, extensionHash="0x" + "00" * 32)
    with brownie.reverts(revert_pattern=r"CreditScoreUnknownSigner: 0x[0-9a-f]{40}"):
        scores.submit(as_tuple(forged), sigs, {"from": admin})
    tx = scores.submit(as_tuple(att), sigs, {"from": admin})
    assert hexd(tx.events["ScoreRecorded"]["extensionHash"]) == ext
    assert tx.events["ScoreRecorded"]["modelId"] == MODEL_ID
