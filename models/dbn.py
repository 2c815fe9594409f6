"""A deep belief network as the DBN seed (001) builds it: a stack of RBMs pre-trained greedily,
layer by layer, whose weights then initialise a feed-forward network fine-tuned end to end by
back-propagation.

* The first RBM has Gaussian visible units (unit variance: its inputs are standardised, which the
  family's pipeline does) and Bernoulli hidden units, as the seed prescribes for continuous
  features; the deeper ones are Bernoulli-Bernoulli (scikit-learn's ``BernoulliRBM``) on the
  hidden probabilities of the layer below. Both are trained by one-step contrastive divergence.
* Fine-tuning is scikit-learn's ``MLPClassifier`` with logistic hidden units (the RBMs' own
  activation): fitted one iteration to set up its state, its hidden layers replaced by the
  RBM weights, then trained on from there (``warm_start``). The exported graph is the plain
  MLP's (skl2onnx's own converter), so ONNX parity needs nothing new.
* ``pretrain=False`` gives the same network from random initialisation: the ablation.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import BernoulliRBM, MLPClassifier


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


class GaussianBernoulliRBM(BaseEstimator, TransformerMixin):
    """RBM with unit-variance Gaussian visible and Bernoulli hidden units, CD-1, mini-batches,
    momentum 0.5 (Hinton's practical guide: a small rate for Gaussian visible units)."""

    def __init__(self, n_components=64, learning_rate=0.001, n_iter=20, batch_size=64,
                 random_state=0):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        rng = np.random.default_rng(self.random_state)
        n, d = X.shape
        W = rng.normal(0, 0.01, (d, self.n_components))
        b, c = X.mean(axis=0), np.zeros(self.n_components)  # visible bias at the data mean
        vW, vb, vc = np.zeros_like(W), np.zeros_like(b), np.zeros_like(c)
        self.reconstruction_error_ = []
        for _ in range(self.n_iter):
            err, order = 0.0, rng.permutation(n)
            for start in range(0, n, self.batch_size):
                v0 = X[order[start:start + self.batch_size]]
                h0 = _sigmoid(v0 @ W + c)
                hs = (rng.random(h0.shape) < h0).astype(float)
                v1 = hs @ W.T + b  # the Gaussian's mean: sampling adds only unit noise
                h1 = _sigmoid(v1 @ W + c)
                m = len(v0)
                vW = 0.5 * vW + self.learning_rate * ((v0.T @ h0 - v1.T @ h1) / m)
                vb = 0.5 * vb + self.learning_rate * (v0 - v1).mean(axis=0)
                vc = 0.5 * vc + self.learning_rate * (h0 - h1).mean(axis=0)
                W, b, c = W + vW, b + vb, c + vc
                err += float(((v0 - v1) ** 2).sum())
            self.reconstruction_error_.append(err / n)
        self.components_, self.intercept_visible_, self.intercept_hidden_ = W.T, b, c
        return self

    def transform(self, X):
        return _sigmoid(np.asarray(X, dtype=np.float64) @ self.components_.T
                        + self.intercept_hidden_)


class PretrainedMLP(MLPClassifier):
    """An MLP whose hidden layers start from a greedily pre-trained RBM stack (``pretrain``) and
    are then fine-tuned end to end with the output layer."""

    def __init__(self, hidden_layer_sizes=(64, 32), alpha=1e-4, learning_rate_init=1e-3,
                 max_iter=100, rbm_learning_rate=0.001, rbm_iter=20, pretrain=True,
                 random_state=0):
        super().__init__(hidden_layer_sizes=hidden_layer_sizes, activation="logistic",
                         alpha=alpha, learning_rate_init=learning_rate_init, max_iter=max_iter,
                         early_stopping=False, random_state=random_state)
        self.rbm_learning_rate = rbm_learning_rate
        self.rbm_iter = rbm_iter
        self.pretrain = pretrain

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float64)
        rbms = []
        if self.pretrain:
            h = X
            for i, k in enumerate(self.hidden_layer_sizes):
                rbm = (GaussianBernoulliRBM(k, self.rbm_learning_rate, self.rbm_iter,
                                            random_state=self.random_state) if i == 0 else
                       BernoulliRBM(n_components=k, learning_rate=self.rbm_learning_rate * 10,
                                    n_iter=self.rbm_iter, batch_size=64,
                                    random_state=self.random_state + i))
                h = rbm.fit(h).transform(h)
                rbms.append(rbm)
        # plain attributes, not set_params: warm_start is not a parameter of this class
        max_iter = self.max_iter
        self.max_iter, self.warm_start = 1, False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            super().fit(X, y)  # sets up layers, classes and optimiser state
        for i, rbm in enumerate(rbms):
            self.coefs_[i] = rbm.components_.T.copy()
            self.intercepts_[i] = rbm.intercept_hidden_.copy()
        self.max_iter, self.warm_start = max_iter, True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                return super().fit(X, y)
        finally:
            self.warm_start = False
