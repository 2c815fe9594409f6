"""Institutions for the federation's demo and tests: a data set's training split cut by age band,
so that each lender has its own size, age mix and default rate (deliberately non-IID, as lenders
serving different clienteles are). The holdout stays whole and is only used to measure.

Each data set's own split: GMSC, by ``age``, under 35, 35-49, 50-64, 65 and over (four lenders);
Taiwan, by ``AGE``, under 30, 30-44, 45 and over (three). Other lender counts (``clients``, 2 to
5) have age cuts of their own, still by band and so unequal in size and default rate.
Deterministic: the split depends on the data alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BANDS = {"gmsc": ("age", (35, 50, 65)), "taiwan": ("AGE", (30, 45)),
         "german": ("age_in_years", (30, 45))}
# cuts per number of lenders, where it differs from the data set's own split
CUTS = {"gmsc": {2: (50,), 3: (40, 60), 5: (33, 43, 53, 65)},
        "taiwan": {2: (35,), 4: (28, 35, 45), 5: (27, 32, 38, 46)},
        "german": {2: (35,), 4: (27, 35, 45), 5: (26, 30, 36, 45)}}


@dataclass(frozen=True)
class Institution:
    name: str
    band: str
    idx: np.ndarray  # rows of the data set (all within the training split)

    def summary(self, y: np.ndarray) -> dict:
        return {"name": self.name, "band": self.band, "rows": int(len(self.idx)),
                "default_rate": float(np.mean(y[self.idx]))}


def partition(ds, sp, clients: int | None = None) -> list[Institution]:
    if ds.name not in BANDS:
        raise ValueError(f"no institution split is defined for {ds.name!r}; "
                         f"known: {', '.join(BANDS)}")
    column, cuts = BANDS[ds.name]
    if clients is not None and clients != len(cuts) + 1:
        if clients not in CUTS[ds.name]:
            known = sorted({len(cuts) + 1, *CUTS[ds.name]})
            raise ValueError(f"{ds.name} splits into {', '.join(map(str, known))} lenders, "
                             f"not {clients}")
        cuts = CUTS[ds.name][clients]
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
