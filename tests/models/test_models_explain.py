import numpy as np
import pytest

from models.explain import (PerturbationSampler, domain_constraints, lime_surrogate,
                            violations)


def test_constraints_hold_on_every_real_gmsc_row(gmsc):
    ds, _ = gmsc
    cons = domain_constraints(ds.schema)
    X = np.where(np.isnan(ds.X), 0, ds.X).astype(np.float64)
    assert not violations(ds.schema, X, cons).any()
    ids = {c.cid for c in cons}
    assert {"age>=18", "RevolvingUtilizationOfUnsecuredLines>=0", "realestate<=open"} <= ids


def test_constraint_violation_is_detected(gmsc):
    ds, _ = gmsc
    cons = domain_constraints(ds.schema)
    x = np.where(np.isnan(ds.X[:1]), 0, ds.X[:1]).astype(np.float64)
    x[0, 1] = 16  # age
    x[0, 7] = x[0, 5] + 1  # real-estate loans > open lines
    v = violations(ds.schema, x, cons)[0]
    bad = {c.cid for c, flag in zip(cons, v) if flag}
    assert bad == {"age>=18", "realestate<=open"}


def test_correlated_sampler_reproduces_training_covariance(gmsc):
    ds, sp = gmsc
    Xtr = ds.X[sp.train_idx[:20000]]
    s = PerturbationSampler(Xtr, ds.schema, "correlated", "instance")
    Z = s.sample(ds.X[sp.holdout_idx[0]], 20000, np.random.default_rng(0))
    corr_emp = np.corrcoef(Z[:, [5, 7]], rowvar=False)[0, 1]
    corr_train = s.cov[5, 7] / np.sqrt(s.cov[5, 5] * s.cov[7, 7])
    assert corr_emp == pytest.approx(corr_train, abs=0.03) and abs(corr_train) > 0.3
    ind = PerturbationSampler(Xtr, ds.schema, "independent", "instance")
    Zi = ind.sample(ds.X[sp.holdout_idx[0]], 20000, np.random.default_rng(0))
    assert abs(np.corrcoef(Zi[:, [5, 7]], rowvar=False)[0, 1]) < 0.03


def test_category_codes_are_never_perturbed(german):
    ds, sp = german
    s = PerturbationSampler(ds.X[sp.train_idx], ds.schema, "correlated", "instance")
    x = ds.X[sp.holdout_idx[0]]
    Z = s.sample(x, 100, np.random.default_rng(0))
    cat = [j for j, f in enumerate(ds.schema["features"]) if f["type"] == "category"]
    assert (Z[:, cat] == x[cat]).all()


def test_lime_surrogate_recovers_a_linear_model(gmsc):
    ds, sp = gmsc
    s = PerturbationSampler(ds.X[sp.train_idx[:20000]], ds.schema, "independent", "instance")
    w = np.zeros(10)
    w[5] = 0.01  # only open credit lines matter
    predict = lambda Z: (Z.astype(np.float64) @ w).astype(np.float32)  # noqa: E731
    r = lime_surrogate(predict, ds.X[sp.holdout_idx[0]], s, n=1000)
    assert r["weighted_r2"] > 0.99
    assert int(np.argmax(np.abs(r["coef"]))) == 5
