import json

import numpy as np

from models.data import load_csv, make_splits


def test_registered_datasets_load_with_expected_shapes(gmsc, german):
    ds, _ = gmsc
    assert ds.X.shape == (149_999, 10) and ds.n_dropped == 1 and ds.drop_reasons == {"age": 1}
    assert 0.066 < ds.y.mean() < 0.068
    g, _ = german
    assert g.X.shape == (1000, 18) and g.y.sum() == 300
    assert list(g.groups.columns) == ["sex_status", "foreign_worker", "age_band"]


def test_holdout_is_stratified_disjoint_and_reproducible(german):
    ds, sp = german
    assert len(sp.holdout_idx) == 200 and ds.y[sp.holdout_idx].sum() == 60
    assert not set(sp.holdout_idx) & set(sp.train_idx)
    again = make_splits(ds.y, ds.X)
    assert again.fingerprint() == sp.fingerprint()
    assert all((a[1] == b[1]).all() for a, b in zip(sp.folds, again.folds))
    other_seed = make_splits(ds.y, ds.X, seed=1)
    assert other_seed.fingerprint() != sp.fingerprint()


def test_permuted_rows_still_give_a_stratified_holdout_of_the_same_size(german):
    ds, sp = german
    perm = np.random.default_rng(0).permutation(len(ds.y))
    # positions are part of the key, so a permutation changes membership deterministically,
    # but the holdout stays stratified and of the same size
    sp2 = make_splits(ds.y[perm], ds.X[perm])
    assert len(sp2.holdout_idx) == len(sp.holdout_idx)
    assert ds.y[perm][sp2.holdout_idx].sum() == 60


def test_folds_cover_training_split_once(german):
    _, sp = german
    va = np.concatenate([v for _, v in sp.folds])
    assert sorted(va.tolist()) == list(range(len(sp.train_idx)))


def test_generic_loader_trains_any_csv_with_a_schema(tmp_path):
    schema = {"name": "toy", "target": "bad", "positive": 1,
              "features": [{"name": "x", "type": "float", "min": 0, "max": 10,
                            "missing": "impute"},
                           {"name": "k", "type": "category", "categories": ["a", "b"]}],
              "groups": [{"name": "k_group", "column": "k"}]}
    (tmp_path / "s.json").write_text(json.dumps(schema))
    (tmp_path / "d.csv").write_text("x,k,bad\n1.5,a,0\n,b,1\n11,a,0\n2,c,1\n3,b,0\n")
    ds = load_csv(tmp_path / "d.csv", tmp_path / "s.json")
    assert ds.n_dropped == 2 and ds.drop_reasons == {"x": 1, "k": 1}
    assert np.isnan(ds.X[1, 0]) and ds.X[:, 1].tolist() == [0.0, 1.0, 1.0]
    assert ds.y.tolist() == [0, 1, 0] and ds.groups["k_group"].tolist() == ["a", "b", "b"]
