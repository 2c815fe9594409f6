"""A score recorded by zero-knowledge proof (issue 16): k signers attest only the borrower's
features commitment after the request; a proof that the registered model's circuit maps the
committed features to a logit brings the PD, which the registry derives itself. Each way of
bending it is tried as an attacker would: a tampered proof, another PD, other features, another
borrower, another model, a stale attestation, a replay, a swapped verifier."""
import json
import shutil

import brownie
import numpy as np
import onnx
import pytest
from brownie import ScoreMathProbe, chain, compile_source

from models import serving as S
from models import zk
from scripts.scorechain_testkit import (
    DAY,
    DEFAULT_RULES,
    REGISTERED_ORACLES,
    err,
    features_tuple,
    provable_bundle,
    rules_tuple,
    sign_features,
)

MODEL_A = "0x" + "a1" * 32
MODEL_B = "0x" + "b2" * 32
NO_EXTENSION = "0x" + "00" * 32


def _other_model(bundle, out):
    """A second model: the same bundle with its classifier's weights scaled (another circuit)."""
    shutil.copytree(bundle, out)
    path = out / json.loads((out / "reference.json").read_text())["onnx_file"]
    m = onnx.load(str(path))
    node = next(n for n in m.graph.node if n.op_type == "LinearClassifier")
    coef = next(a for a in node.attribute if a.name == "coefficients")
    coef.floats[:] = [1.1 * v for v in coef.floats]
    onnx.save(m, str(path))
    return out


@pytest.fixture(scope="module")
def circuits(tmp_path_factory):
    """Two provable models (German, federated logistic; and a variant), their circuits and
    verifiers; ``prove(name, i, borrower, nonce)`` proves holdout applicant i under model name
    for that borrower's loan request (both public inputs), once per arguments."""
    base = tmp_path_factory.mktemp("zkchain")
    ds, sp, _ = provable_bundle(base, circuit=False)
    _other_model(base / "bundle", base / "bundle_b")
    X = ds.X[sp.holdout_idx[:3]]
    out = {}
    for name, bundle in (("A", base / "bundle"), ("B", base / "bundle_b")):
        info = zk.setup(bundle, base / f"circuit{name}", ds.X[sp.train_idx])
        verifier = zk.evm_verifier(base / f"circuit{name}")
        out[name] = {"info": info, "verifier": verifier, "z": zk.features_z(bundle, X), "bundle": bundle}
    made = {}

    def prove(name, i, borrower, nonce):
        key = (name, i, str(borrower), int(nonce))
        if key not in made:
            d = base / f"proof{len(made)}"
            zk.prove(base / f"circuit{name}", out[name]["z"][i], zk.blinding(bytes([i]) * 32),
                     zk.loan_binding(str(borrower), int(nonce)), d)
            made[key] = zk.proof_calldata(d / "proof.json")
        return made[key]
    out["prove"] = prove
    out["pd"] = S.predict_pd(S.load_bundle(base / "bundle"), X).astype(np.float64)
    return out


def _proof(circuits, scores, borrower, i=0, name="A"):
    """A proof of applicant i under model `name` for the borrower's current request."""
    return circuits["prove"](name, i, borrower, scores.nonces(borrower))


@pytest.fixture(scope="module")
def zk_models(circuits, models, registrar, approver, admin):
    """Models A and B registered with their circuits (verifiers deployed) and approved."""
    deployed = {}
    for name, model_id in (("A", MODEL_A), ("B", MODEL_B)):
        c = circuits[name]
        project = compile_source(
            (c["bundle"].parent / f"circuit{name}" / "Halo2Verifier.sol").read_text(), solc_version="0.8.24")
        verifier = project.Halo2Verifier.deploy({"from": admin})
        models.register(model_id, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, f"ipfs://zk-{name}", 1,
                        {"from": registrar})
        models.setZkCircuit(model_id, verifier, "0x" + c["info"]["vk_sha256"], c["info"]["output_scale"],
                            {"from": registrar})
        models.approve(model_id, {"from": approver})
        deployed[name] = verifier
    return deployed


def _features(scores, borrower, commitment, model_id=MODEL_A, reasons=0x0A0B0000, nonce=None):
    now = chain[-1].timestamp
    return {"borrower": str(borrower), "modelId": model_id,
            "featuresCommitment": "0x" + commitment.to_bytes(32, "big").hex(), "reasonCodes": reasons,
            "issuedAt": now, "validUntil": now + 3600,
            "nonce": scores.nonces(borrower) if nonce is None else nonce,
            "extensionHash": NO_EXTENSION, "configDigest": "0x" + bytes(scores.configDigest()).hex()}


def _sign(scores, att):
    return sign_features(att, REGISTERED_ORACLES[:scores.threshold()], chain.id, scores.address)


def _submit(scores, att, proof, logit, sender, sigs=None):
    return scores.submitProven(features_tuple(att), sigs or _sign(scores, att), proof, logit, {"from": sender})


@pytest.mark.ganache  # the verifier's precompiles on both chains
def test_a_proven_score_is_recorded_with_the_pd_and_score_derived_on_chain(circuits, zk_models, scores, oracle,
                                                                           borrower):
    oracle.open_request(borrower)
    proof, commitment, logit = _proof(circuits, scores, borrower)
    att = _features(scores, borrower, commitment)
    tx = _submit(scores, att, proof, logit, borrower)  # anyone may relay it: here the borrower
    pd_bps = zk.pd_bps_from_logit(logit, circuits["A"]["info"]["output_scale"])
    rec = scores.latestScore(borrower)
    assert (rec["modelId"], rec["pdBps"], rec["score"], rec["reasonCodes"]) == (
        MODEL_A, pd_bps, S.score_from_pd(pd_bps), 0x0A0B0000)
    assert abs(pd_bps - S.pd_to_bps(circuits["pd"][0])) <= 1  # the bundle's own PD, to rounding
    assert tx.events["ScoreRecorded"]["featuresHash"] == att["featuresCommitment"]
    assert tx.events["ScoreProven"] == {"borrower": borrower, "modelId": MODEL_A, "logit": logit}
    assert [int(v) for v in scores.provenPdAndScore(MODEL_A, logit)] == [pd_bps, S.score_from_pd(pd_bps)]
    assert not scores.scoreRequested(borrower)  # the request is closed: a replay has nothing to score
    with brownie.reverts(err("CreditScoreStale", borrower, att["issuedAt"], att["issuedAt"])):
        _submit(scores, att, proof, logit, borrower)


def _rejected(scores, borrower, submit, expected):
    before = scores.latestScore(borrower)
    with brownie.reverts(expected):
        submit()
    assert scores.latestScore(borrower) == before and scores.scoreRequested(borrower)


@pytest.mark.ganache  # the verifier's precompiles on both chains
def test_a_tampered_proof_or_another_pd_is_rejected(circuits, zk_models, scores, oracle, borrower):
    oracle.open_request(borrower)
    proof, commitment, logit = _proof(circuits, scores, borrower)
    att = _features(scores, borrower, commitment)
    tampered = bytearray(proof)
    tampered[100] ^= 1
    invalid = err("CreditScoreInvalidProof", borrower)
    _rejected(scores, borrower, lambda: _submit(scores, att, bytes(tampered), logit, borrower), invalid)
    for other_logit in (logit + 1, (logit - 2**16) % zk.FIELD, _proof(circuits, scores, borrower, 1)[2]):
        _rejected(scores, borrower, lambda v=other_logit: _submit(scores, att, proof, v, borrower), invalid)
    with brownie.reverts(err("CreditScoreInvalidProof", "0x" + "00" * 20)):  # not a field element
        _submit(scores, att, proof, logit + zk.FIELD, borrower)


def test_a_proof_over_other_features_than_the_attested_ones_is_rejected(circuits, zk_models, scores, oracle,
                                                                        borrower):
    """The borrower proves a better applicant's features (or invented ones): the attestation names
    the commitment of their own."""
    oracle.open_request(borrower)
    (_, own, _), (better_proof, better, better_logit) = (_proof(circuits, scores, borrower, i) for i in (0, 1))
    assert own != better
    att = _features(scores, borrower, own)
    _rejected(scores, borrower, lambda: _submit(scores, att, better_proof, better_logit, borrower),
              err("CreditScoreInvalidProof", borrower))


def test_another_borrowers_attestation_and_proof_cannot_score_this_borrower(circuits, zk_models, scores, oracle,
                                                                            borrower, borrower2):
    oracle.open_request(borrower)
    oracle.open_request(borrower2)
    proof, commitment, logit = _proof(circuits, scores, borrower)
    att = _features(scores, borrower, commitment)
    sigs = _sign(scores, att)
    stolen = {**att, "borrower": str(borrower2), "nonce": scores.nonces(borrower2)}
    # the first signature, over the borrower's message, recovers to a stranger for the stolen one
    from eth_account import Account
    stranger = Account._recover_hash(bytes(scores.hashFeaturesAttestation(features_tuple(stolen))),
                                     signature=sigs[0])
    assert stranger not in [str(a) for a in scores.signers()]
    _rejected(scores, borrower2, lambda: _submit(scores, stolen, proof, logit, borrower2, sigs=sigs),
              err("CreditScoreUnknownSigner", stranger))
    # even with k signers deceived into signing that commitment for borrower2, the proof is for
    # the borrower's request: its public inputs are not borrower2's
    _rejected(scores, borrower2, lambda: _submit(scores, _features(scores, borrower2, commitment), proof, logit,
                                                 borrower2), err("CreditScoreInvalidProof", borrower2))


def test_a_proof_for_an_earlier_request_of_the_same_borrower_is_rejected(circuits, zk_models, scores, oracle,
                                                                         borrower):
    """A proof is bound to the request's nonce: one made for a request that closed (or was
    superseded) cannot record a score for the next, even over the same features, re-attested."""
    oracle.open_request(borrower)
    old_proof, commitment, logit = _proof(circuits, scores, borrower)
    oracle.open_request(borrower)  # a new request: a new nonce
    new_proof, new_commitment, new_logit = _proof(circuits, scores, borrower)
    assert new_commitment != commitment and new_logit == logit  # same features, another loan
    _rejected(scores, borrower, lambda: _submit(scores, _features(scores, borrower, commitment), old_proof, logit,
                                                borrower), err("CreditScoreInvalidProof", borrower))
    _submit(scores, _features(scores, borrower, new_commitment), new_proof, new_logit, borrower)


def test_a_features_attestation_needs_k_signers_under_the_current_configuration(circuits, zk_models, scores,
                                                                                oracle, borrower, admin):
    """Too few signatures, a signer twice, or signatures made before the signer set changed."""
    oracle.open_request(borrower)
    proof, commitment, logit = _proof(circuits, scores, borrower)
    att = _features(scores, borrower, commitment)
    sigs = _sign(scores, att)
    k = scores.threshold()
    _rejected(scores, borrower, lambda: _submit(scores, att, proof, logit, borrower, sigs=sigs[:k - 1]),
              err("CreditScoreInsufficientSignatures", k - 1, k))
    _rejected(scores, borrower, lambda: _submit(scores, att, proof, logit, borrower, sigs=[sigs[0]] * k),
              err("CreditScoreDuplicateSigner", REGISTERED_ORACLES[0].address))
    scores.setThreshold(k - 1, {"from": admin})  # a new configuration voids what was signed before
    _rejected(scores, borrower, lambda: _submit(scores, att, proof, logit, borrower, sigs=sigs),
              err("CreditScoreConfigMismatch", att["configDigest"], scores.configDigest()))
    _submit(scores, _features(scores, borrower, commitment), proof, logit, borrower)  # signed anew: recorded
    assert not scores.scoreRequested(borrower)


def test_a_proof_from_another_models_circuit_is_rejected(circuits, zk_models, scores, oracle, borrower):
    """Model B's attestation with model A's proof (and the reverse): each verifier holds its own key."""
    oracle.open_request(borrower)
    proof_a, commitment_a, logit_a = _proof(circuits, scores, borrower)
    proof_b, commitment_b, logit_b = _proof(circuits, scores, borrower, name="B")
    assert commitment_a == commitment_b and logit_a != logit_b  # same inputs, other weights
    invalid = err("CreditScoreInvalidProof", borrower)
    att_b = _features(scores, borrower, commitment_a, model_id=MODEL_B)
    _rejected(scores, borrower, lambda: _submit(scores, att_b, proof_a, logit_a, borrower), invalid)
    att_a = _features(scores, borrower, commitment_b, model_id=MODEL_A)
    _rejected(scores, borrower, lambda: _submit(scores, att_a, proof_b, logit_b, borrower), invalid)
    _submit(scores, att_b, proof_b, logit_b, borrower)  # the right pair is recorded
    assert scores.latestScore(borrower)["modelId"] == MODEL_B


def test_a_features_attestation_signed_before_the_request_or_without_one_does_not_record(
        circuits, zk_models, scores, oracle, borrower):
    proof, commitment, logit = _proof(circuits, scores, borrower)
    with brownie.reverts(err("CreditScoreNoOpenRequest", borrower)):  # no loan requested: no score published
        _submit(scores, _features(scores, borrower, commitment), proof, logit, borrower)
    held = _features(scores, borrower, commitment)
    held_sigs = _sign(scores, held)
    oracle.open_request(borrower)
    with brownie.reverts(err("CreditScoreInvalidNonce", borrower, held["nonce"], held["nonce"] + 1)):
        _submit(scores, held, proof, logit, borrower, sigs=held_sigs)


def test_only_a_model_with_a_circuit_set_before_approval_by_its_registrar_scores_by_proof(
        circuits, zk_models, models, scores, oracle, borrower, registrar, approver, admin):
    proof, commitment, logit = _proof(circuits, scores, borrower)
    plain = "0x" + "c3" * 32
    models.register(plain, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, "ipfs://plain", 1,
                    {"from": registrar})
    vk = "0x" + circuits["A"]["info"]["vk_sha256"]
    models.grantRole(models.MODEL_REGISTRAR_ROLE(), admin, {"from": admin})
    with brownie.reverts(err("ModelNotRegistrar", plain, admin)):  # four eyes: not another registrar
        models.setZkCircuit(plain, zk_models["A"], vk, 16, {"from": admin})
    with brownie.reverts(err("ModelZkCircuitInvalid", plain)):  # no code at the verifier
        models.setZkCircuit(plain, admin, vk, 16, {"from": registrar})
    models.approve(plain, {"from": approver})
    with brownie.reverts(err("ModelInvalidStatus", plain, 2)):  # an approved model's circuit is fixed
        models.setZkCircuit(plain, zk_models["A"], vk, 16, {"from": registrar})
    twice = "0x" + "d4" * 32
    models.register(twice, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32, "ipfs://twice", 1,
                    {"from": registrar})
    models.setZkCircuit(twice, zk_models["A"], vk, 16, {"from": registrar})
    with brownie.reverts(err("ModelZkCircuitAlreadySet", twice)):  # no swap before approval either
        models.setZkCircuit(twice, zk_models["B"], vk, 16, {"from": registrar})
    oracle.open_request(borrower)
    with brownie.reverts(err("CreditScoreNotZkModel", plain)):
        _submit(scores, _features(scores, borrower, commitment, model_id=plain), proof, logit, borrower)
    models.revoke(MODEL_A, 1, {"from": approver})
    with brownie.reverts(err("CreditScoreModelNotApproved", MODEL_A)):
        _submit(scores, _features(scores, borrower, commitment), proof, logit, borrower)


def test_the_on_chain_score_mapping_is_models_serving_for_every_pd(admin):
    probe = ScoreMathProbe.deploy({"from": admin})
    on_chain = [s for start in range(0, 10_001, 2_001) for s in probe.scores(start, min(2_001, 10_001 - start))]
    assert on_chain == [S.score_from_pd(p) for p in range(10_001)]


def test_the_on_chain_pd_of_a_logit_is_models_zks(admin):
    probe = ScoreMathProbe.deploy({"from": admin})
    rng = np.random.default_rng(16)
    scale = 16
    values = [int(v) for v in rng.normal(0, 4, 1_500) * 2**scale]  # logits around where PDs live
    values += [int(v) for v in rng.uniform(-140, 140, 300) * 2**scale]
    values += [0, 1, -1, 135 * 2**scale, 135 * 2**scale - 1, -135 * 2**scale, -135 * 2**scale + 1,
               zk.FIELD // 2, -(zk.FIELD // 2)]
    felts = [v % zk.FIELD for v in values]
    assert list(probe.pdBps(felts, scale)) == [zk.pd_bps_from_logit(f, scale) for f in felts]


def test_the_features_attestation_type_is_the_oracles(scores, borrower):
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    from oracle.typed_data import FEATURES_TYPEHASH, typed_data_features

    assert bytes(scores.FEATURES_ATTESTATION_TYPEHASH()) == FEATURES_TYPEHASH
    att = _features(scores, borrower, 12345)
    expected = _hash_eip191_message(encode_typed_data(full_message=typed_data_features(att, chain.id, scores.address)))
    assert bytes(scores.hashFeaturesAttestation(features_tuple(att))) == expected


def test_a_loan_is_decided_on_a_proven_score_by_the_same_rules(circuits, zk_models, ready, compliance, regulator,
                                                                loans, scores, borrower, borrower2):
    """The compliance rules read a proven score as any other: the lower PD passes a PD cap set
    between the two, the higher is rejected for its PD (reason 13)."""
    scale = circuits["A"]["info"]["output_scale"]
    logits = zk.circuit_logits(circuits["A"]["bundle"].parent / "circuitA", circuits["A"]["z"])
    pds = [int(scores.provenPdAndScore(MODEL_A, round(v * 2**scale) % zk.FIELD)[0]) for v in logits]
    lo, hi = int(np.argmin(pds)), int(np.argmax(pds))
    assert pds[lo] < pds[hi]
    compliance.setRuleSet(rules_tuple({**DEFAULT_RULES, "maxPdBps": pds[lo]}), {"from": regulator})
    outcome = {}
    for who, i in ((borrower, lo), (borrower2, hi)):
        loan_id = loans.request(1_000 * 10**6, 1_200, 90 * DAY, 3, {"from": who}).return_value
        proof, commitment, logit = _proof(circuits, scores, who, i)
        _submit(scores, _features(scores, who, commitment), proof, logit, who)
        outcome[i] = loans.approve(loan_id, {"from": who}).events
    assert "LoanRejected" not in outcome[lo]
    approved = outcome[lo]["LoanApproved"]
    assert (approved["modelId"], approved["pdBps"]) == (MODEL_A, pds[lo])
    assert outcome[hi]["LoanRejected"]["reason"] == 13
