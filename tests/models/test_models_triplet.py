"""A-Triplet (models/triplet.py, seed 004 Algorithm 3): the embedding learns what the classes
share, adaptive sampling relaxes its threshold only when the negative pool runs dry, and the head
sees only the embedding."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models.families import build_pipeline
from models.triplet import ATripletEmbedding


def _ring(n=5000, seed=0):
    """A class a linear model cannot separate: defaults lie outside a ring."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    X = np.column_stack([z, rng.normal(size=(n, 4))])
    return X, ((z ** 2).sum(axis=1) > 2.5).astype(int)


def test_the_embedding_makes_a_non_linear_class_linearly_separable():
    X, y = _ring()
    tr, te = slice(0, 3500), slice(3500, None)
    emb = ATripletEmbedding(steps=600).fit(X[tr], y[tr])
    raw = LogisticRegression(max_iter=2000).fit(X[tr], y[tr])
    on_emb = LogisticRegression(max_iter=2000).fit(emb.transform(X[tr]), y[tr])
    assert roc_auc_score(y[te], raw.predict_proba(X[te])[:, 1]) < 0.6
    assert roc_auc_score(y[te], on_emb.predict_proba(emb.transform(X[te]))[:, 1]) > 0.9
    assert emb.loss_curve_[-1] < 0.7 * emb.loss_curve_[0], emb.loss_curve_
    assert emb.transform(X[:7]).shape == (7, 16)


def test_an_empty_negative_pool_relaxes_the_threshold_and_uniform_sampling_never_does():
    X, y = _ring(2000)
    # a threshold at the 0th quantile admits only the closest negative; as learning pushes
    # negatives away from the centroid the pool runs dry and the threshold must grow
    tight = ATripletEmbedding(steps=300, hard_quantile=0.0).fit(X, y)
    assert sum(tight.relaxations_.values()) > 0, tight.relaxations_
    uniform = ATripletEmbedding(steps=300, adaptive=False).fit(X, y)
    assert sum(uniform.relaxations_.values()) == 0


def test_training_is_reproducible_and_the_seed_matters():
    X, y = _ring(1500)
    a = ATripletEmbedding(steps=100, random_state=1).fit(X, y).transform(X[:20])
    b = ATripletEmbedding(steps=100, random_state=1).fit(X, y).transform(X[:20])
    c = ATripletEmbedding(steps=100, random_state=2).fit(X, y).transform(X[:20])
    assert np.allclose(a, b) and not np.allclose(a, c)


def test_one_class_is_refused_and_an_unknown_head_too(gmsc_small):
    X, y, schema = gmsc_small
    with pytest.raises(ValueError, match="two classes"):
        ATripletEmbedding(steps=10).fit(X[:50], np.zeros(50))
    with pytest.raises(ValueError, match="head"):
        build_pipeline("atriplet", schema, {"head": "svm"})


def test_the_atriplet_ablation_pairs_each_head_with_itself_on_the_embedding(german, tmp_path,
                                                                         monkeypatch):
    from models import ablation, families

    monkeypatch.setitem(families.DEFAULTS, "atriplet",
                        {**families.DEFAULTS["atriplet"], "steps": 100})
    ds, sp = german
    out = ablation.run(ds, sp, tmp_path, "atriplet")
    arms, pairs = out["arms"], {(p["arm"], p["minus"]): p for p in out["pairs"]}
    for head in ("logistic regression", "HGB", "MLP"):
        on, alone = arms[f"A-Triplet + {head}"]["fold_auc"], arms[f"{head} alone"]["fold_auc"]
        p = pairs[(f"A-Triplet + {head}", f"{head} alone")]
        assert p["mean"] == pytest.approx(float(np.mean(np.subtract(on, alone))))
    assert arms["triplet, uniform negatives + logistic regression"]["params"]["adaptive"] is False
    assert (tmp_path / "atriplet_ablation_german.md").read_text().count(" − ") == 4
