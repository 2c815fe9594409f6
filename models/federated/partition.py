"""Institutions for the federation's demo and tests: a data set's training split cut by age band,
so that each lender has its own size, age mix and default rate (deliberately non-IID, as lenders
serving different clienteles are). The holdout stays whole and is only used to measure.

GMSC, by ``age``: under 35, 35-49, 50-64, 65 and over (four lenders). Taiwan, by ``AGE``: under
30, 30-44, 45 and over (three). Deterministic: the split depends on the data alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = {"gmsc": ("age", (35, 50, 65)), "taiwan": ("AGE", (30, 45)),
         "german": ("age_in_years", (30, 45))}


@dataclass(frozen=True)
class Institution:
    name: str
    band: str
    idx: np.ndarray  # rows of the data set (all within the training split)

    def summary(self, y: np.ndarray) -> dict:
        return {"name": self.name, "band": self.band, "rows": int(len(self.idx)),
                "default_rate": float(np.mean(y[self.idx]))}


def partition(ds, sp) -> list[Institution]:
    if ds.name not in BANDS:
        raise ValueError(f"no institution split is defined for {ds.name!r}; "
                         f"known: {', '.join(BANDS)}")
    column, cuts = BANDS[ds.name]
    j = ds.feature_names.index(column)
    train = np.asarray(sp.train_idx)
    age = ds.X[train, j]
    if np.isnan(age).any():
        raise ValueError(f"{column} is missing in {int(np.isnan(age).sum())} training rows")
    band = np.digitize(age, cuts)
    edges = [None, *cuts, None]
    out = []
    for b in range(len(cuts) + 1):
        lo, hi = edges[b], edges[b + 1]
        label = (f"{column} < {hi}" if lo is None else f"{column} >= {lo}" if hi is None
                 else f"{lo} <= {column} < {hi}")
        out.append(Institution(f"lender-{b + 1}", label, train[band == b]))
    return out
