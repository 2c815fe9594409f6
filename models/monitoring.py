"""Population stability: the reference distributions a bundle carries, and PSI / CSI against them.

At export, ``reference(...)`` bins the served score and every feature of (up to 20,000) training
rows: numeric values into deciles of the training values, categories by code, and a bucket of
its own for "not reported". The result goes into ``reference.json`` ``monitoring`` (covered by
the bundle id). A scoring node counts what it scores into the same buckets
(:mod:`oracle.drift`) and compares:

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

over the buckets (shares, each floored at ``EPS`` so an empty bucket does not make it infinite):
of the score it is the population stability index, of one feature the characteristic stability
index (CSI). Industry bands: under 0.10 stable, 0.10-0.25 a shift to look at (``PSI_WARN``), over
0.25 a shift that needs action (``PSI_ALERT``), e.g. a model review.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

N_BINS = 10
REFERENCE_ROWS = 20_000
EPS = 1e-4
PSI_WARN, PSI_ALERT = 0.10, 0.25


def _numeric(values: np.ndarray) -> dict:
    obs = values[~np.isnan(values)]
    edges = np.unique(np.quantile(obs, np.linspace(0, 1, N_BINS + 1)[1:-1])) if len(obs) else []
    return {"kind": "numeric", "edges": [float(e) for e in edges]}


def _category(n_categories: int) -> dict:
    return {"kind": "category", "categories": n_categories}


def n_buckets(spec: Mapping[str, Any]) -> int:
    """Value buckets, then one for "not reported"."""
    values = len(spec["edges"]) + 1 if spec["kind"] == "numeric" else spec["categories"]
    return values + 1


def buckets(spec: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
    """Bucket index of each value (the last bucket: missing)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, n_buckets(spec) - 1, dtype=np.int64)
    ok = ~np.isnan(v)
    if spec["kind"] == "numeric":
        out[ok] = np.searchsorted(np.asarray(spec["edges"], dtype=np.float64), v[ok], side="right")
    else:
        out[ok] = np.clip(v[ok].astype(np.int64), 0, spec["categories"] - 1)
    return out


def shares(spec: Mapping[str, Any], values: np.ndarray) -> list[float]:
    counts = np.bincount(buckets(spec, values), minlength=n_buckets(spec))
    return (counts / max(1, counts.sum())).tolist()


def psi(expected, counts) -> float:
    """PSI of observed bucket counts against expected shares (both floored at EPS)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), EPS)
    c = np.asarray(counts, dtype=np.float64)
    a = np.maximum(c / max(1.0, c.sum()), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float) -> str:
    return "alert" if value >= PSI_ALERT else "warn" if value >= PSI_WARN else "ok"


def reference(X: np.ndarray, scores: np.ndarray, schema: Mapping[str, Any]) -> dict:
    """Bucket specs and expected shares of the score and of every feature, from training rows."""
    score_spec = _numeric(np.asarray(scores, dtype=np.float64))
    out = {"rows": int(len(X)), "bins": N_BINS, "warn": PSI_WARN, "alert": PSI_ALERT,
           "score": {**score_spec, "expected": shares(score_spec, scores)}, "features": {}}
    for j, f in enumerate(schema["features"]):
        spec = (_category(len(f["categories"])) if f["type"] == "category"
                else _numeric(X[:, j].astype(np.float64)))
        out["features"][f["name"]] = {**spec, "expected": shares(spec, X[:, j])}
    return out


def report(spec: Mapping[str, Any], X: np.ndarray, scores: np.ndarray,
           names: list[str]) -> dict:
    """PSI of the score and CSI of each feature for a set of scored rows."""
    def one(s, values):
        counts = np.bincount(buckets(s, values), minlength=n_buckets(s))
        value = psi(s["expected"], counts)
        return {"psi": round(value, 4), "level": level(value)}
    feats = {n: one(spec["features"][n], X[:, j]) for j, n in enumerate(names)}
    score = one(spec["score"], scores)
    worst = max([score["psi"]] + [f["psi"] for f in feats.values()])
    return {"rows": int(len(X)), "score": score, "features": feats, "level": level(worst)}
