import numpy as np
from imblearn.over_sampling import SMOTE

from models.resampling import NeighbourhoodInterpolation, Standardized


def _toy(n_maj=300, n_min=30, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 1, (n_maj, 3)), rng.normal(3, 0.5, (n_min, 3))])
    y = np.r_[np.zeros(n_maj, int), np.ones(n_min, int)]
    return X.astype(np.float32), y


def test_nia_adds_m_rows_per_minority_instance_with_minority_label():
    X, y = _toy()
    Xr, yr = NeighbourhoodInterpolation(k_neighbors=5, m=3, random_state=0).fit_resample(X, y)
    assert len(Xr) == len(X) + 90 and (yr[len(X):] == 1).all()
    assert (Xr[: len(X)] == X).all() and Xr.dtype == X.dtype


def test_nia_sampling_strategy_matches_imblearn_ratio():
    X, y = _toy()
    _, yr = NeighbourhoodInterpolation(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    assert yr.sum() == 150


def test_nia_synthetic_rows_lie_in_the_neighbour_box_without_noise():
    X, y = _toy()
    nia = NeighbourhoodInterpolation(k_neighbors=2, m=1, noise=0.0, random_state=1)
    Xr, _ = nia.fit_resample(X, y)
    Xmin = X[y == 1]
    new = Xr[len(X):]
    lo, hi = Xmin.min(axis=0), Xmin.max(axis=0)
    assert ((new >= lo - 1e-5) & (new <= hi + 1e-5)).all()
    # per-feature factors: the synthetic points are generally NOT on the segment (unlike SMOTE)
    d_base = new - Xmin
    ratios = d_base[:, 0] / np.where(d_base[:, 1] == 0, 1, d_base[:, 1])
    assert np.std(ratios) > 0


def test_nia_is_deterministic_for_a_seed():
    X, y = _toy()
    a = NeighbourhoodInterpolation(m=2, random_state=7).fit_resample(X, y)[0]
    b = NeighbourhoodInterpolation(m=2, random_state=7).fit_resample(X, y)[0]
    c = NeighbourhoodInterpolation(m=2, random_state=8).fit_resample(X, y)[0]
    assert (a == b).all() and not (a == c).all()


def test_standardized_smote_keeps_originals_and_balances():
    X, y = _toy()
    Xr, yr = Standardized(SMOTE(sampling_strategy=0.5, random_state=0)).fit_resample(X, y)
    assert (Xr[: len(X)] == X).all() and yr.sum() == 150
