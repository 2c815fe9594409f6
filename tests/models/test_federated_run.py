"""A real Flower federation (issue 15): lenders train over gRPC, the aggregator accepts only
updates their members signed, records every round, and a consortium member recomputes each
aggregate from the updates; tampering with any of it is found."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from models.federated import audit
from models.federated.protocol import params_sha256, sign_update
from models.federated.client import coefficient_signs
from models.federated.run import run_federation
from models.federated.strategy import recompute, recording_strategy


@pytest.fixture(scope="module")
def gmsc_run(gmsc, tmp_path_factory):
    """Four rounds, the bundle exported (``run["after"]``) while the lenders are connected."""
    ds, sp = gmsc
    return run_federation(ds, sp, strategy="fedavg", rounds=4,
                          export=tmp_path_factory.mktemp("fed") / "bundle")


def test_the_lenders_learn_a_model_that_keeps_the_declared_signs(gmsc, gmsc_run):
    ds, _ = gmsc
    auc = gmsc_run["holdout_auc_by_round"]
    assert len(auc) == 4 and auc[-1] > 0.8 and auc[-1] >= auc[0]
    w = gmsc_run["params"][0]
    signs = coefficient_signs(gmsc_run["prep"], ds.schema)
    assert (w[signs > 0] >= 0).all() and (w[signs < 0] <= 0).all() and (signs != 0).any()
    for rec in gmsc_run["records"]:
        assert [u.institution for u in rec.updates] == [f"lender-{i}" for i in range(1, 5)]
        assert not rec.refused
        _, digest = recompute(rec, gmsc_run["updates"][rec.round])
        assert digest == rec.aggregate_sha256
    assert params_sha256(gmsc_run["params"]) == gmsc_run["records"][-1].aggregate_sha256


def test_verify_finds_a_changed_update_signature_or_model(gmsc_run, tmp_path):
    run_dir = audit.save_run(gmsc_run, tmp_path / "run")
    assert all(r["ok"] for r in audit.verify_run(run_dir))
    # a member's copy of one update altered (its intercept, tensor 1, as Flower serialised it)
    _nudge(run_dir / "updates" / "round-2" / "lender-1.1.bin")
    bad = {r["round"]: r for r in audit.verify_run(run_dir)}
    assert not bad[2]["ok"] and "differs from the recorded update" in bad[2]["problems"][0]
    assert bad[1]["ok"] and bad[3]["ok"]
    # a record whose signature is another key's
    run_dir = audit.save_run(gmsc_run, tmp_path / "run2")
    doc = json.loads((run_dir / "run.json").read_text())
    u = doc["records"][0]["updates"][0]
    u["signature"] = sign_update("0x" + "11" * 32, doc["federation"], 1, u["institution"],
                                 u["sha256"])
    (run_dir / "run.json").write_text(json.dumps(doc))
    assert "signature" in audit.verify_run(run_dir)[0]["problems"][0]
    # a final model that is not the last aggregate
    run_dir = audit.save_run(gmsc_run, tmp_path / "run3")
    _nudge(run_dir / "model.0.bin")
    assert audit.verify_run(run_dir)[-1] == {
        "round": "final", "ok": False,
        "problems": ["the saved model is not the last round's aggregate"]}


def _nudge(path):
    """Add 1e-3 to an array stored as np.save bytes."""
    a = np.load(io.BytesIO(path.read_bytes()))
    buf = io.BytesIO()
    np.save(buf, a + np.float32(1e-3))
    path.write_bytes(buf.getvalue())


def _res(arrays, lender, key, fed, rnd=1, digest=None):
    digest = digest or params_sha256(arrays)
    return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), 100,
                         {"institution": lender, "update_sha256": digest,
                          "signature": sign_update(key, fed, rnd, lender, digest)}))


def test_the_aggregator_refuses_what_a_member_did_not_sign():
    keys = {n: "0x" + f"{i + 1:02x}" * 32 for i, n in enumerate(["a", "b", "c"])}
    members = {n: Account.from_key(k).address for n, k in keys.items()}
    strat = recording_strategy("fedavg", members, "fed1",
                               fit_metrics_aggregation_fn=lambda m: {})
    one = [np.ones(3, np.float32), np.zeros(1, np.float32)]
    two = [np.full(3, 3, np.float32), np.ones(1, np.float32)]
    results = [
        _res(one, "a", keys["a"], "fed1"),
        _res(two, "b", keys["c"], "fed1"),               # signed with another member's key
        _res(two, "c", keys["c"], "fed0"),               # signed for another federation
        _res(two, "a", keys["a"], "fed1"),               # a second update from a
        _res(two, "mallory", "0x" + "99" * 32, "fed1"),  # not a member
        _res(one, "c", keys["c"], "fed1", rnd=2),        # signed for another round
    ]
    params, _ = strat.aggregate_fit(1, results, [])
    rec = strat.records[0]
    assert [u.institution for u in rec.updates] == ["a"]
    assert sorted(r["why"] for r in rec.refused) == sorted([
        "signature is not the member's", "signature is not the member's",
        "second update in the round", "not a member", "signature is not the member's"])
    assert rec.aggregate_sha256 == params_sha256(params) == params_sha256(one)


def test_a_poisoned_lender_hurts_fedavg_and_the_median_resists(gmsc):
    ds, sp = gmsc
    runs = {(s, p): run_federation(ds, sp, strategy=s, rounds=20,
                                   poison={"lender-3": "flip"} if p else None)
            ["holdout_auc_by_round"][-1]
            for s in ("fedavg", "fedmedian") for p in (False, True)}
    assert runs[("fedavg", False)] - runs[("fedavg", True)] > 0.1
    assert runs[("fedmedian", False)] - runs[("fedmedian", True)] < 0.05


def test_trimmed_mean_cuts_one_lender_at_each_end_and_recomputes_from_its_record():
    keys = {n: "0x" + f"{i + 1:02x}" * 32 for i, n in enumerate(["a", "b", "c"])}
    members = {n: Account.from_key(k).address for n, k in keys.items()}
    strat = recording_strategy("fedtrimmedavg", members, "f",
                               fit_metrics_aggregation_fn=lambda m: {})
    ups = {n: [np.full(2, v, np.float32)] for n, v in (("a", 1.0), ("b", 2.0), ("c", 30.0))}
    params, _ = strat.aggregate_fit(1, [_res(ups[n], n, keys[n], "f") for n in "abc"], [])
    rec = strat.records[0]
    assert rec.strategy_args["beta"] * 3 >= 1  # a fixed 0.25 would cut nobody out of three
    params, digest = recompute(rec, ups)
    assert np.array_equal(parameters_to_ndarrays(params)[0], [2.0, 2.0])
    assert digest == rec.aggregate_sha256


def test_lenders_grow_one_booster_that_a_member_rebuilds_round_by_round(taiwan, tmp_path):
    """Flower's FedXgbBagging: every lender adds its trees each round; a member recomputes each
    round's booster from the previous one and the signed trees (the strategy is stateful). The
    booster exports as a gated bundle within parity, scored by the lenders for its references."""
    import xgboost as xgb

    from models import serving as S
    from models.federated.export import federated_pipeline
    ds, sp = taiwan  # three lenders; on GMSC 3 rounds' trees fail reason stability (20 pass)
    run = run_federation(ds, sp, model="xgb", strategy="xgb_bagging", rounds=3,
                         export=tmp_path / "bundle")
    card = run["after"]
    assert card["gates"]["passed"] and card["parity_max_abs_diff"] <= 1e-5, card
    X = ds.X[sp.holdout_idx[:300]]
    bundle = S.load_bundle(tmp_path / "bundle")
    assert np.abs(S.predict_pd(bundle, X)
                  - federated_pipeline(run).predict_proba(X)[:, 1]).max() <= 1e-5
    assert json.loads((tmp_path / "bundle" / "reference.json").read_text())[
        "reference_rows"]["rows"] >= 500
    auc = run["holdout_auc_by_round"]
    assert len(auc) == 3 and auc[-1] > 0.75
    bst = xgb.Booster()
    bst.load_model(bytearray(run["final"].tensors[0]))
    assert bst.num_boosted_rounds() == 3 * 3  # one tree per lender and round
    run_dir = audit.save_run(run, tmp_path / "xgb")
    assert all(r["ok"] for r in audit.verify_run(run_dir))
    first = run_dir / "updates" / "round-1" / "lender-2.0.bin"
    first.write_bytes(first.read_bytes().replace(b'"base_score"', b'"base_score" ', 1))
    assert not audit.verify_run(run_dir)[0]["ok"]
    with pytest.raises(ValueError, match="xgb_bagging"):
        run_federation(ds, sp, model="xgb", strategy="fedavg", rounds=1)


def test_a_lender_that_never_connects_fails_the_run_instead_of_hanging():
    from models.federated.run import BoundedClientManager
    cm = BoundedClientManager(timeout=0.5)
    with pytest.raises(TimeoutError, match="0 of 3 lenders connected after"):
        cm.wait_for(3)


def test_the_federated_model_exports_as_a_gated_bundle_the_oracle_loads(gmsc, gmsc_run):
    """ONNX within parity, the fair-lending gates passed, references from the lenders' answers
    over the federation, and a card naming the federation: a bundle serving loads like any
    other."""
    from models import serving as S
    from models.federated.export import federated_pipeline
    ds, sp = gmsc
    card = gmsc_run["after"]
    bundle_dir = Path(card["bundle_dir"])
    assert card["gates"]["passed"] and card["parity_max_abs_diff"] <= 1e-5
    fed = card["training_data"]["federation"]
    assert fed["final_aggregate_sha256"] == gmsc_run["records"][-1].aggregate_sha256
    bundle = S.load_bundle(bundle_dir)  # refused if a gate had failed
    assert bundle.bundle_id == card["bundle_id"]
    X = ds.X[sp.holdout_idx[:200]]
    pipe = federated_pipeline(gmsc_run)
    assert np.abs(S.predict_pd(bundle, X) - pipe.predict_proba(X)[:, 1]).max() <= 1e-5
    ref = json.loads((bundle_dir / "reference.json").read_text())
    assert "lenders' statistics" in ref["monitoring"]["computed_from"]
    assert "merged from the lenders' statistics" in ref["reference_kind"]
    assert sum(ref["reference_rows"]["rows_per_lender"]) == ref["reference_rows"]["rows"] >= 500


def test_what_a_lender_sends_each_round_is_its_signed_update_and_nothing_else(gmsc, gmsc_run):
    """Every training message from a lender: two tensors of the model's size (np.save bytes of
    the coefficients and the intercept) and three metric strings; no row of its data."""
    ds, _ = gmsc
    d = gmsc_run["prep"].n_features_out_
    for rec in gmsc_run["records"]:
        for u in rec.updates:
            assert u.metrics_sent == ["institution", "signature", "update_sha256"]
            assert 4 * (d + 1) < u.wire_bytes < 4 * (d + 1) + 400  # values plus two npy headers
    lender_rows = min(i["rows"] for i in gmsc_run["institutions"])
    assert max(u.wire_bytes for r in gmsc_run["records"] for u in r.updates) < lender_rows


def test_a_members_signed_update_of_the_wrong_shape_or_not_finite_is_refused():
    """A griefer inside the consortium: validly signed, but not a model update."""
    keys = {n: "0x" + f"{i + 1:02x}" * 32 for i, n in enumerate(["a", "b", "c"])}
    members = {n: Account.from_key(k).address for n, k in keys.items()}
    model = [np.zeros(3, np.float32), np.zeros(1, np.float32)]
    strat = recording_strategy("fedavg", members, "f", fit_metrics_aggregation_fn=lambda m: {},
                               initial_parameters=ndarrays_to_parameters(model))
    good = [np.ones(3, np.float32), np.ones(1, np.float32)]
    results = [_res(good, "a", keys["a"], "f"),
               _res([np.ones(4, np.float32), np.ones(1, np.float32)], "b", keys["b"], "f"),
               _res([np.array([np.nan, 1, 1], np.float32), np.ones(1, np.float32)], "c",
                    keys["c"], "f")]
    params, _ = strat.aggregate_fit(1, results, [])
    rec = strat.records[0]
    assert [u.institution for u in rec.updates] == ["a"]
    assert sorted(r["why"] for r in rec.refused) == [
        "update does not have the model's shape", "update holds non-finite values"]
    assert params_sha256(params) == params_sha256(good)


def test_the_statistics_rounds_carry_signed_summaries_that_rebuild_the_pooled_preprocessing(
        gmsc, gmsc_run):
    """The preprocessing and the bundle's references are built from what crossed the wire: each
    lender's answer is a summary of a few KB whatever its row count (15,000 to 42,000 here), and
    the preprocessing is what the pooled statistics give."""
    from models.federated.partition import partition
    from models.federated.stats import federated_preprocessing
    ds, sp = gmsc
    stats = gmsc_run["statistics"]
    keys = {"sketch": {"sketch", "rows", "defaults"}, "moments": {"moments"},
            "cutoff_band": {"approved", "rows", "columns"},
            "monitoring_sample": {"rows", "score", "features"},
            "monitoring_counts": {"score", "features"}}
    assert {p.split("/")[0] for p in stats["records"]} == set(keys)  # the export's too
    for phase, records in stats["records"].items():
        assert [u.institution for u in records] == [f"lender-{i}" for i in range(1, 5)]
        for u in records:
            assert u.metrics_sent == ["institution", "signature", "update_sha256"]
            assert u.wire_bytes < 40_000  # no row, and no per-row size
            assert json.loads(stats["sent"][phase][u.institution]).keys() == (
                keys[phase.split("/")[0]])
    parts = [ds.X[i.idx] for i in partition(ds, sp)]
    prep, scaler = federated_preprocessing(ds.schema, parts)  # the pooled reference, in-test
    X = ds.X[sp.holdout_idx[:2000]]
    np.testing.assert_allclose(gmsc_run["prep"].transform(X), prep.transform(X))
    np.testing.assert_allclose(gmsc_run["scaler"].mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(gmsc_run["scaler"].var_, scaler.var_, rtol=1e-12)


class _Proxy:
    """A lender reached in-process, as the aggregator's Flower proxy reaches it."""

    def __init__(self, lender):
        self.lender = lender

    def fit(self, ins, timeout, group_id):
        return self.lender.fit(ins)


class _Manager:
    def __init__(self, lenders):
        self.proxies = {str(i): _Proxy(lender) for i, lender in enumerate(lenders)}

    def all(self):
        return self.proxies


def test_the_aggregator_refuses_statistics_not_signed_by_each_member_once(gmsc_small):
    from models.federated.lender import Lender
    from models.federated.stats_round import StatisticsRefused, collect
    X, y, schema = gmsc_small
    keys = {n: "0x" + f"{i + 1:02x}" * 32 for i, n in enumerate(["a", "b"])}
    members = {n: Account.from_key(k).address for n, k in keys.items()}
    rows = {"a": slice(0, 2000), "b": slice(2000, 4000)}

    def lender(name, key=None, fed="fed"):
        return Lender(name, key or keys[name], fed, "logistic", schema, X[rows[name]],
                      y[rows[name]])

    answers, records, _ = collect(_Manager([lender("b"), lender("a")]), "sketch", {}, members,
                                  "fed", 10)
    assert list(answers) == ["a", "b"] and answers["a"]["rows"] == 2000
    stranger = Lender("c", "0x" + "44" * 32, "fed", "logistic", schema, X[:100], y[:100])
    cases = [
        ("b's answer is not signed by its key", [lender("a"), lender("b", key="0x" + "33" * 32)]),
        # an answer signed for another federation does not count in this one
        ("b's answer is not signed by its key", [lender("a"), lender("b", fed="other")]),
        ("a answered twice", [lender("a"), lender("a"), lender("b")]),
        ("no answer from b", [lender("a")]),
        ("an answer from 'c', not a member", [lender("a"), lender("b"), stranger]),
    ]
    for why, lenders in cases:
        with pytest.raises(StatisticsRefused, match=why):
            collect(_Manager(lenders), "sketch", {}, members, "fed", 10)


def test_a_lender_withholds_the_summary_of_a_cut_off_band_of_few_applicants(gmsc_small):
    """An aggregator could narrow the band to one applicant; below MIN_SUMMARY_ROWS the lender
    sends counts only, and the reference is built from the lenders that did summarise."""
    from models.federated.lender import MIN_SUMMARY_ROWS, Lender
    from models.federated.reference import _typical
    from models.federated.stats import federated_preprocessing
    from models.serving import pd_to_bps, score_from_pd
    X, y, schema = gmsc_small
    b = -2.0  # every applicant gets the same PD, so a band of 0 points holds them all
    cut = score_from_pd(pd_to_bps(1.0 / (1.0 + np.exp(-b))))
    answers = []
    for n in (MIN_SUMMARY_ROWS - 1, 500):
        lender = Lender("a", "0x" + "01" * 32, "fed", "logistic", schema, X[:n], y[:n])
        lender.prep, lender.scaler = federated_preprocessing(schema, [X[:n]])
        answers.append(lender._cutoff_band({"model": {
            "kind": "logistic", "w": np.zeros(lender.prep.n_features_out_), "b": b},
            "cut": cut, "band": 0}))
    assert [(a["rows"], a["approved"]) for a in answers] == [(MIN_SUMMARY_ROWS - 1,) * 2,
                                                             (500, 500)]
    assert answers[0]["columns"] is None and len(answers[1]["columns"]) == len(
        schema["features"])
    assert _typical(schema, answers) == _typical(schema, answers[1:])


def test_a_lender_answers_no_request_of_another_run_or_model_kind_nor_writes_outside_its_dir(
        gmsc_small, tmp_path):
    """An aggregator (or someone posing as it) cannot have a lender sign statistics for another
    federation or model kind, nor make it write a bundle file outside its temporary directory."""
    from flwr.common import FitIns, Parameters
    from models.federated.lender import Lender, encode
    X, y, schema = gmsc_small
    lender = Lender("a", "0x" + "01" * 32, "fed-1", "logistic", schema, X[:300], y[:300])
    empty = Parameters(tensor_type="", tensors=[])
    for config, why in (({"federation": "fed-2"}, "federation 'fed-2'; this lender joined "
                                                  "'fed-1'"),
                        ({"model": "xgb"}, "model 'xgb'; this lender joined 'logistic'")):
        with pytest.raises(ValueError, match=why):
            lender.fit(FitIns(empty, {"phase": "sketch", "round": 0, **config}))
    assert lender.fit(FitIns(empty, {"phase": "sketch", "round": 0, "federation": "fed-1",
                                     "model": "logistic"})).num_examples == 300
    request = {"bundle": {"../escaped.json": "00"}, "reference_rows": 10, "total_rows": 300}
    with pytest.raises(ValueError, match="refusing bundle file name"):
        lender.fit(FitIns(empty, {"phase": "monitoring_sample", "round": 0,
                                  "request": encode(request)}))
    import tempfile
    assert not (Path(tempfile.gettempdir()) / "escaped.json").exists()  # where ../ would land
