"""C-NAS (models/cnas.py, models/cnas_search.py; seed 004 §3.3): the cost-aware distribution
prefers cheap values, pruning fixes the least important free hyper-parameter to its cheapest
value for every later architecture, and the fronts hold only non-dominated points."""
import numpy as np
import pytest

from models import cnas_search as S
from models.cnas import CellNetClassifier, flops


def test_flops_grow_with_every_costly_choice():
    base = dict(stages=1, cells=1, nodes=2, ops=("dense", "dense"), dim=8, reduce="mean")
    f = flops(20, **base)
    assert flops(20, **{**base, "dim": 16}) > f
    assert flops(20, **{**base, "cells": 2}) > f
    assert flops(20, **{**base, "ops": ("attention", "dense")}) > f
    assert flops(20, **{**base, "ops": ("skip", "dense")}) < f
    assert flops(20, **{**base, "reduce": "dense"}) > f


def test_the_cost_aware_distribution_falls_with_cost_and_is_uniform_without_it():
    costs = S.value_costs(30)
    ref = S._flops(30, S.REFERENCE)
    p = S.sampling_probs(costs, ref, lam=2.0)
    for h, vals in S.SPACE.items():
        c = [costs[h][v] for v in vals]
        order = np.argsort(c, kind="stable")
        assert all(p[h][order[i]] >= p[h][order[i + 1]] - 1e-12 for i in range(len(c) - 1)), h
    assert p["dim"][0] > p["dim"][-1]  # a cost that differs is weighed
    flat = S.sampling_probs(costs, ref, lam=0.0)
    assert all(np.allclose(v, 1 / len(v)) for v in flat.values())


def test_pareto_front_keeps_only_non_dominated_points():
    pts = [{"flops": 10, "auc": 0.70}, {"flops": 20, "auc": 0.69}, {"flops": 20, "auc": 0.75},
           {"flops": 5, "auc": 0.60}, {"flops": 30, "auc": 0.75}]
    assert [(p["flops"], p["auc"]) for p in S.pareto(pts, "flops")] == [
        (5, 0.60), (10, 0.70), (20, 0.75)]


def test_a_small_search_prunes_and_respects_what_it_pruned(german):
    ds, sp = german
    out = S.search(ds, sp, rounds=3, per_round=3, max_epochs=2, top=2, cv_top=False,
                   patience=10, progress=lambda m: None)
    assert out["cost"]["architectures"] == len(out["history"]) == 9
    assert len(out["prunings"]) == 2
    for p in out["prunings"]:
        h = p["fixed"]
        free = [k for k in S.SPACE if k not in
                {q["fixed"] for q in out["prunings"] if q["after_round"] < p["after_round"]}]
        assert p["importances"][h] == min(p["importances"][k] for k in free)
        assert p["value"] == min(S.SPACE[h], key=lambda v: out["value_costs"][h][str(v)])
        later = [r for r in out["history"] if r["round"] > p["after_round"]]
        assert later and all(r["hp"][h] == p["value"] for r in later)
    keys = {str(sorted(r["genome"].items())) for r in out["history"]}
    assert len(keys) == 9  # no architecture trained twice
    assert [t["validation_auc"] for t in out["top"]] == sorted(
        (r["auc"] for r in out["history"]), reverse=True)[:2]
    assert all(r["latency_ms"] > 0 for r in out["history"])
    md = S.markdown(out)
    assert md.split("## Every architecture tried")[1].count("\n| 0 |") == 3
    assert "Pareto front" in md


def test_bad_genomes_are_refused_before_training():
    X, y = np.zeros((20, 3)), np.array([0, 1] * 10)
    with pytest.raises(ValueError, match="unknown operation"):
        CellNetClassifier(nodes=2, ops=("dense", "conv")).fit(X, y)
    with pytest.raises(ValueError, match="nodes"):
        CellNetClassifier(nodes=5).fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        CellNetClassifier().fit(X, np.zeros(20))


def test_the_budget_stops_the_search_after_the_first_architecture(german):
    ds, sp = german
    out = S.search(ds, sp, rounds=3, per_round=3, max_epochs=1, top=1, cv_top=False,
                   budget=1e-6, progress=lambda m: None)
    assert out["stopped_by_budget"] and len(out["history"]) == 1 and len(out["top"]) == 1
    assert "stopped by the" in S.markdown(out)


def test_a_searched_network_exports_with_parity_and_is_refused_by_the_gates(gmsc, tmp_path):
    """The whole export path runs for a C-NAS network (ONNX within parity, manifest, gates) and
    ends where the fair-lending gates refuse an unconstrained network: serving will not load it."""
    from models import serving as S
    from models.train import GateFailure, export_bundle, fit_final
    ds, sp = gmsc
    cfg = {"family": "cnas", "params": {"dim": 8}, "calibration": "none",
           "max_train_rows": 3000}
    model = fit_final(ds, sp, cfg)
    with pytest.raises(GateFailure, match="ICE monotonicity"):
        export_bundle(model, ds, sp, cfg, tmp_path / "bundle")
    with pytest.raises(Exception, match="gate"):
        S.load_bundle(tmp_path / "bundle")
    served = S.load_bundle(tmp_path / "bundle", ungated=True)
    X = ds.X[sp.holdout_idx[:300]]
    assert np.abs(S.predict_pd(served, X) - model.predict_proba(X)[:, 1]).max() <= 1e-5
