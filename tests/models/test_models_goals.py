"""Goals as paired differences against untuned HGB (models.goals)."""
import numpy as np
import pytest

from models import goals as G


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(int)
    signal = y + rng.normal(0, 1.0, n)
    return y, rng, signal


def test_identical_models_differ_by_exactly_nothing():
    y, rng, s = _data()
    p = 1 / (1 + np.exp(-s))
    out = G.paired_bootstrap_delta_auc(y, p, p.copy(), n_boot=200)
    assert out["delta"] == 0 and out["ci95"] == [0.0, 0.0]


def test_a_better_model_has_an_interval_above_zero_and_a_worse_one_below():
    y, rng, s = _data()
    good = 1 / (1 + np.exp(-s))
    noisy = 1 / (1 + np.exp(-(s + rng.normal(0, 1.5, len(y)))))
    better = G.paired_bootstrap_delta_auc(y, good, noisy, n_boot=300)
    worse = G.paired_bootstrap_delta_auc(y, noisy, good, n_boot=300)
    assert better["ci95"][0] > 0 and worse["ci95"][1] < 0
    assert better["delta"] == pytest.approx(-worse["delta"])


def test_calibration_slope_and_intercept_of_a_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(1)
    logit = rng.normal(-2.5, 1.2, 40_000)
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(len(p)) < p).astype(int)
    cal = G.calibration_slope_intercept(y, p)
    assert cal["slope"] == pytest.approx(1, abs=0.05) and abs(cal["intercept"]) < 0.1
    over = G.calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * logit)))  # logits doubled
    assert over["slope"] == pytest.approx(0.5, abs=0.05)


def test_judge_applies_the_targets():
    fold = lambda m: {"mean": m, "sd": 0.001, "folds": [m] * 5}  # noqa: E731
    ok = G.judge("gmsc", fold(0.004), fold(-0.0001), {"delta": 0.001, "ci95": [-0.001, 0.003],
                                                      "resamples": 2000},
                 {"slope": 1.01, "intercept": 0.02})
    assert all(g["met"] for g in ok["goals"].values())
    bad = G.judge("taiwan", fold(0.004), fold(0.0002), {"delta": -0.001, "ci95": [-0.004, 0.002],
                                                         "resamples": 2000},
                  {"slope": 0.9, "intercept": 0.02})
    assert [k for k, g in bad["goals"].items() if not g["met"]] == [
        "cv_delta_auc", "cv_delta_brier", "holdout_noninferiority", "calibration"]
