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
def taiwan():
    ds = load_dataset("taiwan")
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


def make_unseen_csv(path, n_rows: int = 3000, seed: int = 7):
    """A credit CSV no schema in models/ describes, made from the Taiwan data shipped inside the
    westat package (read in place): renamed columns, text categories, a percent-string column,
    an application date, a multi-valued text target, an identifier, protected attributes and
    three planted post-outcome leaks (a recovery amount and a charge-off date, named as such, and
    an arrears count that separates the classes under an innocent name). Written to ``path``."""
    import pandas as pd

    from models.data import package_data_path
    raw = pd.read_csv(package_data_path("westat", "data/UCI_Credit_Card.csv"))
    rng = np.random.default_rng(seed)
    df = raw.iloc[np.sort(rng.choice(len(raw), n_rows, replace=False))].reset_index(drop=True)
    bad = (df["target"] == 1).to_numpy()
    applied = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 730, n_rows), "D")
    balance = df["BILL_AMT1"].astype(float).where(rng.random(n_rows) > 0.03)  # some unreported
    util = df["BILL_AMT1"] / df["LIMIT_BAL"] * 100
    charged = (applied + pd.to_timedelta(rng.integers(120, 400, n_rows), "D")).strftime("%Y-%m-%d")
    out = pd.DataFrame({
        "client_ref": df["ID"] + 500_000,
        "application_date": applied.strftime("%Y-%m-%d"),
        "credit_limit": df["LIMIT_BAL"],
        "gender": df["SEX"].map({1: "male", 2: "female"}),
        "education_level": df["EDUCATION"].map({1: "graduate school", 2: "university",
                                                3: "high school"}).fillna("other"),
        "marital_status": df["MARRIAGE"].map({1: "married", 2: "single"}).fillna("other"),
        "applicant_age": df["AGE"],
        "repayment_status_m1": df["PAY_0"],
        "repayment_status_m2": df["PAY_2"],
        "repayment_status_m3": df["PAY_3"],
        "statement_balance": balance,
        "amount_paid": df["PAY_AMT1"],
        "utilisation": [f"{u:.1f}%" for u in util],
        "months_in_arrears_12m": np.where(bad, rng.integers(3, 7, n_rows), 0),
        "recovery_amount": np.where(bad, np.round(rng.uniform(0, 1, n_rows)
                                                  * df["BILL_AMT1"].clip(lower=0)), 0.0),
        "charged_off_on": np.where(bad, charged, ""),
        "loan_outcome": np.where(bad, np.where(rng.random(n_rows) < 0.3, "written off",
                                               "defaulted"), "repaid"),
    })
    out.to_csv(path, index=False)
    return out


@pytest.fixture(scope="session")
def unseen_csv(tmp_path_factory):
    """(path, frame) of :func:`make_unseen_csv`, written once per session."""
    path = tmp_path_factory.mktemp("unseen") / "loans.csv"
    return path, make_unseen_csv(path)


@pytest.fixture(scope="session")
def unseen_schema(unseen_csv):
    """The schema draft ``python -m models schema infer`` writes for the unseen CSV, as a dict."""
    from models.infer import infer
    path, frame = unseen_csv
    schema, _ = infer(frame.copy(), "loan_outcome", ["defaulted", "written off"], name="loans",
                      source=path.name)
    return schema
