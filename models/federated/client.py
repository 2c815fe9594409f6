"""A lender in the federation: a Flower client that holds only its own rows, trains the shared
logistic model on them for a few local steps each round, and signs what it sends.

Local training is full-batch gradient descent on the L2-penalised log-loss (deterministic), plus
FedProx's proximal term when the server sends ``proximal_mu``. Coefficients of features whose
direction the schema declares are kept on the declared side after every step (projected
gradient), so the federated model can pass the fair-lending ICE gate as the scorecard does.

``poison`` turns the lender into the attacker of the robustness study: ``"flip"`` trains on
flipped labels, ``"scale"`` sends the global model plus ten times its honest change. Either way
the update is signed with the lender's real key: a signature proves who sent an update, not that
it is honest; robust aggregation is the defence against the latter.
"""
from __future__ import annotations

import numpy as np
from flwr.client import NumPyClient

from .protocol import params_sha256, sign_update

POISONS = ("flip", "scale")
SCALE_FACTOR = 10.0


def sgd_logistic(w, b, Z, y, *, steps: int, lr: float, l2: float, mu: float, signs: np.ndarray):
    """``steps`` full-batch gradient steps from (w, b), proximal to the starting point."""
    w0, b0 = w.copy(), b
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(Z @ w + b, -30, 30)))
        err = p - y
        w = w - lr * (Z.T @ err / len(y) + l2 * w + mu * (w - w0))
        b = b - lr * (err.mean() + mu * (b - b0))
        w = np.where(signs > 0, np.maximum(w, 0.0), np.where(signs < 0, np.minimum(w, 0.0), w))
    return w, b


def coefficient_signs(prep, schema: dict) -> np.ndarray:
    """+1 / -1 / 0 per model column (TabularPrep's one-hot layout: numeric, missing indicators,
    one-hot categories) from the schema's declared directions."""
    sign = {"increasing": 1.0, "decreasing": -1.0}
    feats = schema["features"]
    return np.array([sign.get(feats[i].get("monotone"), 0.0) for i in prep.numeric_idx]
                    + [0.0] * (prep.n_features_out_ - len(prep.numeric_idx)))


class LenderClient(NumPyClient):
    def __init__(self, institution: str, key, federation: str, Z: np.ndarray, y: np.ndarray,
                 signs: np.ndarray, poison: str | None = None):
        if poison not in (None, *POISONS):
            raise ValueError(f"poison must be one of {POISONS}")
        self.institution, self.key, self.federation = institution, key, federation
        self.Z, self.y = np.asarray(Z, dtype=np.float64), np.asarray(y, dtype=np.float64)
        self.signs, self.poison = np.asarray(signs, dtype=float), poison

    def get_parameters(self, config):  # the server always sends initial parameters
        raise RuntimeError("the federation starts from the server's initial parameters")

    def fit(self, parameters, config):
        w0 = parameters[0].astype(np.float64)
        b0 = float(parameters[1][0])
        y = 1.0 - self.y if self.poison == "flip" else self.y
        w, b = sgd_logistic(w0, b0, self.Z, y, steps=int(config["local_steps"]),
                            lr=float(config["lr"]), l2=float(config["l2"]),
                            mu=float(config.get("proximal_mu", 0.0)), signs=self.signs)
        if self.poison == "scale":
            w, b = w0 + SCALE_FACTOR * (w - w0), b0 + SCALE_FACTOR * (b - b0)
        new = [w.astype(np.float32), np.array([b], dtype=np.float32)]
        digest = params_sha256(new)
        return new, len(self.y), {
            "institution": self.institution, "update_sha256": digest,
            "signature": sign_update(self.key, self.federation, int(config["round"]),
                                     self.institution, digest)}
