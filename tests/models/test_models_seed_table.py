"""The seed-methods table (models/seed_table.py): every arm is paired against both references
on the same folds and holdout rows, never against itself, and carries what decides whether it
may serve (ONNX parity, ICE violations)."""
import json

import numpy as np
import pytest

from models import families, seed_table


def test_the_table_pairs_each_arm_with_both_references(german, tmp_path, monkeypatch):
    monkeypatch.setitem(families.DEFAULTS, "atriplet", {**families.DEFAULTS["atriplet"],
                                                        "steps": 100})
    monkeypatch.setitem(families.DEFAULTS, "dbn", {**families.DEFAULTS["dbn"], "rbm_iter": 2})
    (tmp_path / "cnas_german.json").write_text(json.dumps({"top": [
        {"genome": {**families.DEFAULTS["cnas"], "dim": 4}, "cv": {"auc_mean": 0.7}}]}))
    ds, sp = german
    out = seed_table.run(ds, sp, tmp_path, n_boot=50, progress=lambda m: None)
    rows = out["arms"]
    assert rows["C-NAS (searched)"]["params"]["dim"] == 4  # the searched genome, read back
    for name, r in rows.items():
        assert set(r["vs"]) == set(seed_table.REFERENCES) - {name}
        hgb = r["vs"].get("untuned HGB")
        if hgb:
            d = np.subtract(r["cv_fold_auc"], rows["untuned HGB"]["cv_fold_auc"])
            assert hgb["cv_delta_auc"]["mean"] == pytest.approx(d.mean())
            assert hgb["holdout_delta_auc"]["delta"] == pytest.approx(
                r["holdout_auc"] - rows["untuned HGB"]["holdout_auc"])
        assert r["latency_ms"] > 0 and r["onnx_parity_max_abs"] >= 0
        assert set(r["ice_violations"]) == {f["name"] for f in ds.schema["features"]
                                            if f.get("monotone")}
    md = (tmp_path / "seed_methods_german.md").read_text()
    assert md.count("\n| A-Triplet + ") == 3 and "Table 4" not in md  # printed for Taiwan only
