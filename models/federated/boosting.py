"""Federated gradient boosting (issue 15): Flower's FedXgbBagging. Every round each lender loads
the global booster, grows trees on its own rows from it and sends only its new trees (an XGBoost
booster's JSON, signed like any update); the aggregate is the global booster with every lender's
new trees appended, in lender order.

The trees see the tree layout of the family's preprocessing (raw values, missing indicators,
category codes; models.preprocess) fitted from merged statistics, and keep the schema's declared
directions (``monotone_constraints``). Every lender starts from the same base score, the pooled
default rate computed from the lenders' counts, so that their trees add up on one scale.
"""
from __future__ import annotations

import numpy as np
import xgboost as xgb
from flwr.client import Client
from flwr.common import Code, FitIns, FitRes, Parameters, Status

from .protocol import params_sha256, sign_update

# Smoothed like the xgb family's defaults (models.families): leaves of ~150 rows, no subsampling.
PARAMS = {"objective": "binary:logistic", "eta": 0.1, "max_depth": 4, "min_child_weight": 10.0,
          "lambda": 1.0, "tree_method": "hist", "nthread": 1, "seed": 0}
TREES_PER_ROUND = 1  # FedXgbBagging appends one tree per lender update and round


def booster(params: dict, model: bytes | None = None) -> xgb.Booster:
    bst = xgb.Booster(params=params)
    if model:
        bst.load_model(bytearray(model))
    return bst


class XgbLender(Client):
    def __init__(self, institution: str, key, federation: str, X: np.ndarray, y: np.ndarray,
                 monotone: list[int], poison: str | None = None):
        if poison not in (None, "flip"):
            raise ValueError("a boosting lender's poison can only be 'flip'")
        self.institution, self.key, self.federation = institution, key, federation
        labels = 1 - np.asarray(y) if poison == "flip" else np.asarray(y)
        self.data = xgb.DMatrix(np.asarray(X, dtype=np.float32), label=labels)
        self.monotone = "(" + ",".join(str(int(m)) for m in monotone) + ")"

    def fit(self, ins: FitIns) -> FitRes:
        params = {**PARAMS, "base_score": float(ins.config["base_score"]),
                  "monotone_constraints": self.monotone}
        if not ins.parameters.tensors:  # round 1: the first trees
            out = xgb.train(params, self.data, num_boost_round=TREES_PER_ROUND)
        else:
            bst = booster(params, ins.parameters.tensors[0])
            n = bst.num_boosted_rounds()
            for i in range(TREES_PER_ROUND):
                bst.update(self.data, n + i)
            out = bst[n:n + TREES_PER_ROUND]
        update = Parameters(tensor_type="", tensors=[bytes(out.save_raw("json"))])
        digest = params_sha256(update)
        return FitRes(Status(Code.OK, ""), update, self.data.num_row(), {
            "institution": self.institution, "update_sha256": digest,
            "signature": sign_update(self.key, self.federation, int(ins.config["round"]),
                                     self.institution, digest)})
