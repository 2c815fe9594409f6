"""Evaluation metrics (pure functions). Class 1 = default; higher score = riskier.

H-measure (Hand 2009, "Measuring classifier performance: a coherent alternative to the area under
the ROC curve", Machine Learning 77:103-123): with normalised cost ``c`` of misclassifying a class-0
case (and ``1-c`` for class 1), the loss of a classifier that thresholds optimally for each ``c`` is
``Q(c) = min_j [ c*pi0*FPR_j + (1-c)*pi1*(1-TPR_j) ]`` over the ROC convex-hull vertices ``j``.
``L = integral Q(c) u(c) dc`` with ``u`` the Beta(alpha, beta) density (Hand's default Beta(2,2)),
``L_max`` is the same for a classifier that ignores the scores, ``H = 1 - L / L_max``.
The integrals are done exactly with regularised incomplete beta functions.
"""
from __future__ import annotations

import numpy as np
from scipy.special import beta as beta_fn
from scipy.special import betainc


def roc_points(y, s):
    """(FPR, TPR) for every distinct threshold, from (0,0) to (1,1); ties form a single step."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(y)[distinct]
    fp = np.cumsum(~y)[distinct]
    P, N = y.sum(), (~y).sum()
    fpr = np.r_[0.0, fp / N]
    tpr = np.r_[0.0, tp / P]
    return fpr, tpr


def convex_hull(fpr, tpr):
    """Upper-left convex hull of ROC points (monotone chain), from (0,0) to (1,1)."""
    pts = sorted(set(zip(np.r_[fpr, 0.0, 1.0].tolist(), np.r_[tpr, 0.0, 1.0].tolist())))
    hull: list[tuple[float, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # keep only clockwise turns (upper hull)
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    h = np.array(hull)
    return h[:, 0], h[:, 1]


def _int_u(a, b, al, be):
    return betainc(al, be, b) - betainc(al, be, a)


def _int_cu(a, b, al, be):
    return beta_fn(al + 1, be) / beta_fn(al, be) * (betainc(al + 1, be, b) - betainc(al + 1, be, a))


def h_measure(y, s, alpha: float = 2.0, beta: float = 2.0) -> float:
    y = np.asarray(y).astype(bool)
    n1 = y.sum()
    n0 = len(y) - n1
    if n0 == 0 or n1 == 0:
        raise ValueError("h_measure needs both classes")
    pi0, pi1 = n0 / len(y), n1 / len(y)
    fp, tp = convex_hull(*roc_points(y, s))
    # Vertex j is optimal for c in [c_j, c_{j-1}], c_j the cost where j and j+1 tie.
    dfp, dtp = np.diff(fp), np.diff(tp)
    cuts = pi1 * dtp / (pi0 * dfp + pi1 * dtp)
    upper = np.r_[1.0, cuts]
    lower = np.r_[cuts, 0.0]
    A = pi0 * fp - pi1 * (1 - tp)       # Q_j(c) = A_j c + B_j
    B = pi1 * (1 - tp)
    L = float(np.sum(A * _int_cu(lower, upper, alpha, beta) + B * _int_u(lower, upper, alpha,
                                                                            beta)))
    L_max = float(pi0 * _int_cu(0.0, pi1, alpha, beta)
                  + pi1 * (_int_u(pi1, 1.0, alpha, beta) - _int_cu(pi1, 1.0, alpha, beta)))
    return 1.0 - L / L_max


def auc(y, s, weights=None) -> float:
    """ROC AUC (ties count one half); optional integer/real case weights (for the bootstrap)."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(s, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    s, y, w = s[order], y[order], w[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    pos = np.add.reduceat(w * y, starts)
    neg = np.add.reduceat(w * ~y, starts)
    neg_below = np.cumsum(neg) - neg
    P, N = pos.sum(), neg.sum()
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (P * N))


def bootstrap_auc_ci(y, s, n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap interval for the AUC (case resampling via multinomial weights)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    vals = np.array([auc(y, s, rng.multinomial(n, np.full(n, 1.0 / n))) for _ in range(n_boot)])
    a = (1 - level) / 2
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a))


def ks_statistic(y, s) -> float:
    fpr, tpr = roc_points(y, s)
    return float(np.max(tpr - fpr))


def brier(y, p) -> float:
    return float(np.mean((np.asarray(p, dtype=np.float64) - np.asarray(y)) ** 2))


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """ECE with equal-width bins on [0, 1]: sum_b (n_b / n) |mean(p_b) - mean(y_b)|."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def confusion_metrics(y, p, threshold: float) -> dict:
    y = np.asarray(y).astype(bool)
    pred = np.asarray(p) >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"threshold": float(threshold), "accuracy": (tp + tn) / len(y), "precision": prec,
            "recall": rec, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def best_f1_threshold(y, p) -> float:
    """Threshold maximising F1 (chosen on training out-of-fold predictions, never the holdout)."""
    y = np.asarray(y).astype(bool)
    order = np.argsort(-np.asarray(p), kind="mergesort")
    ps, ys = np.asarray(p)[order], y[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    f1 = 2 * tp / (k + ys.sum())
    last_of_tie = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    j = last_of_tie[np.argmax(f1[last_of_tie])]
    return float(ps[j])


def hmeasure_default_prior(y) -> tuple[float, float]:
    """The prior of the `hmeasure` packages' default (Hand & Anagnostopoulos 2014): severity
    ratio n1/n0, i.e. Beta(2, 1 + n0/n1). Our h_measure with it equals hmeasure 0.1.6's
    `h_score(y, s)` (checked in tests/models/test_models_metrics.py)."""
    n1 = int(np.sum(y))
    return 2.0, 1.0 + (len(y) - n1) / n1


def all_metrics(y, p, threshold: float | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    lo, hi = bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed)
    a, b = hmeasure_default_prior(y)
    out = {"n": int(len(y)), "positives": int(np.sum(y)), "auc": auc(y, p),
           "auc_ci95": [lo, hi], "h_measure": h_measure(y, p),
           "h_measure_prior": "Beta(2, 2) (severity ratio 1)",
           "h_measure_hmeasure_default": h_measure(y, p, a, b),
           "h_measure_hmeasure_default_prior": f"Beta(2, {b:.2f}) (the hmeasure package's "
                                               "default: severity ratio n1/n0)",
           "brier": brier(y, p),
           "ks": ks_statistic(y, p), "ece": expected_calibration_error(y, p),
           "at_0.5": confusion_metrics(y, p, 0.5)}
    if threshold is not None:
        out["at_threshold"] = confusion_metrics(y, p, threshold)
    return out
