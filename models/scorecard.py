"""The scorecard family: optimal WoE binning (optbinning) + logistic regression, with points.

The pipeline is ``[subsample] -> WoEBinning -> LogisticRegression``. :class:`WoEBinning` wraps
``optbinning.BinningProcess`` (one ``OptimalBinning`` per feature, fitted on the raw schema
vector, so an unreported value gets its own "Missing" bin instead of a median): numeric bins are
``[s_{k-1}, s_k)`` (``np.digitize(..., right=False)``), the outer bins are open, so an
out-of-range value falls in the first or last bin; a missing value takes the missing bin's
empirical WoE (0 if training had none). Bins are monotone in the event rate: in the direction a
schema declares (``"monotone": "increasing" | "decreasing"``: PD rises / falls with the value),
else whichever of ascending/descending fits best (``auto_asc_desc``) — a scorecard reviewer
expects every characteristic to move one way.

**Points (PDO scaling).** The logistic model gives ``ln(odds) = -(b0 + sum_i c_i * woe_i)``
(odds = good:bad). Points use the *serving* scale of :mod:`models.serving` so that a scorecard's
points and every other model's score mean the same thing (one PD-to-score mapping for all
models, issue 13): ``score = offset + factor * ln(odds)`` with ``factor = PDO / ln 2`` and
``offset = BASE - factor * ln(BASE_ODDS)``; **PDO = 40** points double the odds and **BASE = 600**
points sit at **odds 19:1** (PD 5 %, about the portfolio default rate of GMSC's 6.7 %, so typical
applicants land near 600). Each feature's points for its bin are
``-factor * c_i * woe_i + (offset - factor * b0) / d`` (the intercept spread evenly over the d
features, the usual convention), so the points of a row's bins sum to its unrounded,
unclamped score. Served scores come from the PD in basis points, so they can differ from the
rounded points sum by the bps rounding (under a point above PD 1 %).

**Coefficient signs.** WoE is ``ln(share of goods / share of bads)`` of a bin, so every
coefficient of the log-odds of default must be <= 0: a positive one (collinear characteristics,
e.g. Taiwan's six monthly bill amounts) would give *more* points to the riskier bin and reverse
the monotone bins. :class:`SignedLogistic` drops such characteristics one at a time (the most
positive first) and refits, the usual scorecard practice; a dropped characteristic keeps a
coefficient of 0 (the same points in every bin) and is listed in the card.

**Reasons: points below the maximum.** The bundle's reference value of each feature is a
training value in its highest-points bin (NaN when the missing bin scores highest). Serving's
reason codes rank ``PD(x) - PD(x with feature i at its reference)``; for an additive logit that
is a strictly increasing function of feature i's points shortfall, so the existing rule ranks
scorecard reasons by points below the maximum without a change to serving or the manifest.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from skl2onnx import update_registered_converter
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.linear_classifier import convert_sklearn_linear_classifier
from skl2onnx.algebra.onnx_ops import (OnnxAdd, OnnxCast, OnnxEqual, OnnxGather,
                                       OnnxGreaterOrEqual, OnnxIsNaN, OnnxMatMul, OnnxWhere)
from skl2onnx.common.data_types import FloatTensorType

PDO, BASE_SCORE, BASE_ODDS = 40, 600, 19
FACTOR = PDO / math.log(2)
OFFSET = BASE_SCORE - FACTOR * math.log(BASE_ODDS)
# Schema "monotone" (direction of PD in the value) -> optbinning's trend of the event rate.
TRENDS = {"increasing": "ascending", "decreasing": "descending"}


def ceil_f32(s: float) -> np.float32:
    """Smallest float32 t with t >= s: for every float32 x, ``x >= t`` iff ``float64(x) >= s``,
    so the ONNX graph (float32) bins exactly as optbinning does (float64)."""
    t = np.float32(s)
    if float(t) < s:
        t = np.nextafter(t, np.float32(np.inf))
    return t


class WoEBinning(TransformerMixin, BaseEstimator):
    """Raw schema vector (float32, NaN = missing) -> one WoE column per feature."""

    def __init__(self, names=(), categorical=(), n_categories=(), monotone=None, max_n_bins=8,
                 min_bin_size=0.05):
        self.names = names
        self.categorical = categorical
        self.n_categories = n_categories
        self.monotone = monotone
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size

    @classmethod
    def from_schema(cls, schema: dict, **kw) -> "WoEBinning":
        feats = schema["features"]
        cat = [f["name"] for f in feats if f["type"] == "category"]
        return cls(names=tuple(f["name"] for f in feats), categorical=tuple(cat),
                   n_categories=tuple(len(f["categories"]) for f in feats
                                      if f["type"] == "category"),
                   monotone={f["name"]: f["monotone"] for f in feats if f.get("monotone")},
                   **kw)

    def _frame(self, X) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(X, dtype=np.float32).astype(np.float64),
                            columns=list(self.names))

    def binning_process(self):
        """The (unfitted) optbinning ``BinningProcess`` these settings describe."""
        from optbinning import BinningProcess
        trends = {n: {"monotonic_trend": TRENDS.get((self.monotone or {}).get(n),
                                                    "auto_asc_desc")}
                  for n in self.names if n not in self.categorical}
        return BinningProcess(
            list(self.names), categorical_variables=list(self.categorical) or None,
            max_n_bins=self.max_n_bins, min_bin_size=self.min_bin_size,
            binning_fit_params=trends, n_jobs=1)

    def fit(self, X, y):
        self.binning_ = self.binning_process().fit(self._frame(X), np.asarray(y))
        self.lookup_ = [self._lookup(j) for j in range(len(self.names))]
        self.n_features_in_ = len(self.names)
        return self

    def transform(self, X):
        check_is_fitted(self, "binning_")
        out = self.binning_.transform(self._frame(X), metric="woe", metric_missing="empirical")
        return out[list(self.names)].to_numpy(dtype=np.float64)

    def _woe(self, name: str, values) -> np.ndarray:
        optb = self.binning_.get_binned_variable(name)
        return np.asarray(optb.transform(np.asarray(values, dtype=np.float64), metric="woe",
                                         metric_missing="empirical"), dtype=np.float64)

    def _lookup(self, j: int) -> dict:
        """Feature j's bins, read back from the fitted optbinning object by probing one value
        per bin (the lookup is what optbinning *does*, not a re-derivation of its formulas)."""
        name = self.names[j]
        missing = float(self._woe(name, [np.nan])[0])
        if name in self.categorical:
            k = self.n_categories[list(self.categorical).index(name)]
            codes = np.arange(k, dtype=np.float64)
            return {"kind": "category", "codes": codes, "woe": self._woe(name, codes),
                    "missing": missing}
        splits = np.asarray(self.binning_.get_binned_variable(name).splits, dtype=np.float64)
        t = np.array([ceil_f32(s) for s in splits], dtype=np.float32)
        probes = np.concatenate([[splits[0] - 1.0] if len(splits) else [0.0], splits])
        return {"kind": "numeric", "splits": splits, "thresholds": t,
                "woe": self._woe(name, probes), "missing": missing}

    def woe_lookup(self, X) -> np.ndarray:
        """The same WoE as :meth:`transform`, from :attr:`lookup_` in float32 comparisons (what
        the ONNX graph computes); used to check the lookup and to score a points table."""
        X = np.asarray(X, dtype=np.float32)
        out = np.empty(X.shape, dtype=np.float64)
        for j, lk in enumerate(self.lookup_):
            x = X[:, j]
            if lk["kind"] == "numeric":
                idx = (x[:, None] >= lk["thresholds"][None, :]).sum(axis=1)
                out[:, j] = lk["woe"][idx]
            else:
                out[:, j] = np.select([x == c for c in lk["codes"]], list(lk["woe"]),
                                      default=0.0)
            out[np.isnan(x), j] = lk["missing"]
        return out


class SignedLogistic(LogisticRegression):
    """Logistic regression on WoE columns whose coefficients are all <= 0: characteristics with
    a positive coefficient are dropped one at a time (most positive first) and the rest refitted.
    ``coef_`` keeps one entry per column (0 = dropped), so prediction and the ONNX conversion
    are those of ``LogisticRegression``."""

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float64)
        keep = np.ones(X.shape[1], bool)
        while True:
            super().fit(X[:, keep], y, sample_weight=sample_weight)
            c = self.coef_[0]
            if c.max() <= 0 or keep.sum() == 1:
                break
            keep[np.flatnonzero(keep)[int(np.argmax(c))]] = False
        coef = np.zeros((1, X.shape[1]))
        coef[0, keep] = self.coef_[0]
        self.coef_, self.n_features_in_, self.dropped_ = coef, X.shape[1], np.flatnonzero(~keep)
        return self


update_registered_converter(SignedLogistic, "ScorechainSignedLogistic",
                            calculate_linear_classifier_output_shapes,
                            convert_sklearn_linear_classifier,
                            options={"zipmap": [False, True], "nocl": [False, True],
                                     "raw_scores": [False, True]})


# ---- ONNX: a per-feature piecewise-constant lookup with GreaterOrEqual / Equal + MatMul ------

def _shape(operator):
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.names)])


def _converter(scope, operator, container):
    """woe_j = w_j0 + sum_k (w_jk - w_j,k-1) * [x_j >= t_jk] for numeric j and
    sum_c w_jc * [x_j == c] for category codes (one MatMul each over all features); then
    NaN -> the missing bin's WoE."""
    op: WoEBinning = operator.raw_operator
    opv = container.target_opset
    X = operator.inputs[0]
    d = len(op.names)
    f32 = np.float32
    base = np.zeros((1, d), f32)
    miss = np.array([[lk["missing"] for lk in op.lookup_]], f32)
    num_idx, thr, num_rows, cat_idx, codes, cat_rows = [], [], [], [], [], []
    for j, lk in enumerate(op.lookup_):
        if lk["kind"] == "numeric":
            base[0, j] = lk["woe"][0]
            for k, t in enumerate(lk["thresholds"]):
                num_idx.append(j)
                thr.append(t)
                row = np.zeros(d, f32)
                row[j] = lk["woe"][k + 1] - lk["woe"][k]
                num_rows.append(row)
        else:
            for c, w in zip(lk["codes"], lk["woe"]):
                cat_idx.append(j)
                codes.append(c)
                row = np.zeros(d, f32)
                row[j] = w
                cat_rows.append(row)
    woe = base
    if num_idx:
        g = OnnxGather(X, np.array(num_idx, np.int64), axis=1, op_version=opv)
        step = OnnxCast(OnnxGreaterOrEqual(g, np.array(thr, f32).reshape(1, -1), op_version=opv),
                        to=onnx.TensorProto.FLOAT, op_version=opv)
        woe = OnnxAdd(OnnxMatMul(step, np.vstack(num_rows), op_version=opv), woe,
                      op_version=opv)
    if cat_idx:
        g = OnnxGather(X, np.array(cat_idx, np.int64), axis=1, op_version=opv)
        hit = OnnxCast(OnnxEqual(g, np.array(codes, f32).reshape(1, -1), op_version=opv),
                       to=onnx.TensorProto.FLOAT, op_version=opv)
        woe = OnnxAdd(OnnxMatMul(hit, np.vstack(cat_rows), op_version=opv), woe,
                      op_version=opv)
    if not (num_idx or cat_idx):  # every feature a single bin: a constant per row
        woe = OnnxAdd(OnnxMatMul(OnnxCast(OnnxIsNaN(X, op_version=opv), to=onnx.TensorProto.FLOAT,
                                          op_version=opv), np.zeros((d, d), f32),
                                 op_version=opv), woe, op_version=opv)
    final = OnnxWhere(OnnxIsNaN(X, op_version=opv), miss, woe, op_version=opv,
                      output_names=operator.outputs[:1])
    final.add_to(scope, container)


update_registered_converter(WoEBinning, "ScorechainWoEBinning", _shape, _converter)


# ---- points --------------------------------------------------------------------------------

def scorecard_parts(model):
    """(WoEBinning, LogisticRegression) of a fitted scorecard (a pipeline or ScoreCalibrated
    around one). Points exist only without a calibration map on top of the logistic model."""
    cal = getattr(model, "calibrator_", None)
    if cal is not None:
        raise ValueError("a scorecard's points describe its logistic model: export it with "
                         "calibration 'none'")
    pipe = getattr(model, "estimator_", model)
    steps = dict(pipe.steps)
    return steps["woe"], steps["clf"]


def _fmt_edge(v: float) -> str:
    return f"{float(v):.6g}"


def points_table(model, schema: dict) -> dict:
    """The scorecard: per feature and bin its WoE and points, the PDO scaling and intercept."""
    woe, clf = scorecard_parts(model)
    coef, b0 = clf.coef_[0].astype(np.float64), float(clf.intercept_[0])
    d = len(woe.names)
    share = (OFFSET - FACTOR * b0) / d
    feats = []
    for j, (f, lk) in enumerate(zip(schema["features"], woe.lookup_)):
        pts = lambda w, j=j: float(-FACTOR * coef[j] * w + share)  # noqa: E731
        bins = []
        if lk["kind"] == "numeric":
            edges = [-np.inf, *lk["splits"], np.inf]
            for k, w in enumerate(lk["woe"]):
                lo, hi = edges[k], edges[k + 1]
                label = (f"< {_fmt_edge(hi)}" if k == 0 else
                         f">= {_fmt_edge(lo)}" if k == len(lk["woe"]) - 1 else
                         f"[{_fmt_edge(lo)}, {_fmt_edge(hi)})")
                bins.append({"bin": label if len(lk["woe"]) > 1 else "all values",
                             "lower": None if k == 0 else float(lo),
                             "upper": None if k == len(lk["woe"]) - 1 else float(hi),
                             "woe": float(w), "points": pts(w)})
        else:
            for c, w in zip(lk["codes"], lk["woe"]):
                bins.append({"bin": str(f["categories"][int(c)]), "code": int(c),
                             "woe": float(w), "points": pts(w)})
        entry = {"name": f["name"], "coefficient": float(coef[j]),
                 "dropped_for_sign": bool(j in set(getattr(clf, "dropped_", ()))), "bins": bins,
                 "missing": {"woe": float(lk["missing"]), "points": pts(lk["missing"])}}
        cands = [b["points"] for b in bins] + (
            [entry["missing"]["points"]] if f.get("missing") == "impute" else [])
        entry["max_points"] = max(cands)
        feats.append(entry)
    return {"pdo": PDO, "base_score": BASE_SCORE, "base_odds": BASE_ODDS,
            "factor": FACTOR, "offset": OFFSET, "intercept": b0,
            "scaling": (f"score = offset + factor * ln(odds good:bad); factor = PDO/ln 2 = "
                        f"{FACTOR:.6f}, offset = {BASE_SCORE} - factor * ln {BASE_ODDS} = "
                        f"{OFFSET:.6f}: {PDO} points double the odds, {BASE_SCORE} points at "
                        f"odds {BASE_ODDS}:1 (PD 5 %), the serving score scale"),
            "points_rule": "points = -factor * coefficient * woe + (offset - factor * intercept)"
                           " / n_features",
            "reason_method": "points below the feature's maximum (reference value in the "
                             "highest-points bin)",
            "features": feats}


def row_points(table: dict, X) -> np.ndarray:
    """Points per feature [n, d] of validated rows, from the table alone (float32 bin edges,
    as the ONNX graph compares)."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    out = np.empty(X.shape, dtype=np.float64)
    for j, f in enumerate(table["features"]):
        x = X[:, j]
        pts = np.array([b["points"] for b in f["bins"]])
        if "code" in f["bins"][0]:
            col = np.select([x == b["code"] for b in f["bins"]], list(pts), default=np.nan)
        else:
            t = np.array([ceil_f32(b["lower"]) for b in f["bins"][1:]], dtype=np.float32)
            col = pts[(x[:, None] >= t[None, :]).sum(axis=1)]
        col[np.isnan(x)] = f["missing"]["points"]
        out[:, j] = col
    return out


def score_from_points(total) -> np.ndarray:
    """Odds (good:bad) of a points total: BASE_ODDS * 2 ** ((total - BASE_SCORE) / PDO)."""
    return BASE_ODDS * np.power(2.0, (np.asarray(total, dtype=np.float64) - BASE_SCORE) / PDO)


def best_bin_reference(table: dict, X_train) -> list:
    """Per feature a training value in its highest-points bin (median of the training values
    there; None = missing when the missing bin is best): the bundle's reason references."""
    X_train = np.asarray(X_train, dtype=np.float32)
    P = row_points(table, X_train)
    out = []
    for j, f in enumerate(table["features"]):
        x = X_train[:, j]
        if f["missing"]["points"] == f["max_points"] and not any(
                b["points"] == f["max_points"] for b in f["bins"]):
            out.append(None)
            continue
        inbest = ~np.isnan(x) & (P[:, j] == max(b["points"] for b in f["bins"]))
        if not inbest.any():  # a best bin no training row falls in (cannot happen with WoE)
            raise ValueError(f"{f['name']}: no training value in its highest-points bin")
        vals = np.sort(x[inbest])
        # An actual training value (the lower median), so the reference is a real, valid value.
        out.append(float(vals[(len(vals) - 1) // 2]))
    return out
