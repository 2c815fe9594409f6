"""Fixtures for the model tests: pure Python, no chain (runs under plain pytest and brownie)."""
import warnings

import numpy as np
import pytest

from models.data import load_dataset, make_splits


@pytest.fixture(scope="session", autouse=True)
def _quiet_single_threaded():
    """No warnings noise; one BLAS/OpenMP thread (oversubscription makes HGB very slow)."""
    from threadpoolctl import threadpool_limits
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def german():
    ds = load_dataset("german")
    return ds, make_splits(ds.y, ds.X)


@pytest.fixture(scope="session")
def gmsc():
    ds = load_dataset("gmsc")
    return ds, make_splits(ds.y, ds.X)


@pytest.fixture(scope="session")
def gmsc_small(gmsc):
    ds, sp = gmsc
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(sp.train_idx, 4000, replace=False))
    return ds.X[idx], ds.y[idx], ds.schema
