"""Population stability (models.monitoring): buckets, PSI, and the reference a bundle carries."""
import json
from pathlib import Path

import numpy as np
import pytest

from models import monitoring as M
from models import serving as S

DEFAULT = Path(S.__file__).resolve().parent / "default"


def test_psi_is_zero_for_the_reference_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    spec = {**M._numeric(x)}
    spec["expected"] = M.shares(spec, x)
    same = np.bincount(M.buckets(spec, rng.normal(size=20_000)), minlength=M.n_buckets(spec))
    shifted = np.bincount(M.buckets(spec, rng.normal(0.5, size=20_000)),
                          minlength=M.n_buckets(spec))
    assert M.psi(spec["expected"], same) < 0.01
    assert M.level(M.psi(spec["expected"], shifted)) in ("warn", "alert")
    # worked value: two buckets, expected 50/50, observed 70/30
    assert M.psi([0.5, 0.5], [70, 30]) == pytest.approx(0.2 * np.log(1.4) - 0.2 * np.log(0.6))


def test_missing_values_and_categories_get_their_own_buckets():
    num = {"kind": "numeric", "edges": [1.0, 2.0]}
    assert M.buckets(num, np.array([0.5, 1.0, 1.5, 2.5, np.nan])).tolist() == [0, 1, 1, 2, 3]
    cat = {"kind": "category", "categories": 3}
    assert M.buckets(cat, np.array([0, 2, np.nan])).tolist() == [0, 2, 3]


def test_the_committed_bundle_carries_its_reference_distributions():
    b = S.load_bundle(DEFAULT)
    spec = b.monitoring
    assert spec["rows"] == M.REFERENCE_ROWS
    assert set(spec["features"]) == set(b.feature_names)
    for s in [spec["score"], *spec["features"].values()]:
        assert len(s["expected"]) == M.n_buckets(s) and sum(s["expected"]) == pytest.approx(1)
    income = spec["features"]["MonthlyIncome"]
    assert income["expected"][-1] > 0.1  # about a fifth of GMSC incomes are not reported
    ref = json.loads((DEFAULT / "reference.json").read_text())
    assert ref["monitoring"] == spec  # covered by the bundle id through reference.json


def test_a_drifted_population_is_reported_as_such(gmsc):
    b = S.load_bundle(DEFAULT)
    ds, sp = gmsc
    Xh = ds.X[sp.holdout_idx[:3000]]
    from models.train import served_scores
    names = b.feature_names
    stable = M.report(b.monitoring, Xh, served_scores(b, Xh), names)
    assert stable["level"] == "ok" and stable["score"]["psi"] < 0.05
    poorer = Xh.copy()
    j = names.index("MonthlyIncome")
    poorer[:, j] = poorer[:, j] * 0.5  # every income halved
    drifted = M.report(b.monitoring, poorer, served_scores(b, poorer), names)
    assert drifted["features"]["MonthlyIncome"]["level"] == "alert"
    assert drifted["features"]["age"]["level"] == "ok"
