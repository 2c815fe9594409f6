"""The federation's institutions and its preprocessing from aggregated statistics (issue 15):
a reproducible non-IID split, and statistics merged without pooling rows that match what pooled
rows would give."""
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from models.federated.partition import partition
from models.federated.stats import federated_preprocessing
from models.preprocess import TabularPrep


def test_institutions_split_the_training_rows_by_age_and_differ(gmsc):
    ds, sp = gmsc
    inst = partition(ds, sp)
    assert [i.name for i in inst] == ["lender-1", "lender-2", "lender-3", "lender-4"]
    idx = np.concatenate([i.idx for i in inst])
    assert len(idx) == len(set(idx)) == len(sp.train_idx)  # disjoint, the whole training split
    assert set(idx) == set(sp.train_idx) and not set(idx) & set(sp.holdout_idx)
    rates = [i.summary(ds.y)["default_rate"] for i in inst]
    assert rates == sorted(rates, reverse=True) and rates[0] > 3 * rates[-1]  # non-IID
    again = partition(ds, sp)
    assert all(np.array_equal(a.idx, b.idx) for a, b in zip(inst, again))


def test_an_unknown_data_set_has_no_split(gmsc):
    ds, sp = gmsc
    with pytest.raises(ValueError, match="no institution split"):
        partition(type(ds)(name="mine", schema=ds.schema, X=ds.X, y=ds.y, groups=ds.groups), sp)


def test_merged_statistics_match_the_pooled_rows(gmsc):
    ds, sp = gmsc
    parts = [ds.X[i.idx] for i in partition(ds, sp)]
    prep, scaler = federated_preprocessing(ds.schema, parts)
    pooled = TabularPrep.from_schema(ds.schema).fit(ds.X[sp.train_idx])
    age = ds.feature_names.index("age")
    j = list(pooled.numeric_idx).index(age)
    # split by age, each lender's own 99.9% age is far from the pool's; the mixture is not
    assert abs(prep.hi_[j] - pooled.hi_[j]) < 1.0 and abs(prep.medians_[j] - pooled.medians_[j]) < 1.0
    cont = list(pooled.numeric_idx).index(ds.feature_names.index("DebtRatio"))
    assert prep.medians_[cont] == pytest.approx(pooled.medians_[cont], rel=0.01)
    # the scaler is exact: pooled mean and variance from the institutions' sums
    ref = StandardScaler().fit(prep.transform(ds.X[sp.train_idx]))
    assert np.allclose(scaler.mean_, ref.mean_, atol=1e-9)
    assert np.allclose(scaler.scale_, ref.scale_, rtol=1e-9)
    assert scaler.n_samples_seen_ == len(sp.train_idx)
