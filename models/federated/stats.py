"""Preprocessing fitted from aggregated statistics (issue 15): no institution's rows leave it.

Two rounds of statistics, as a federation runs them before training:

1. each institution sends a quantile sketch of every numeric column (its observed count and its
   values at :data:`LEVELS`, dense in the tails where the clipping quantiles lie); the server
   reads the pooled distribution as the count-weighted mixture of the institutions'
   piecewise-linear distribution functions and takes the median and clipping quantiles from it.
   (Averaging the institutions' own quantiles instead is badly wrong when they differ: split by
   age, it put the pooled 99.9% age at 62 instead of 93.)
2. each institution transforms its rows with the merged preprocessing and sends the count, sum
   and sum of squares of every column; the server turns them into the exact pooled mean and
   variance of a ``StandardScaler``.
"""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from ..preprocess import TabularPrep


LEVELS = np.unique(np.concatenate([[0.0, 0.0005, 0.001, 0.002, 0.005], np.linspace(0.01, 0.99, 99),
                                   [0.995, 0.998, 0.999, 0.9995, 1.0]]))


def column_sketch(values) -> dict:
    """One column's share of a merged distribution: its observed count and values at LEVELS."""
    c = np.asarray(values, dtype=np.float64)
    c = c[~np.isnan(c)]
    return {"n": int(len(c)),
            "values": np.quantile(c, LEVELS) if len(c) else np.full(len(LEVELS), np.nan)}


def sketch(prep: TabularPrep, X: np.ndarray) -> dict:
    """An institution's share of the preprocessing statistics: a column sketch of every numeric
    column."""
    num = np.asarray(X, dtype=np.float64)[:, list(prep.numeric_idx)]
    return {"n_features_in": int(np.asarray(X).shape[1]),
            "columns": [column_sketch(c) for c in num.T]}


def mixture_quantiles(cols: list[dict], qs) -> np.ndarray:
    """Quantiles of the count-weighted mixture of piecewise-linear distribution functions."""
    cols = [c for c in cols if c["n"]]
    if not cols:
        return np.full(len(qs), np.nan)
    grid = np.unique(np.concatenate([c["values"] for c in cols]))
    total = sum(c["n"] for c in cols)
    # each CDF interpolated on the grid; the sketch's values may repeat (ties), keep the last level
    cdf = sum(c["n"] * np.interp(grid, *_strictly_increasing(c["values"]), left=0.0, right=1.0)
              for c in cols) / total
    return np.interp(qs, *_strictly_increasing(cdf, grid))


def _strictly_increasing(x, y=None):
    """(x, y) with repeated x values collapsed to their last y (np.interp needs increasing x)."""
    y = LEVELS if y is None else y
    keep = np.append(np.diff(x) > 0, True)
    return x[keep], y[keep]


def merge_sketches(prep: TabularPrep, sketches: list[dict]) -> dict:
    """The pooled statistics :meth:`TabularPrep.fit_from_statistics` takes."""
    if not sketches or len({s["n_features_in"] for s in sketches}) != 1:
        raise ValueError("institutions must share one feature schema")
    qs = [0.5, *prep.clip_quantiles]
    merged = np.array([mixture_quantiles([s["columns"][j] for s in sketches], qs)
                       for j in range(len(prep.numeric_idx))]).reshape(-1, 3)
    return {"n_features_in": sketches[0]["n_features_in"],
            "observed": np.array([sum(s["columns"][j]["n"] for s in sketches)
                                  for j in range(len(prep.numeric_idx))], int),
            "median": merged[:, 0], "lo": merged[:, 1], "hi": merged[:, 2]}


def moments(Z: np.ndarray) -> dict:
    Z = np.asarray(Z, dtype=np.float64)
    return {"n": int(len(Z)), "sum": Z.sum(axis=0), "sumsq": (Z ** 2).sum(axis=0)}


def scaler_from_moments(parts: list[dict]) -> StandardScaler:
    n = sum(p["n"] for p in parts)
    if n == 0:
        raise ValueError("no rows to standardise")
    mean = sum(p["sum"] for p in parts) / n
    var = np.maximum(sum(p["sumsq"] for p in parts) / n - mean ** 2, 0.0)
    sc = StandardScaler()
    sc.mean_, sc.var_, sc.n_samples_seen_ = mean, var, n
    sc.scale_ = np.where(var > 0, np.sqrt(var), 1.0)  # as scikit-learn treats a constant column
    sc.n_features_in_ = len(mean)
    return sc


def federated_preprocessing(schema: dict, parts: list[np.ndarray]):
    """(TabularPrep, StandardScaler) fitted from the institutions' statistics. ``parts`` stands
    for the institutions: each array is only ever summarised where it lies."""
    prep = TabularPrep.from_schema(schema, one_hot=True, clip=True, log=True)
    prep.fit_from_statistics(merge_sketches(prep, [sketch(prep, X) for X in parts]))
    scaler = scaler_from_moments([moments(prep.transform(X)) for X in parts])
    return prep, scaler
