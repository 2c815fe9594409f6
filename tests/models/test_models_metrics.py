import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models import metrics as M


def test_h_measure_matches_hand_worked_example():
    # Derived by hand (see models/README.md): negatives {0.1, 0.6}, positives {0.4, 0.9}.
    # ROC hull vertices (0,0),(0,.5),(.5,1),(1,1); with pi0 = pi1 = 1/2 the minimum loss is
    # Q(c) = min(c, 1-c)/4, L = 0.078125, L_max = 0.15625 under Beta(2,2), so H = 0.5 (AUC 0.75).
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.4, 0.9])
    assert M.h_measure(y, s) == pytest.approx(0.5, abs=1e-12)
    assert M.auc(y, s) == 0.75


def test_h_measure_extremes():
    y = np.array([0, 0, 0, 1, 1])
    assert M.h_measure(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9])) == pytest.approx(1.0)
    assert M.h_measure(y, np.full(5, 0.4)) == pytest.approx(0.0, abs=1e-12)


def test_h_measure_equals_numerical_integration_of_the_definition():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 3000)
    s = np.round(rng.normal(size=3000) + 0.9 * y, 1)  # ties on purpose
    fpr, tpr = M.roc_points(y, s)
    pi1 = y.mean()
    pi0 = 1 - pi1
    c = np.linspace(0, 1, 100_001)
    u = 6 * c * (1 - c)
    Q = np.min(c[:, None] * pi0 * fpr[None] + (1 - c[:, None]) * pi1 * (1 - tpr[None]), axis=1)
    Qmax = np.minimum(c * pi0, (1 - c) * pi1)
    expected = 1 - np.trapezoid(Q * u, c) / np.trapezoid(Qmax * u, c)
    assert M.h_measure(y, s) == pytest.approx(expected, abs=1e-6)


def test_auc_matches_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.random(500) + 0.3 * y, 2)
    assert M.auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    w = rng.integers(0, 3, 500)
    assert M.auc(y, s, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)


def test_bootstrap_interval_brackets_the_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 800)
    s = rng.random(800) + 0.5 * y
    lo, hi = M.bootstrap_auc_ci(y, s, n_boot=200)
    assert lo < M.auc(y, s) < hi and hi - lo < 0.1


def test_ks_brier_ece_on_small_cases():
    y = np.array([0, 0, 1, 1])
    assert M.ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert M.ks_statistic(y, np.array([0.1, 0.6, 0.4, 0.9])) == 0.5
    assert M.brier(y, np.array([0, 0, 1, 0.5])) == pytest.approx(0.0625)
    # two bins: p=0.15 (y mean 0) and p=0.85 (y mean 1) -> ECE = 0.15
    assert M.expected_calibration_error(y, np.array([0.15, 0.15, 0.85, 0.85])) == \
        pytest.approx(0.15)


def test_confusion_metrics_and_best_threshold():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    m = M.confusion_metrics(y, p, 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 0, 2)
    assert m["precision"] == 0.75 and m["recall"] == 1.0
    t = M.best_f1_threshold(y, p)
    assert M.confusion_metrics(y, p, t)["f1"] >= m["f1"]


def test_h_measure_matches_the_hmeasure_package_for_both_priors():
    # reference values from hmeasure 0.1.6 (PyPI; Python port of the R package) on these rows:
    # h_score(y, s) with its default severity ratio n1/n0, and with severity_ratio=1.0
    rng = np.random.default_rng(7)
    y = (rng.random(2000) < 0.08).astype(int)
    s = 1 / (1 + np.exp(-(y * 1.5 + rng.normal(0, 1, 2000) - 2)))
    a, b = M.hmeasure_default_prior(y)
    assert (a, b) == (2.0, 1 + (len(y) - y.sum()) / y.sum())
    assert M.h_measure(y, s, a, b) == pytest.approx(0.37158432514821893, abs=1e-12)
    assert M.h_measure(y, s) == pytest.approx(0.18546356709419998, abs=1e-12)
    out = M.all_metrics(y, s, n_boot=10)
    assert out["h_measure_hmeasure_default"] == pytest.approx(0.37158432514821893, abs=1e-12)
    assert out["h_measure_prior"].startswith("Beta(2, 2)")
