"""A lender's side of a whole federation, in the lender's own process: it holds its raw rows and
the shared schema, and nothing else.

Before training the aggregator asks for statistics (``config["phase"]``), each answered with a
signed JSON message (one raw-bytes tensor; rows never leave):

* ``sketch``: a quantile sketch of every numeric column in the requested layout
  (models.federated.stats) and the lender's count of rows and of defaults;
* ``moments`` (logistic only): count, sum and sum of squares of every column once the merged
  preprocessing the request carries is applied.

After training, while the bundle is exported (models.federated.export), the aggregator asks for
what a bundle otherwise reads from pooled rows (models.federated.reference):

* ``cutoff_band/<points>``: scored with the final model (the request's), how many of the lender's applicants
  the cut-off approves, and a summary (column sketch, or category counts) of each feature over
  those scoring within ``band`` points above it;
* ``monitoring_sample`` and ``monitoring_counts``: scored as served by the bundle the request
  carries (its files), on the lender's share of the reference rows: sketches of the score and
  of each numeric feature, then the count in each bucket of the specs the aggregator derived.

Training rounds carry no phase. The first one brings the federation's preprocessing (the merged
statistics, and for the logistic model the pooled moments); the lender fits the same
TabularPrep from them, transforms its own rows, and from then on is the training client of its
model kind (models.federated.client or .boosting).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import xgboost as xgb
from flwr.common import Code, FitIns, FitRes, Parameters, Status
from flwr.client import Client

from .. import monitoring
from ..families import monotonic_cst
from ..preprocess import TabularPrep
from ..serving import load_bundle, pd_to_bps, score_from_pd
from ..train import served_scores
from .boosting import XgbLender, booster
from .client import LenderClient, coefficient_signs
from .protocol import params_sha256, sign_update
from .stats import column_sketch, moments, scaler_from_moments, sketch

MIN_SUMMARY_ROWS = 20  # the fewest applicants a lender summarises for the cut-off band
PHASES = ("sketch", "moments", "cutoff_band", "monitoring_sample", "monitoring_counts")
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
        self.prep = self.scaler = None
        self._served = (None, None)  # (bundle files' hash, served scores of the sample)
        self._scored = (None, None)  # (final model's hash, scores of every row)

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
        kind = phase.split("/")[0]
        if kind == "sketch":
            payload = {"sketch": sketch(prep_for(self.model, self.schema), self.X),
                       "rows": int(len(self.y)), "defaults": int(np.sum(self.y))}
        elif kind == "moments":
            prep = prep_for(self.model, self.schema, decode(config["statistics"]))
            payload = {"moments": moments(prep.transform(self.X))}
        elif kind == "cutoff_band":
            payload = self._cutoff_band(decode(config["request"]))
        elif kind in ("monitoring_sample", "monitoring_counts"):
            payload = self._monitoring(kind, decode(config["request"]))
        else:
            raise ValueError(f"unknown statistics phase {phase!r}; known: {PHASES}")
        message = Parameters(tensor_type="", tensors=[encode(payload)])
        digest = params_sha256(message)
        return FitRes(Status(Code.OK, ""), message, int(len(self.y)), {
            "institution": self.institution, "update_sha256": digest,
            "signature": sign_update(self.key, self.federation, statistics_round(phase),
                                     self.institution, digest)})

    def _summary(self, rows: np.ndarray) -> list[dict]:
        """Per feature: category counts, or a column sketch of the values."""
        out = []
        for j, f in enumerate(self.schema["features"]):
            c = self.X[rows, j]
            if f["type"] == "category":
                out.append({"counts": np.bincount(c[~np.isnan(c)].astype(int),
                                                  minlength=len(f["categories"]))})
            else:
                out.append(column_sketch(c))
        return out

    def _pds(self, final: dict) -> np.ndarray:
        """PDs of this lender's rows under the final model (as export_run describes it)."""
        if self.prep is None or final.get("kind") != self.model:
            raise ValueError(f"no trained {final.get('kind')} model here to score with")
        Z = self.prep.transform(self.X)
        if self.model == "xgb":
            return booster({}, bytes.fromhex(final["booster"])).predict(
                xgb.DMatrix(Z.astype(np.float32)))
        w = np.asarray(final["w"], dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(self.scaler.transform(Z) @ w + float(final["b"]))))

    def _scores(self, final: dict) -> np.ndarray:
        """Scores of this lender's rows under ``final``, computed once per model: the aggregator
        asks again with a wider band until enough applicants are in it."""
        key = hashlib.sha256(encode(final)).hexdigest()
        if self._scored[0] != key:
            self._scored = (key, np.array([score_from_pd(pd_to_bps(p)) for p in self._pds(final)]))
        return self._scored[1]

    def _cutoff_band(self, req: dict) -> dict:
        scores = self._scores(req["model"])
        cut, band = int(req["cut"]), int(req["band"])
        rows = np.flatnonzero((scores >= cut) & (scores <= cut + band))
        # a band of a handful of applicants would give their values away (an aggregator could
        # narrow it to one): below MIN_SUMMARY_ROWS the lender sends counts only
        return {"approved": int((scores >= cut).sum()), "rows": int(len(rows)),
                "columns": self._summary(rows) if len(rows) >= MIN_SUMMARY_ROWS else None}

    def _sample(self, req: dict) -> np.ndarray:
        """This lender's share of the reference rows, evenly spaced (as models.train picks)."""
        k = min(len(self.X), -(-int(req["reference_rows"]) * len(self.X) // int(req["total_rows"])))
        return np.unique(np.linspace(0, len(self.X) - 1, num=k).astype(int))

    def _served_scores(self, req: dict, rows: np.ndarray) -> np.ndarray:
        files = req["bundle"]
        key = hashlib.sha256(encode(files)).hexdigest()
        if self._served[0] != key:
            with tempfile.TemporaryDirectory() as d:
                for name, hexdata in files.items():
                    if Path(name).name != name or name.startswith("."):
                        raise ValueError(f"refusing bundle file name {name!r}")
                    (Path(d) / name).write_bytes(bytes.fromhex(hexdata))
                bundle = load_bundle(d, ungated=True)  # its gates are being decided
                self._served = (key, served_scores(bundle, self.X[rows]))
        return self._served[1]

    def _monitoring(self, kind: str, req: dict) -> dict:
        rows = self._sample(req)
        scores = self._served_scores(req, rows)
        X = self.X[rows]
        feats = self.schema["features"]
        if kind == "monitoring_sample":
            return {"rows": int(len(rows)), "score": column_sketch(scores),
                    "features": [None if f["type"] == "category" else column_sketch(X[:, j])
                                 for j, f in enumerate(feats)]}
        specs = req["specs"]

        def counts(spec, values):
            return np.bincount(monitoring.buckets(spec, values),
                               minlength=monitoring.n_buckets(spec))
        return {"score": counts(specs["score"], scores),
                "features": {f["name"]: counts(specs["features"][f["name"]],
                                                X[:, j].astype(np.float64))
                             for j, f in enumerate(feats)}}

    def _trainer(self, preprocessing: dict) -> Client:
        prep = prep_for(self.model, self.schema, preprocessing["statistics"])
        self.prep = prep
        Z = prep.transform(self.X)
        if self.model == "xgb":
            return XgbLender(self.institution, self.key, self.federation, Z, self.y,
                             monotonic_cst(self.schema), self.poison)
        moments_ = preprocessing["moments"]
        scaler = scaler_from_moments([{k: np.asarray(v) if k != "n" else v
                                       for k, v in moments_.items()}])
        self.scaler = scaler
        return LenderClient(self.institution, self.key, self.federation, scaler.transform(Z),
                            self.y, coefficient_signs(prep, self.schema), self.poison).to_client()
