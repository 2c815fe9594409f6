"""The cell-based networks C-NAS searches (VeriCred, seed 004 §3.3), as a scikit-learn classifier.

The seed describes the search space only in outline; the choices made here (issue 14 asks for
them written down):

* **Tokens.** Each input column (after the family's preprocessing and scaling) becomes a token of
  width ``dim``: ``x_t * w_t + b_t``, one learned vector per column (the numerical embedding of
  tabular transformers), so that attention over features has something to attend to.
* **Cells.** A cell is a DAG of ``nodes`` nodes: node ``j`` applies its operation to the sum of
  the cell input and every earlier node's output (the seed's weighted sum of predecessors, with
  unit weights); the cell returns its input plus the mean of its nodes (a residual, which keeps
  deeper stacks trainable). Node ``j``'s operation is ``ops[j]``, the same in every normal cell
  (one genotype, as cell-based NAS shares it):
  ``dense`` (per-token ``relu(xW + b)``), ``attention`` (single-head self-attention over the
  tokens, i.e. over features), ``mix`` (``relu`` of a dense layer across tokens: features talking
  to each other without attention), ``skip`` (identity). The seed's temporal convolutions have
  nothing to run over in a one-row-per-applicant table and are left out.
* **Stages.** ``stages`` times: ``cells`` normal cells, then a reduction cell that halves the
  number of tokens (pairwise mean, the last token repeated when the count is odd), followed by a
  per-token dense layer when ``reduce == "dense"``.
* **Head.** Mean over tokens, then one linear unit: the logit of default.
* **Training.** Adam on the binary cross-entropy, mini-batches of 512, at most ``max_epochs``
  epochs; a stratified tenth of the rows is held out and training stops once its loss has not
  improved for ``patience`` epochs, keeping the best weights (the seed's training budget by
  epochs with an early convergence stop).

Training runs in JAX (CPU) at ``fit`` only; ``predict_proba`` is NumPy and the exported graph is
standard ONNX (models.onnx_export), so serving never imports JAX. :func:`flops` counts the
multiply-adds of one row, the cost the search weighs.
"""
from __future__ import annotations

import math
import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

OPS = ("dense", "attention", "mix", "skip")
MAX_NODES = 4


def token_counts(n_features: int, stages: int) -> list[int]:
    """Tokens entering each stage, and after the last reduction."""
    counts = [n_features]
    for _ in range(stages):
        counts.append(math.ceil(counts[-1] / 2))
    return counts


def flops(n_features: int, *, stages, cells, nodes, ops, dim, reduce, **_) -> int:
    """Floating-point operations (a multiply-add counts two) of one row through the network."""
    e, total = dim, 2 * n_features * dim  # token embedding
    per_op = {"dense": lambda T: 2 * T * e * e + T * e,
              "attention": lambda T: 3 * 2 * T * e * e + 2 * 2 * T * T * e + 3 * T * T,
              "mix": lambda T: 2 * T * T * e + T * e,
              "skip": lambda T: 0}
    for T in token_counts(n_features, stages)[:-1]:
        for _ in range(cells):
            for j in range(nodes):
                total += j * T * e + per_op[ops[j]](T)  # sum of predecessors, then the op
            total += nodes * T * e  # residual mean
        T2 = math.ceil(T / 2)
        total += T * e + (2 * T2 * e * e + T2 * e if reduce == "dense" else 0)
    T = token_counts(n_features, stages)[-1]
    return int(total + T * e + 2 * e)


def _init(n_features, stages, cells, nodes, ops, dim, reduce, rng) -> dict:
    """Parameters as nested dicts of float32 arrays (the layout forward() and the converter
    read)."""
    e = dim

    def dense(a, b):
        return {"W": rng.normal(0, math.sqrt(2.0 / a), (a, b)).astype(np.float32),
                "b": np.zeros(b, np.float32)}

    p = {"embed": {"W": rng.normal(0, 1.0, (n_features, e)).astype(np.float32),
                   "b": np.zeros((n_features, e), np.float32)}, "stages": []}
    for T in token_counts(n_features, stages)[:-1]:
        stage = {"cells": []}
        for _ in range(cells):
            cell = []
            for j in range(nodes):
                op = ops[j]
                if op == "dense":
                    cell.append(dense(e, e))
                elif op == "attention":
                    cell.append({k: dense(e, e)["W"] for k in ("q", "k", "v")})
                elif op == "mix":
                    cell.append(dense(T, T))
                else:
                    cell.append({})
            stage["cells"].append(cell)
        stage["reduce"] = dense(e, e) if reduce == "dense" else {}
        p["stages"].append(stage)
    p["head"] = dense(e, 1)
    return p


def forward(p, X, ops, np_):
    """The network's logits, written once for NumPy (serving, reference) and jax.numpy
    (training): ``np_`` is the array module."""
    def relu(z):
        return np_.maximum(z, 0)

    h = X[:, :, None] * p["embed"]["W"] + p["embed"]["b"]
    for stage in p["stages"]:
        for cell in stage["cells"]:
            outs, acc = [], h
            for j, w in enumerate(cell):
                op = ops[j]
                if op == "dense":
                    o = relu(acc @ w["W"] + w["b"])
                elif op == "attention":
                    q, k, v = acc @ w["q"], acc @ w["k"], acc @ w["v"]
                    s = (q @ np_.swapaxes(k, 1, 2)) / np.float32(math.sqrt(q.shape[-1]))
                    s = np_.exp(s - s.max(axis=-1, keepdims=True))
                    o = (s / s.sum(axis=-1, keepdims=True)) @ v
                elif op == "mix":
                    o = np_.swapaxes(relu(np_.swapaxes(acc, 1, 2) @ w["W"] + w["b"]), 1, 2)
                else:
                    o = acc
                outs.append(o)
                acc = acc + o
            h = h + sum(outs) / np.float32(len(outs))
        if h.shape[1] % 2:
            h = np_.concatenate([h, h[:, -1:, :]], axis=1)
        h = h.reshape(h.shape[0], h.shape[1] // 2, 2, h.shape[2]).mean(axis=2)
        if stage["reduce"]:
            h = relu(h @ stage["reduce"]["W"] + stage["reduce"]["b"])
    z = h.mean(axis=1) @ p["head"]["W"] + p["head"]["b"]
    return z[:, 0]


class CellNetClassifier(BaseEstimator, ClassifierMixin):
    def __init__(self, stages=1, cells=1, nodes=2, ops=("dense", "attention", "dense", "dense"),
                 dim=16, reduce="mean", learning_rate=1e-3, max_epochs=20, patience=2,
                 batch_size=512, random_state=0):
        self.stages = stages
        self.cells = cells
        self.nodes = nodes
        self.ops = ops
        self.dim = dim
        self.reduce = reduce
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.random_state = random_state

    def _check(self):
        ops = tuple(self.ops)
        if not 1 <= self.nodes <= MAX_NODES or len(ops) < self.nodes:
            raise ValueError(f"nodes must be 1..{MAX_NODES} with an op for each")
        bad = [o for o in ops[:self.nodes] if o not in OPS]
        if bad or self.reduce not in ("mean", "dense"):
            raise ValueError(f"unknown operation {bad or self.reduce!r}; ops are {OPS}, "
                             "reduce mean or dense")
        return ops[:self.nodes]

    def fit(self, X, y):
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax
        import jax.numpy as jnp
        import optax

        ops = self._check()
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("C-NAS networks are binary classifiers")
        t = (y == self.classes_[1]).astype(np.float32)
        rng = np.random.default_rng(self.random_state)
        val = np.concatenate([rng.choice(np.flatnonzero(t == c), max(1, int(0.1 * (t == c).sum())),
                                         replace=False) for c in (0, 1)])
        tr = np.setdiff1d(np.arange(len(t)), val)
        params = _init(X.shape[1], self.stages, self.cells, self.nodes, ops, self.dim,
                       self.reduce, rng)
        params = jax.tree_util.tree_map(jnp.asarray, params)

        def loss_fn(p, xb, tb):
            return optax.sigmoid_binary_cross_entropy(forward(p, xb, ops, jnp), tb).mean()

        opt = optax.adam(self.learning_rate)
        state = opt.init(params)

        @jax.jit
        def step(p, s, xb, tb):
            loss, g = jax.value_and_grad(loss_fn)(p, xb, tb)
            u, s = opt.update(g, s, p)
            return optax.apply_updates(p, u), s, loss

        val_loss = jax.jit(loss_fn)
        best, since, self.validation_curve_ = (np.inf, params), 0, []
        for _ in range(self.max_epochs):
            order = rng.permutation(tr)
            for i in range(0, len(order), self.batch_size):
                b = order[i:i + self.batch_size]
                params, state, _ = step(params, state, X[b], t[b])
            v = float(val_loss(params, X[val], t[val]))
            self.validation_curve_.append(v)
            if v < best[0] - 1e-5:
                best, since = (v, params), 0
            else:
                since += 1
                if since >= self.patience:
                    break
        self.params_ = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float32), best[1])
        self.epochs_run_ = len(self.validation_curve_)
        self.n_features_in_ = X.shape[1]
        self.flops_ = flops(X.shape[1], stages=self.stages, cells=self.cells, nodes=self.nodes,
                            ops=ops, dim=self.dim, reduce=self.reduce)
        return self

    def decision_function(self, X):
        return forward(self.params_, np.asarray(X, dtype=np.float32), self._check(), np)

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X).astype(np.float64)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]
