"""Signers of a zk-scored model (issue 16): once ModelRegistry attaches a circuit to a model, the
oracle nodes sign the PD the registry would derive from a proof, the circuit's fixed-point one,
so a borrower cannot choose between a signed and a proven score for the one that rounds better;
`oracle verify` recomputes the same."""
from __future__ import annotations

import json

import pytest
from brownie import web3

from models import serving as S
from models.schema import decode_row
from oracle.scoring import load_model
from scripts.oracle_cluster import run_cli
from scripts.oracle_testbed import OracleTestbed
from scripts.scorechain_testkit import provable_bundle, rounding_boundary_rows


@pytest.fixture(scope="module")
def zk_model(tmp_path_factory):
    """A provable bundle (German, federated logistic) and its circuit."""
    base = tmp_path_factory.mktemp("zksigners")
    ds, sp, info = provable_bundle(base)
    return ds, sp, base, info


def test_nodes_sign_the_circuits_pd_of_a_zk_scored_model_and_verify_agrees(zk_model, tmp_path):
    ds, sp, base, info = zk_model
    scale = info["output_scale"]
    model = load_model(base / "bundle")
    X = rounding_boundary_rows(model, ds.X[sp.holdout_idx[:40]], "credit_amount", scale, n=2)
    assert len(X) == 2, "no applicants on a rounding boundary: widen the search"
    X.append(ds.X[sp.holdout_idx[0]])  # and an ordinary one
    bed = OracleTestbed(tmp_path, base / "bundle", n=3, k=2, zk_circuit=base / "circuit",
                        rows=[decode_row(ds.schema, x) for x in X])
    try:
        reg, mr = bed.system.score_registry, bed.system.model_registry
        assert int(mr.zkCircuit(model.model_id)[2]) == scale
        for b in bed.borrowers:
            bed.request_loan(b)
        bed.start()
        bed.wait_recorded(bed.borrowers, timeout=120)
        circuit = model.circuit(scale)
        for i, (b, x) in enumerate(zip(bed.borrowers, X)):
            rec = reg.latestScore(b)
            canonical = model.predict(x, circuit_scale=scale)
            assert (int(rec["pdBps"]), int(rec["score"])) == (canonical.pd_bps, canonical.score)
            if i < 2:  # the float PD rounds otherwise: a node on the float path fails here
                assert canonical.pd_bps != model.predict(x).pd_bps
            # the PD and score the registry derives from a proof of these features
            logit = circuit.logit(S.favourable_row(model.bundle, x))
            assert [int(v) for v in reg.provenPdAndScore(model.model_id, logit)] == [
                canonical.pd_bps, canonical.score]
        ours = {b.address for b in bed.borrowers}
        events = reg.events.get_sequence(from_block=bed.start_block, event_type="ScoreRecorded")
        for h in {"0x" + bytes(e.transactionHash).hex() for e in events if e.args.borrower in ours}:
            r = run_cli(["verify", h], bed.nodes[0].env)
            assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr
        assert web3.eth.get_code(bed.zk_verifier)
    finally:
        bed.stop()


def test_a_pull_can_return_a_proof_that_records_the_signers_score(zk_model, tmp_path):
    """Pull mode with ``"proof": true``: k nodes sign the features commitment, the node proves
    the circuit over those features, and the borrower records the score with submitProven. The
    PD is the one the signers would have signed, also for an applicant on a rounding boundary;
    the answer carries no feature."""
    from oracle.typed_data import FeaturesAttestation

    ds, sp, base, info = zk_model
    scale = info["output_scale"]
    model = load_model(base / "bundle")
    x = rounding_boundary_rows(model, ds.X[sp.holdout_idx[:40]], "credit_amount", scale, n=1)[0]
    bed = OracleTestbed(tmp_path, base / "bundle", n=3, k=2, zk_circuit=base / "circuit",
                        rows=[decode_row(ds.schema, x)],
                        settings={"ORACLE_DAEMON": "false", "ORACLE_ZK_CIRCUIT_DIR": str(base / "circuit")})
    try:
        reg = bed.system.score_registry
        b = bed.borrowers[0]
        bed.start()
        r = bed.pull(0, b, proof=True, timeout=180)
        assert r.status_code == 409 and "no open loan request" in r.json()["error"]
        bed.request_loan(b)
        r = bed.pull(0, b, proof=True, timeout=180)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"featuresAttestation", "signatures", "digest", "proof", "logit", "pdBps",
                             "score", "score_band", "reason_codes", "vkSha256"}
        att = FeaturesAttestation.from_json(body["featuresAttestation"])
        assert "0x" + bytes(reg.hashFeaturesAttestation(att.as_tuple())).hex() == body["digest"]
        assert len(body["signatures"]) == 2
        tx = reg.submitProven(att.as_tuple(), body["signatures"], body["proof"], int(body["logit"]),
                              {"from": b})
        assert tx.events["ScoreProven"]["borrower"] == b.address
        canonical = model.predict(x, circuit_scale=scale)
        rec = reg.latestScore(b)
        assert (int(rec["pdBps"]), int(rec["score"])) == (body["pdBps"], body["score"]) == (
            canonical.pd_bps, canonical.score)
        assert canonical.pd_bps != model.predict(x).pd_bps  # on the boundary: the float one differs
        assert int(rec["reasonCodes"]) == canonical.reason_codes_packed
        r = bed.pull(1, b, proof=True, timeout=180)  # recorded: the request is closed
        assert r.status_code == 409
    finally:
        bed.stop()
