"""The blend study (python -m models ablation blend): members from the comparison table, every
blend an average of their out-of-fold PDs, paired against the goals' baseline."""
import json

import numpy as np
import pytest

from models import blend_study
from models import metrics as M
from models.cv import cv_oof


def _row(family, resampler, auc, params=None):
    return {"family": family, "resampler": resampler, "auc_mean": auc, "params": params or {}}


def test_members_are_each_familys_best_row_without_resampling():
    comparison = {"lgbm/none": _row("lgbm", "none", 0.80), "lgbm/none/tuned": _row("lgbm", "none", 0.81),
                  "lgbm/nia": _row("lgbm", "nia", 0.90), "hgb/none": _row("hgb", "none", 0.79),
                  "rf/none": _row("rf", "none", 0.95)}
    assert list(blend_study.members(comparison)) == ["lgbm/none/tuned", "hgb/none"]


def test_a_blend_averages_its_members_out_of_fold_pds(german, tmp_path):
    ds, sp = german
    (tmp_path / "comparison_german.json").write_text(json.dumps({
        "lgbm/none": _row("lgbm", "none", 0.77), "hgb/none": _row("hgb", "none", 0.76),
        "hgb/smote": _row("hgb", "smote", 0.99)}))
    out = blend_study.run(ds, sp, tmp_path)
    assert list(out["arms"]) == ["lgbm/none", "hgb/none", "lgbm/none + hgb/none"]
    ytr, folds = ds.y[sp.train_idx], [va for _, va in sp.folds]
    p = np.mean([cv_oof(ds, sp, f, {}, "none", 0)["oof"] for f in ("lgbm", "hgb")], axis=0)
    blend = out["arms"]["lgbm/none + hgb/none"]
    assert blend["fold_auc"] == pytest.approx([M.auc(ytr[va], p[va]) for va in folds])
    best = out["best_member"]
    assert out["arms"][best]["delta_auc_vs_best_member"] == {"mean": 0.0, "se": 0.0}
    base = np.asarray(out["baseline_fold_auc"])
    assert blend["delta_auc_vs_untuned_hgb"]["mean"] == pytest.approx(
        float(np.mean(np.asarray(blend["fold_auc"]) - base)))
    md = (tmp_path / "blend_ablation_german.md").read_text()
    assert "| lgbm/none + hgb/none | " in md and f"best member alone ({best})" in md


def test_the_study_needs_a_comparison_with_two_families(german, tmp_path):
    ds, sp = german
    with pytest.raises(FileNotFoundError, match="models compare german"):
        blend_study.run(ds, sp, tmp_path)
    (tmp_path / "comparison_german.json").write_text(json.dumps({"hgb/none": _row("hgb", "none", 0.7)}))
    with pytest.raises(ValueError, match="two of"):
        blend_study.run(ds, sp, tmp_path)
    assert not (tmp_path / "blend_ablation_german.json").exists()
