"""Holdout evaluation: metrics, group breakdowns and plots (matplotlib, Agg backend)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import metrics as M  # noqa: E402

MIN_GROUP = 30


def group_metrics(y, p, groups: pd.DataFrame, threshold: float) -> dict:
    """AUC and approval rate (PD < threshold) per group value, and the max-min gaps."""
    out = {}
    for col in groups.columns:
        rows = {}
        for val, idx in groups.groupby(col, observed=True).indices.items():
            yy, pp = y[idx], p[idx]
            r = {"n": int(len(idx)), "default_rate": float(np.mean(yy)),
                 "approval_rate": float(np.mean(pp < threshold)), "mean_pd": float(np.mean(pp))}
            # calibration within the group: predicted over observed defaults (1 = calibrated)
            r["calibration_ratio"] = float(np.mean(pp) / np.mean(yy)) if yy.any() else None
            r["auc"] = M.auc(yy, pp) if len(idx) >= MIN_GROUP and 0 < yy.sum() < len(yy) else None
            rows[str(val)] = r
        aucs = [r["auc"] for r in rows.values() if r["auc"] is not None]
        appr = [r["approval_rate"] for r in rows.values() if r["n"] >= MIN_GROUP]
        out[col] = {"groups": rows,
                    "auc_gap": float(max(aucs) - min(aucs)) if len(aucs) > 1 else None,
                    "approval_rate_gap": float(max(appr) - min(appr)) if len(appr) > 1 else None,
                    "approval_rate_ratio_min_max": (float(min(appr) / max(appr))
                                                    if len(appr) > 1 and max(appr) > 0 else None)}
    return out


def gains_table(y, p) -> list[dict]:
    """Per score band (A best .. F): rows, share, bads, bad rate, PD range, and the share of all
    bads captured by this band and the worse ones (cumulative from F)."""
    from .serving import pd_to_bps, score_band, score_from_pd, SCORE_BANDS
    y, p = np.asarray(y), np.asarray(p, dtype=np.float64)
    bands = np.array([score_band(score_from_pd(pd_to_bps(v))) for v in p])
    total_bad, rows, captured = max(1, int(y.sum())), [], 0
    for band, _ in reversed(SCORE_BANDS):  # F first, so the capture accumulates from the worst
        m = bands == band
        bads = int(y[m].sum())
        captured += bads
        rows.append({"band": band, "n": int(m.sum()), "share": float(m.mean()), "bads": bads,
                     "bad_rate": float(y[m].mean()) if m.any() else None,
                     "pd_min": float(p[m].min()) if m.any() else None,
                     "pd_max": float(p[m].max()) if m.any() else None,
                     "cumulative_bad_capture": captured / total_bad})
    return rows[::-1]


def swap_set(y, p_model, p_base, cutoff_pd: float) -> dict:
    """Who the model approves (PD at or under the cut-off) that the baseline declines, and the
    reverse, with their observed bad rates: what changes for applicants if the model replaces it."""
    y = np.asarray(y)
    a, b = np.asarray(p_model) <= cutoff_pd, np.asarray(p_base) <= cutoff_pd

    def cell(m):
        return {"n": int(m.sum()), "bad_rate": float(y[m].mean()) if m.any() else None}
    return {"cutoff_pd": cutoff_pd, "both_approve": cell(a & b), "swap_in": cell(a & ~b),
            "swap_out": cell(~a & b), "both_decline": cell(~a & ~b)}


def duplicates_across_split(X_train: np.ndarray, X_holdout: np.ndarray) -> dict:
    """Holdout rows whose feature vector also occurs in the training split (exact match)."""
    seen = {r.tobytes() for r in np.ascontiguousarray(X_train, dtype=np.float32)}
    dup = sum(r.tobytes() in seen for r in np.ascontiguousarray(X_holdout, dtype=np.float32))
    return {"holdout_rows": int(len(X_holdout)), "also_in_training": int(dup)}


def plots(y, p, outdir: Path, importances: dict | None = None, title: str = "") -> list[str]:
    outdir.mkdir(parents=True, exist_ok=True)
    files = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=80)
        plt.close(fig)
        files.append(name)

    fpr, tpr = M.roc_points(y, p)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC {M.auc(y, p):.3f}")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=f"ROC {title}")
    ax.legend(loc="lower right")
    save(fig, "roc.png")

    order = np.argsort(-p, kind="mergesort")
    tp = np.cumsum(y[order])
    prec = tp / np.arange(1, len(y) + 1)
    rec = tp / max(1, y.sum())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(rec, prec)
    ax.axhline(y.mean(), color="k", ls=":", lw=0.8)
    ax.set(xlabel="Recall", ylabel="Precision", title=f"Precision-recall {title}")
    save(fig, "pr.png")

    bins = np.quantile(p, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, 9)
    mp = [p[idx == b].mean() for b in range(10) if (idx == b).any()]
    my = [y[idx == b].mean() for b in range(10) if (idx == b).any()]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(mp, my, "o-")
    lim = max(max(mp), max(my)) * 1.05
    ax.plot([0, lim], [0, lim], "k:", lw=0.8)
    ax.set(xlabel="Mean predicted PD (decile)", ylabel="Observed default rate",
           title=f"Calibration {title}")
    save(fig, "calibration.png")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(p[y == 0], bins=50, alpha=0.6, density=True, label="non-default")
    ax.hist(p[y == 1], bins=50, alpha=0.6, density=True, label="default")
    ax.set(xlabel="Predicted PD", ylabel="Density", title=f"PD histogram {title}")
    ax.legend()
    save(fig, "pd_histogram.png")

    if importances:
        names = list(importances)
        vals = np.array([importances[n] for n in names])
        o = np.argsort(vals)
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
        ax.barh([names[i] for i in o], vals[o])
        ax.set(xlabel="Permutation importance (holdout AUC drop)",
               title=f"Feature importance {title}")
        save(fig, "feature_importance.png")
    return files


def permutation_importance_auc(predict, X, y, names, n_rows=10000, seed=0) -> dict:
    """Holdout AUC drop when one schema feature is permuted (one repeat, up to ``n_rows``)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(X), size=min(n_rows, len(X)), replace=False)
    Xs, ys = X[idx], y[idx]
    base = M.auc(ys, predict(Xs))
    out = {}
    for j, n in enumerate(names):
        Xp = Xs.copy()
        Xp[:, j] = Xp[rng.permutation(len(Xp)), j]
        out[n] = float(base - M.auc(ys, predict(Xp)))
    return out


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, default=float) + "\n")
