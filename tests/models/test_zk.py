"""Zero-knowledge proof of a score (issue 16, models/zk/): the circuit is the bundle's own linear
layer; a proof shows the committed features give the public logit, and nothing else passes."""
import json
import shutil

import numpy as np
import pytest

from models import serving as S
from models import zk
from models.data import load_dataset, make_splits
from scripts.scorechain_testkit import provable_bundle, rounding_boundary_rows


@pytest.fixture(scope="module")
def provable(tmp_path_factory):
    """A gated logistic bundle (the federated one, German) and its circuit artefacts."""
    base = tmp_path_factory.mktemp("zk")
    ds, sp, info = provable_bundle(base)
    return ds, sp, base, info


def test_the_circuit_is_small_and_its_logit_matches_the_bundle_on_the_holdout(provable, tmp_path,
                                                                            monkeypatch):
    ds, sp, base, info = provable
    monkeypatch.chdir(tmp_path)  # EZKL writes into the working directory unless told where
    # the logit only, no Sigmoid table: German's 55 inputs take 2^12 rows and 41 MB (a dozen
    # GMSC inputs with the Sigmoid took 2^14 rows and 170 MB)
    assert info["logrows"] < 14 and info["sizes"]["pk.key"] < 60e6, info
    assert not (base / "circuit" / "calibration.json").exists()  # no data rows left behind
    X = ds.X[sp.holdout_idx]
    pd = S.predict_pd(S.load_bundle(base / "bundle"), X).astype(np.float64)
    logits = zk.circuit_logits(base / "circuit", zk.features_z(base / "bundle", X))
    pz = 1.0 / (1.0 + np.exp(-logits))
    assert np.abs(pz - pd).max() < 5e-4
    same_bps = np.mean([S.pd_to_bps(a) == S.pd_to_bps(b) for a, b in zip(pz, pd)])
    assert same_bps >= 0.9  # how often exactly is the report's figure
    assert not list(tmp_path.iterdir())
    # what the signers compute without EZKL is the circuit's own logit, exactly, on every row
    circuit = _circuit_pd(base, info)
    assert [circuit.logit(x) for x in X] == [round(v * 2**info["output_scale"]) % zk.FIELD
                                             for v in logits]


def _circuit_pd(base, info):
    from models.zk.canonical import CircuitPD
    ref = json.loads((base / "bundle" / "reference.json").read_text())
    return CircuitPD((base / "bundle" / ref["onnx_file"]).read_bytes(), info["output_scale"])


def test_setup_refuses_a_circuit_whose_rounding_the_signers_would_not_reproduce(provable, tmp_path,
                                                                                monkeypatch):
    """Rounding half up instead of half away from zero differs only on a negative tie: setup's
    tie rows catch it (spread rows alone would not), and nothing half-made is served."""
    import models.zk.circuit as C
    from models.zk import fixed_point as F
    ds, sp, _, info = provable

    def half_up(z, w_q, b_q, scale):
        acc = sum(F.quantise(v, scale) * w for v, w in zip(z, w_q))
        return (((acc + (1 << (scale - 1))) >> scale) + b_q) % F.FIELD
    monkeypatch.setattr(C, "circuit_logit", half_up)
    with pytest.raises(zk.NotProvable, match="differs from the emulated one on 1 of"):
        zk.setup(provable[2] / "bundle", tmp_path / "c", ds.X[sp.train_idx], srs=info["srs"])
    assert not (tmp_path / "c" / "zk.json").exists()


def test_a_zk_scored_models_pd_is_the_circuits_even_where_the_float_pd_rounds_otherwise(
        provable, tmp_path, monkeypatch):
    """Applicants whose float PD and circuit PD round to different basis points exist (about
    0.5 %, reports/zk.md); for them the oracle's model, told the model is zk-scored, gives the
    PD the registry derives from EZKL's own witness, and the float one otherwise."""
    from oracle.scoring import load_model
    ds, sp, base, info = provable
    monkeypatch.chdir(tmp_path)
    model = load_model(base / "bundle")
    scale = info["output_scale"]
    differ = rounding_boundary_rows(model, ds.X[sp.holdout_idx[:40]], "credit_amount", scale)
    assert differ, "no applicant on a rounding boundary among 1,000: widen the search"
    favourable = np.array([S.favourable_row(model.bundle, x) for x in differ])
    witness = zk.circuit_logits(base / "circuit", zk.features_z(base / "bundle", favourable))
    for x, logit in zip(differ, witness):
        canonical = zk.pd_bps_from_logit(round(logit * 2**scale) % zk.FIELD, scale)
        p = model.predict(x, circuit_scale=scale)
        assert p.pd_bps == canonical != model.predict(x).pd_bps
        assert (p.score, p.reason_codes) == (S.score_from_pd(canonical), model.predict(x).reason_codes)


BORROWER = "0x" + "ab" * 20


def test_a_proof_verifies_and_exposes_the_features_commitment_the_logit_and_the_loan(provable, tmp_path):
    ds, sp, base, info = provable
    z = zk.features_z(base / "bundle", ds.X[sp.holdout_idx[:2]])
    blind, loan = zk.blinding(b"\x01" * 32), zk.loan_binding(BORROWER, 3)
    out = zk.prove(base / "circuit", z[0], blind, loan, tmp_path / "p")
    assert zk.verify(base / "circuit", tmp_path / "p" / "proof.json")
    scale = info["input_scale"]
    assert out["commitment"] == zk.commitment(z[0], blind, loan, scale)
    assert out["commitment"] != zk.commitment(z[1], blind, loan, scale)  # other features
    # the same features under another salt: a guess of the features cannot be confirmed
    assert out["commitment"] != zk.commitment(z[0], zk.blinding(b"\x02" * 32), loan, scale)
    assert out["commitment"] != zk.commitment(z[0], np.zeros(zk.BLINDING), loan, scale)
    # the borrower's loan request: public values the registry recomputes, and inside the commitment
    assert out["loan"] == [zk.quantise(v, scale) for v in loan]
    assert all(0 <= v < 2**22 for v in out["loan"]) and len(set(out["loan"])) > 1
    for other in (zk.loan_binding(BORROWER, 4), zk.loan_binding("0x" + "ac" * 20, 3)):
        assert out["commitment"] != zk.commitment(z[0], blind, other, scale)
    assert abs(out["logit"] - zk.circuit_logits(base / "circuit", z[:1])[0]) < 1e-9
    assert not list((tmp_path / "p").glob("*input*")) and not list((tmp_path / "p").glob("wit*"))


def test_a_tampered_proof_or_a_changed_public_value_does_not_verify(provable, tmp_path):
    ds, sp, base, _ = provable
    z = zk.features_z(base / "bundle", ds.X[sp.holdout_idx[:1]])
    zk.prove(base / "circuit", z[0], zk.blinding(b"\x01" * 32), zk.loan_binding(BORROWER, 3), tmp_path / "p")
    proof = json.loads((tmp_path / "p" / "proof.json").read_text())
    for name, edit in {
        "proof bytes": lambda p: p.__setitem__("proof", p["proof"][:100] + [
            (p["proof"][100] + 1) % 256] + p["proof"][101:]),
        "logit": lambda p: p["instances"][0].__setitem__(
            1, p["instances"][0][0]),  # another field element as the output
        "loan": lambda p: p["instances"][0].__setitem__(2, p["instances"][0][3]),  # another loan
        "commitment": lambda p: p["instances"][0].__setitem__(0, p["instances"][0][-1]),
    }.items():
        bad = json.loads(json.dumps(proof))
        edit(bad)
        (tmp_path / f"{name}.json").write_text(json.dumps(bad))
        assert not zk.verify(base / "circuit", tmp_path / f"{name}.json"), name


def test_a_proof_of_another_models_circuit_does_not_verify_under_this_key(provable, tmp_path):
    ds, sp, base, info = provable
    other = tmp_path / "other"
    shutil.copytree(base / "bundle", other)
    ref = json.loads((other / "reference.json").read_text())
    import onnx
    from onnx import helper
    m = onnx.load(str(other / ref["onnx_file"]))
    node = next(n for n in m.graph.node if n.op_type == "LinearClassifier")
    attr = next(a for a in node.attribute if a.name == "intercepts")
    attr.floats[:] = [v + (0.5 if i else -0.5) for i, v in enumerate(attr.floats)]
    onnx.save(m, str(other / ref["onnx_file"]))
    zk.setup(other, tmp_path / "other-circuit", ds.X[sp.train_idx], srs=info["srs"])
    z = zk.features_z(base / "bundle", ds.X[sp.holdout_idx[:1]])
    zk.prove(tmp_path / "other-circuit", z[0], zk.blinding(b"\x01" * 32), zk.loan_binding(BORROWER, 3),
             tmp_path / "p")
    assert zk.verify(tmp_path / "other-circuit", tmp_path / "p" / "proof.json")
    assert not zk.verify(base / "circuit", tmp_path / "p" / "proof.json")
    del helper


def test_a_bundle_without_one_logistic_classifier_is_refused_with_the_reason(tmp_path):
    from models.train import ROOT
    with pytest.raises(zk.NotProvable, match="LinearClassifier"):  # the default: gradient boosting
        zk.setup(ROOT / "models" / "default", tmp_path / "refused", np.zeros((2, 10)))
    assert not (tmp_path / "refused").exists()


def test_the_command_line_sets_up_proves_and_verifies_against_an_attested_commitment(
        provable, tmp_path, capsys):
    from models.__main__ import main
    from models.schema import decode_row
    ds, sp, base, _ = provable
    circuit = tmp_path / "circuit"
    assert main(["zk", "setup", str(base / "bundle"), "--out", str(circuit)]) == 0
    assert "local SRS: tests only" in capsys.readouterr().out
    row = ds.X[sp.holdout_idx[0]]
    (tmp_path / "applicant.json").write_text(json.dumps(decode_row(ds.schema, row)))
    salt = "ab" * 32
    prove = ["zk", "prove", str(circuit), "--features", str(tmp_path / "applicant.json"),
             "--salt", salt, "--out", str(tmp_path / "p")]
    assert main(prove) == 2  # for which loan request: a public input
    assert "--borrower ADDRESS and --nonce N" in capsys.readouterr().err
    assert main([*prove, "--borrower", BORROWER, "--nonce", "3"]) == 0
    capsys.readouterr()
    info = json.loads((circuit / "zk.json").read_text())
    blind, loan = zk.blinding(bytes.fromhex(salt)), zk.loan_binding(BORROWER, 3)
    served = S.favourable_row(S.load_bundle(base / "bundle"), row).reshape(1, -1)
    attested = zk.commitment(zk.features_z(base / "bundle", served)[0], blind, loan, info["input_scale"])
    assert main(["zk", "verify", str(circuit), "--proof", str(tmp_path / "p" / "proof.json"),
                 "--commitment", attested]) == 0
    assert "verified; PD" in capsys.readouterr().out
    other = zk.commitment(zk.features_z(base / "bundle", ds.X[sp.holdout_idx[1:2]])[0], blind, loan,
                          info["input_scale"])
    with pytest.raises(SystemExit):
        main(["zk", "verify", str(circuit), "--proof", str(tmp_path / "p" / "proof.json"),
              "--commitment", other])
    assert "over other features" in capsys.readouterr().out
    assert main(["zk", "verifier", str(circuit)]) == 0  # the Solidity verifier, compiled here
    out = capsys.readouterr().out
    compiled = json.loads((circuit / "verifier.json").read_text())
    assert compiled["vk_sha256"] == info["vk_sha256"] and compiled["vk_sha256"] in out
    assert 0 < compiled["deployed_bytes"] <= 24_576 and compiled["abi"]
    assert not (circuit / "verifier.abi.json").exists()


def test_oracle_prove_proves_a_stored_borrower_and_verify_checks_the_proof(provable, tmp_path, capsys):
    """`oracle prove` from the node's store (features and salt) gives what submitProven takes;
    `oracle verify --proof` checks it offline, and refuses it against another commitment."""
    from eth_account import Account

    from models.schema import decode_row
    from oracle.cli import main
    from oracle.store import Store

    ds, sp, base, info = provable
    who, other = Account.create().address, Account.create().address
    store = Store.open(tmp_path / "store.db")
    try:
        for i, address in enumerate((who, other)):
            store.put_features(ds.schema, address, decode_row(ds.schema, ds.X[sp.holdout_idx[i]]),
                               salt=bytes([7 + i]) * 32)
    finally:
        store.close()
    args = ["--circuit", str(base / "circuit"), "--model", str(base / "bundle"),
            "--store", str(tmp_path / "store.db")]
    assert main(["prove", who, *args, "--nonce", "3", "--out", str(tmp_path / "p")]) == 0
    shown = json.loads(capsys.readouterr().out)
    proven = json.loads((tmp_path / "p" / "proven.json").read_text())
    assert "proof" not in shown and (proven["borrower"], proven["nonce"]) == (who, 3)
    row = S.favourable_row(S.load_bundle(base / "bundle"), ds.X[sp.holdout_idx[0]]).reshape(1, -1)
    z = zk.features_z(base / "bundle", row)[0]
    expected = zk.commitment(z, zk.blinding(bytes([7]) * 32), zk.loan_binding(who, 3), info["input_scale"])
    assert proven["featuresCommitment"] == "0x" + zk.felt_from_hex(expected).to_bytes(32, "big").hex()
    assert proven["score"] == S.score_from_pd(proven["pdBps"])
    pd = S.predict_pd(S.load_bundle(base / "bundle"), ds.X[sp.holdout_idx[:1]])[0]
    assert abs(proven["pdBps"] - S.pd_to_bps(pd)) <= 1
    proof = str(tmp_path / "p" / "proof.json")
    check = ["verify", "--proof", proof, "--circuit", str(base / "circuit")]
    assert main([*check, "--commitment", proven["featuresCommitment"], "--borrower", who, "--nonce", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["pdBps"] == proven["pdBps"]
    for borrower, nonce in ((who, "4"), (other, "3")):  # another request, another borrower
        assert main([*check, "--borrower", borrower, "--nonce", nonce]) == 1
        assert "is not for" in json.loads(capsys.readouterr().out)["reason"]
    assert main([*check, "--borrower", who]) == 2
    assert "go together" in capsys.readouterr().err
    assert main([*check, "--borrower", "0x12", "--nonce", "3"]) == 2  # one line, no traceback
    assert "a borrower address and a uint256 nonce" in capsys.readouterr().err
    assert main(["prove", who, *args, "--out", str(tmp_path / "r")]) == 2  # no --nonce and no chain
    assert "give --nonce" in capsys.readouterr().err
    assert main(["prove", other, *args, "--nonce", "3", "--out", str(tmp_path / "q")]) == 0
    other_commitment = json.loads(capsys.readouterr().out)["featuresCommitment"]
    assert main(["verify", "--proof", proof, "--circuit", str(base / "circuit"),
                 "--commitment", other_commitment]) == 1
    assert "other features" in json.loads(capsys.readouterr().out)["reason"]
    assert main(["prove", Account.create().address, *args, "--nonce", "1"]) == 2  # no features: one line
    assert "no features stored" in capsys.readouterr().err
    from models.train import ROOT
    served = ["--model", str(ROOT / "models" / "default"), "--store", str(tmp_path / "store.db")]
    assert main(["prove", who, "--circuit", str(base / "circuit"), *served, "--nonce", "1"]) == 2
    assert "not the served" in capsys.readouterr().err  # a circuit of another model is refused


def test_the_points_scorecard_is_provable_and_a_tail_that_changes_its_pd_is_refused(tmp_path, capsys):
    """The scorecard family (WoE bins, then a logistic layer) exports its probability repackaged
    ([1 - p, p] after a clip): it proves as is, with its binning in the features graph; the same
    graph clipping the PD at 0.5 serves another PD, and setup refuses it."""
    from onnx import numpy_helper

    from models.__main__ import main
    assert main(["train", "german", "--family", "scorecard", "--out", str(tmp_path / "sc"),
                 "--reports", str(tmp_path / "sc-reports")]) == 0
    capsys.readouterr()
    ds = load_dataset("german")
    sp = make_splits(ds.y, ds.X)
    info = zk.setup(tmp_path / "sc", tmp_path / "sc-circuit", ds.X[sp.train_idx])
    X = ds.X[sp.holdout_idx[:40]]
    logits = zk.circuit_logits(tmp_path / "sc-circuit", zk.features_z(tmp_path / "sc", X))
    pd = S.predict_pd(S.load_bundle(tmp_path / "sc"), X).astype(np.float64)
    assert np.abs(1.0 / (1.0 + np.exp(-logits)) - pd).max() < 5e-4 and info["features"] > 0
    bad = tmp_path / "sc-clipped"
    shutil.copytree(tmp_path / "sc", bad)
    ref = json.loads((bad / "reference.json").read_text())
    import onnx
    m = onnx.load(str(bad / ref["onnx_file"]))
    clip = next(n for n in m.graph.node if n.op_type == "Clip")
    top = next(t for t in m.graph.initializer if t.name == clip.input[2])
    top.CopyFrom(numpy_helper.from_array(np.array(0.5, dtype=np.float32), top.name))
    onnx.save(m, str(bad / ref["onnx_file"]))
    with pytest.raises(zk.NotProvable, match="not its classifier's"):
        zk.setup(bad, tmp_path / "clipped-circuit", ds.X[sp.train_idx])


def test_a_node_signs_a_features_commitment_only_as_its_own_and_only_for_a_zk_scored_model(
        provable, tmp_path):
    """The peer side of a proof pull: a node's FeaturesAttestation carries the commitment a proof
    of the borrower exposes; it co-signs a proposal only if the commitment and reasons are its
    own (without showing its value), and a model without a circuit has nothing to prove."""
    from dataclasses import replace
    from types import SimpleNamespace

    from eth_account import Account

    from models.schema import decode_row
    from oracle import attest, keys
    from oracle.node import OracleNode, Refusal
    from oracle.scoring import ModelGuard, load_model
    from oracle.store import Store

    ds, sp, base, info = provable
    model = load_model(base / "bundle")
    who, salt = Account.create().address, b"\x05" * 32
    row = ds.X[sp.holdout_idx[0]]
    store = Store.open(tmp_path / "store.db")
    store.put_features(ds.schema, who, decode_row(ds.schema, row), salt=salt)
    chain = SimpleNamespace(signer_config=lambda: ([], 1, b"\x00\x01" + bytes(30)), chain_id=1,
                            nonce_of=lambda a: 7, now=lambda: 1_000_000,
                            registry=SimpleNamespace(address="0x" + "11" * 20))

    def node(scale):
        return OracleNode(signer=keys.Signer(b"\x07" * 32), store=store, model=model,
                          guard=ModelGuard(lambda m: True, circuit_of=lambda m: scale), chain=chain,
                          policy=attest.Policy(validity_s=86400, clock_tolerance_s=120))
    zk_node, plain = node(info["output_scale"]), node(None)
    try:
        att, pred = zk_node.compute_features(who)
        z = zk.features_z(base / "bundle", S.favourable_row(model.bundle, row).reshape(1, -1))[0]
        expected = zk.felt_from_hex(zk.commitment(z, zk.blinding(salt), zk.loan_binding(who, 7),
                                                  info["input_scale"]))
        assert att.featuresCommitment == expected.to_bytes(32, "big")
        assert (att.nonce, att.reasonCodes, att.validUntil - att.issuedAt) == (
            7, pred.reason_codes_packed, 86400)
        sig = zk_node.cosign(att)
        assert keys.recover(zk_node.digest_of(att), sig) == zk_node.signer.address
        for change, field in ((dict(featuresCommitment=bytes(32)), "featuresCommitment"),
                              (dict(reasonCodes=att.reasonCodes ^ 1), "reasonCodes")):
            with pytest.raises(Refusal) as refused:
                zk_node.cosign(replace(att, **change))
            assert refused.value.reasons == [f"{field}: differs from this node's recomputation"]
        with pytest.raises(Refusal, match="not zk-scored") as refused:
            plain.compute_features(who)
        assert refused.value.status == 409
        with pytest.raises(Refusal, match="not zk-scored"):
            plain.cosign(att)
    finally:
        zk_node.close()
        plain.close()
        store.close()
