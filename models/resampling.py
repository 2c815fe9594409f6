"""Class-imbalance resamplers with the imbalanced-learn API (``fit_resample``).

:class:`NeighbourhoodInterpolation` is Algorithm 1 of VeriCred (seed 004): for each minority row,
find its ``k`` nearest minority neighbours; ``m`` times, pick one neighbour at random, move from
the row towards it by a random interpolation factor **per feature** (the paper draws a vector of
factors, one per dimension; SMOTE draws a single scalar, i.e. a point on the segment) and add a
small Gaussian perturbation (``noise`` x the feature's standard deviation). Distances and noise are
computed on standardised features so large-scale columns (income) do not dominate; output rows are
in the input scale.

:class:`Standardized` wraps any imbalanced-learn sampler (SMOTE) so it also measures neighbours on
standardised features: both resamplers then see the same geometry in the comparison.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.neighbors import NearestNeighbors


def _n_to_generate(y, minority, sampling_strategy, m):
    n_min = int(np.sum(y == minority))
    n_maj = int(len(y) - n_min)
    if m is not None:
        return n_min * int(m)
    if sampling_strategy == "auto":
        ratio = 1.0
    else:
        ratio = float(sampling_strategy)
    return max(0, int(round(ratio * n_maj)) - n_min)


class NeighbourhoodInterpolation(BaseEstimator):
    """VeriCred Algorithm 1 (neighbourhood-based augmentation) as an imblearn-style sampler.

    Parameters: ``k_neighbors`` (k), ``m`` (augmentation multiplier; if None, derived from
    ``sampling_strategy`` = desired minority/majority ratio after resampling, as in imblearn),
    ``noise`` (perturbation s.d. in units of each feature's s.d.), ``random_state``.
    """

    def __init__(self, k_neighbors=5, m=None, sampling_strategy="auto", noise=0.01,
                 random_state=None):
        self.k_neighbors = k_neighbors
        self.m = m
        self.sampling_strategy = sampling_strategy
        self.noise = noise
        self.random_state = random_state

    def fit_resample(self, X, y):
        X = np.asarray(X)
        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        minority = classes[np.argmin(counts)]
        Xmin = X[y == minority].astype(np.float64)
        n_min = len(Xmin)
        n_new = _n_to_generate(y, minority, self.sampling_strategy, self.m)
        if n_new <= 0 or n_min < 2:
            return X, y
        rng = np.random.default_rng(self.random_state)
        mu = Xmin.mean(axis=0)
        sd = X.astype(np.float64).std(axis=0)
        sd[sd == 0] = 1.0
        Z = (Xmin - mu) / sd
        k = min(self.k_neighbors, n_min - 1)
        # kd-tree: exact distances computed row by row. The default brute-force search uses BLAS
        # matrix products whose rounding can vary between runs, which reorders near-tied
        # neighbours (GMSC has duplicate rows) and broke byte-for-byte reproducible retraining.
        nn = NearestNeighbors(n_neighbors=k + 1, algorithm="kd_tree").fit(Z)
        neigh = nn.kneighbors(Z, return_distance=False)[:, 1:]
        # Every minority row is used in turn (Algorithm 1 loops over rows, m times each).
        base = np.arange(n_new) % n_min
        pick = neigh[base, rng.integers(0, k, size=n_new)]
        lam = rng.random((n_new, Z.shape[1]))
        Znew = Z[base] + lam * (Z[pick] - Z[base])
        Znew += rng.normal(0.0, self.noise, size=Znew.shape)
        Xnew = (Znew * sd + mu).astype(X.dtype)
        return np.vstack([X, Xnew]), np.concatenate([y, np.full(n_new, minority, dtype=y.dtype)])


class Standardized(BaseEstimator):
    """Run ``sampler`` on standardised features and map the synthetic rows back."""

    def __init__(self, sampler=None):
        self.sampler = sampler

    def fit_resample(self, X, y):
        X = np.asarray(X)
        mu = X.mean(axis=0, dtype=np.float64)
        sd = X.std(axis=0, dtype=np.float64)
        sd[sd == 0] = 1.0
        Xr, yr = clone(self.sampler).fit_resample((X - mu) / sd, y)
        out = (np.asarray(Xr) * sd + mu).astype(X.dtype)
        out[: len(X)] = X  # originals unchanged bit for bit
        return out, yr
