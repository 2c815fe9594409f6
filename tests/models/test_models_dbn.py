"""The seed 001 DBN (models/dbn.py): a Gaussian-Bernoulli RBM that learns, and a network whose
hidden layers start from the pre-trained RBM stack before fine-tuning."""
import numpy as np
import pytest

from models.dbn import GaussianBernoulliRBM, PretrainedMLP


def _correlated(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    X = np.column_stack([z[:, 0], z[:, 0] + 0.1 * rng.normal(size=n), z[:, 1],
                         z[:, 1] - 0.1 * rng.normal(size=n), rng.normal(size=n)])
    y = (z[:, 0] + z[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return (X - X.mean(0)) / X.std(0), y


def test_gaussian_rbm_reconstruction_improves_with_training():
    X, _ = _correlated()
    rbm = GaussianBernoulliRBM(n_components=8, learning_rate=0.01, n_iter=15).fit(X)
    err = rbm.reconstruction_error_
    assert err[-1] < 0.8 * err[0], err
    assert rbm.transform(X).shape == (len(X), 8)


def test_pretraining_initialises_the_hidden_layers_and_fine_tuning_moves_them():
    X, y = _correlated()
    # a learning rate too small to move anything: what is left is the initialisation
    frozen = PretrainedMLP((8, 4), learning_rate_init=1e-9, max_iter=2, rbm_iter=5,
                           rbm_learning_rate=0.01).fit(X, y)
    rbm = GaussianBernoulliRBM(8, 0.01, 5, random_state=0).fit(X)
    assert np.allclose(frozen.coefs_[0], rbm.components_.T, atol=1e-6)
    tuned = PretrainedMLP((8, 4), max_iter=30, rbm_iter=5, rbm_learning_rate=0.01).fit(X, y)
    assert not np.allclose(tuned.coefs_[0], rbm.components_.T, atol=1e-3)  # fine-tuned
    random = PretrainedMLP((8, 4), max_iter=30, pretrain=False).fit(X, y)
    assert not np.allclose(random.coefs_[0], tuned.coefs_[0], atol=1e-3)
    assert tuned.predict_proba(X).shape == (len(X), 2) and not tuned.warm_start


def test_the_ablation_pairs_the_arms_on_the_same_folds(german, tmp_path, monkeypatch):
    from models import ablation, families

    monkeypatch.setitem(families.DEFAULTS, "dbn", {**families.DEFAULTS["dbn"], "rbm_iter": 2})
    ds, sp = german
    out = ablation.run(ds, sp, tmp_path, "dbn")
    arms = out["arms"]
    assert set(arms) == set(ablation.STUDIES["dbn"]["arms"])
    ref = arms["dbn pre-trained + fine-tuned"]["fold_auc"]
    rnd = arms["dbn random init (same network)"]["fold_auc"]
    first = out["pairs"][0]
    assert first["minus"] == "dbn random init (same network)"
    assert first["mean"] == pytest.approx(sum(a - b for a, b in zip(ref, rnd)) / len(ref))
    assert first["folds_won"] == sum(a > b for a, b in zip(ref, rnd))
    md = (tmp_path / "dbn_ablation_german.md").read_text()
    assert md.count("\n| dbn") == 4  # two arms, two differences
