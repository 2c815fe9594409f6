"""A lender's side of a whole federation, in the lender's own process: it holds its raw rows and
the shared schema, and nothing else.

Before training the aggregator asks for statistics (``config["phase"]``), each answered with a
signed JSON message (one raw-bytes tensor; rows never leave):

* ``sketch``: a quantile sketch of every numeric column in the requested layout
  (models.federated.stats) and the lender's count of rows and of defaults;
* ``moments`` (logistic only): count, sum and sum of squares of every column once the merged
  preprocessing the request carries is applied.

Training rounds carry no phase. The first one brings the federation's preprocessing (the merged
statistics, and for the logistic model the pooled moments); the lender fits the same
TabularPrep from them, transforms its own rows, and from then on is the training client of its
model kind (models.federated.client or .boosting).
"""
from __future__ import annotations

import json

import numpy as np
from flwr.common import Code, FitIns, FitRes, Parameters, Status
from flwr.client import Client

from ..families import monotonic_cst
from ..preprocess import TabularPrep
from .boosting import XgbLender
from .client import LenderClient, coefficient_signs
from .protocol import params_sha256, sign_update
from .stats import moments, scaler_from_moments, sketch

PHASES = ("sketch", "moments")
# The two preprocessing layouts: the logistic model's (one-hot, clipped, log) and the trees'.
LAYOUTS = {"logistic": {"one_hot": True, "clip": True, "log": True},
           "xgb": {"one_hot": False, "clip": False, "log": False}}


def encode(obj) -> bytes:
    """JSON with NumPy arrays as lists (NaN kept: an unobserved column's statistics)."""
    return json.dumps(obj, default=lambda o: o.tolist() if isinstance(o, np.ndarray)
                      else o.item(), sort_keys=True).encode()


def decode(data: bytes):
    return json.loads(data)


def statistics_round(phase: str) -> str:
    """The 'round' a statistics message is signed for: never an integer, so a signed sketch can
    not be replayed as a training update, nor one phase's answer as another's."""
    return f"statistics/{phase}"


def prep_for(model: str, schema: dict, merged: dict | None = None) -> TabularPrep:
    prep = TabularPrep.from_schema(schema, **LAYOUTS[model])
    return prep if merged is None else prep.fit_from_statistics(merged)


class Lender(Client):
    def __init__(self, institution: str, key, federation: str, model: str, schema: dict,
                 X: np.ndarray, y: np.ndarray, poison: str | None = None):
        if model not in LAYOUTS:
            raise ValueError(f"model must be one of {tuple(LAYOUTS)}")
        self.institution, self.key, self.federation = institution, key, federation
        self.model, self.schema, self.poison = model, schema, poison
        self.X, self.y = np.asarray(X, dtype=np.float64), np.asarray(y)
        self.trainer = None

    def fit(self, ins: FitIns) -> FitRes:
        phase = ins.config.get("phase")
        if phase is not None:
            return self._answer(str(phase), ins.config)
        if self.trainer is None:
            self.trainer = self._trainer(decode(ins.config["preprocessing"]))
        return self.trainer.fit(ins)

    def _answer(self, phase: str, config) -> FitRes:
        for k, mine in (("federation", self.federation), ("model", self.model)):
            if k in config and config[k] != mine:
                raise ValueError(f"the aggregator runs {k} {config[k]!r}; this lender joined "
                                 f"{mine!r}")
        if phase == "sketch":
            payload = {"sketch": sketch(prep_for(self.model, self.schema), self.X),
                       "rows": int(len(self.y)), "defaults": int(np.sum(self.y))}
        elif phase == "moments":
            prep = prep_for(self.model, self.schema, decode(config["statistics"]))
            payload = {"moments": moments(prep.transform(self.X))}
        else:
            raise ValueError(f"unknown statistics phase {phase!r}; known: {PHASES}")
        message = Parameters(tensor_type="", tensors=[encode(payload)])
        digest = params_sha256(message)
        return FitRes(Status(Code.OK, ""), message, int(len(self.y)), {
            "institution": self.institution, "update_sha256": digest,
            "signature": sign_update(self.key, self.federation, statistics_round(phase),
                                     self.institution, digest)})

    def _trainer(self, preprocessing: dict) -> Client:
        prep = prep_for(self.model, self.schema, preprocessing["statistics"])
        Z = prep.transform(self.X)
        if self.model == "xgb":
            return XgbLender(self.institution, self.key, self.federation, Z, self.y,
                             monotonic_cst(self.schema), self.poison)
        moments_ = preprocessing["moments"]
        scaler = scaler_from_moments([{k: np.asarray(v) if k != "n" else v
                                       for k, v in moments_.items()}])
        return LenderClient(self.institution, self.key, self.federation, scaler.transform(Z),
                            self.y, coefficient_signs(prep, self.schema), self.poison).to_client()
