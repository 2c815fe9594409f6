"""What a bundle carries about its training data, computed from the lenders' statistics instead
of pooled rows (issue 15), in the shapes models.train and models.monitoring give it:

* the reasons' reference row: per feature the median (mode for a category) of the applicants at
  or just above the approval cut-off. Each lender scores its own rows with the final model and
  sends column sketches (or category counts) of those within the band; the band widens (20, 40,
  80 ... points) until the lenders together hold ``CUTOFF_MIN_ROWS`` (pooled, the nearest rows are
  taken instead: a band is what lenders can agree on without showing rows);
* the elderly rule's age grid, from each lender's youngest and oldest applicant;
* the monitoring reference: decile edges of the score and of every numeric feature read off the
  merged sketches, and the expected share of each bucket from the lenders' bucket counts.
"""
from __future__ import annotations

import numpy as np

from .. import monitoring
from ..serving import pd_to_bps, score_from_pd
from ..train import CUTOFF_BAND_POINTS, CUTOFF_MIN_ROWS
from .stats import column_sketch, mixture_quantiles


def _scores(pds) -> np.ndarray:
    return np.array([score_from_pd(pd_to_bps(p)) for p in pds], dtype=np.float64)


def _typical(schema: dict, parts: list[np.ndarray]) -> list:
    """Median (mode for categories; None if nothing observed) of rows held by several lenders."""
    out = []
    for j, f in enumerate(schema["features"]):
        if f["type"] == "category":
            counts = sum(np.bincount(X[:, j][~np.isnan(X[:, j])].astype(int),
                                     minlength=len(f["categories"])) for X in parts)
            out.append(float(np.argmax(counts)) if np.sum(counts) else None)
        else:
            med = mixture_quantiles([column_sketch(X[:, j]) for X in parts], [0.5])[0]
            out.append(None if np.isnan(med) else float(np.float32(med)))
    return out


def cutoff_reference(schema: dict, parts: list[np.ndarray], pds: list[np.ndarray],
                     cutoff_bps: int) -> tuple[list, dict]:
    cut = score_from_pd(cutoff_bps)
    scores = [_scores(p) for p in pds]
    band = CUTOFF_BAND_POINTS
    while True:
        chosen = [X[(s >= cut) & (s <= cut + band)] for X, s in zip(parts, scores)]
        n = sum(len(c) for c in chosen)
        approved = sum(int((s >= cut).sum()) for s in scores)
        if n >= min(CUTOFF_MIN_ROWS, approved):
            break
        band *= 2
    if not approved:
        raise ValueError(f"no applicant of any lender is approved at {cutoff_bps} bps")
    return _typical(schema, chosen), {
        "kind": "median (mode for categories) of the applicants at or just above the approval "
                "cut-off, merged from the lenders' statistics", "cutoff_pd_bps": cutoff_bps,
        "cutoff_score": cut, "band_points": band, "rows": int(n),
        "rows_per_lender": [int(len(c)) for c in chosen]}


def elderly_rule(schema: dict, parts: list[np.ndarray]) -> dict | None:
    ages = [(j, f) for j, f in enumerate(schema["features"]) if "elderly_from" in f]
    if not ages:
        return None
    j, f = ages[0]
    lo = min(np.nanmin(X[:, j]) for X in parts)
    hi = max(np.nanmax(X[:, j]) for X in parts)
    return {"feature": f["name"], "from": f["elderly_from"],
            "grid": [float(a) for a in range(int(lo), int(hi) + 1)]}


def _numeric_spec(columns: list[np.ndarray]) -> dict:
    edges = mixture_quantiles([column_sketch(c) for c in columns],
                              np.linspace(0, 1, monitoring.N_BINS + 1)[1:-1])
    edges = np.unique(edges[~np.isnan(edges)])
    return {"kind": "numeric", "edges": [float(e) for e in edges]}


def _expected(spec: dict, columns: list[np.ndarray]) -> list[float]:
    counts = sum(np.bincount(monitoring.buckets(spec, c), minlength=monitoring.n_buckets(spec))
                 for c in columns)
    return (counts / max(1, counts.sum())).tolist()


def monitoring_reference(schema: dict, parts: list[np.ndarray], scores: list[np.ndarray]) -> dict:
    score_spec = _numeric_spec(scores)
    out = {"rows": int(sum(len(X) for X in parts)), "bins": monitoring.N_BINS,
           "warn": monitoring.PSI_WARN, "alert": monitoring.PSI_ALERT,
           "score": {**score_spec, "expected": _expected(score_spec, scores)}, "features": {},
           "computed_from": "the lenders' statistics (models.federated.reference)"}
    for j, f in enumerate(schema["features"]):
        cols = [X[:, j].astype(np.float64) for X in parts]
        spec = (monitoring._category(len(f["categories"])) if f["type"] == "category"
                else _numeric_spec(cols))
        out["features"][f["name"]] = {**spec, "expected": _expected(spec, cols)}
    return out
