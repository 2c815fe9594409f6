"""Domain features computed inside the model from the schema's raw features (issue 13).

A schema may declare ``derived`` features next to its ``features``::

    "derived": [
      {"name": "UTIL1", "op": "ratio", "inputs": ["BILL_AMT1", "LIMIT_BAL"],
       "monotone": "increasing", "label": "Credit used 1 month(s) back"},
      {"name": "MONTHS_LATE", "op": "count_positive", "inputs": ["PAY_0", "PAY_2"]}
    ]

Operations (float32, the same arithmetic in numpy and in the ONNX graph):

* ``ratio`` ``[a, b]``: ``max(a, 0) / max(b, 1)``: a negative numerator (a credit balance)
  counts as none and the denominator never reaches zero;
* ``per_person`` ``[a, n]``: ``max(a, 0) / (max(n, 0) + 1)``, e.g. income per household member
  from the number of dependents;
* ``sum``: the inputs added left to right;
* ``product`` ``[a, b]``: ``a * b``;
* ``count_positive``: how many inputs are above zero.

A missing input makes a ``ratio``, ``sum`` or ``product`` missing (imputed and flagged like a
raw feature); ``count_positive`` counts a missing input as not positive.

They are computed in the exported graph (:class:`DerivedFeatures`, first step of the
pipeline), so the oracle, the feature store, the features commitment and the reason codes keep
working on the raw features alone, and the bundle's id covers the definitions (they are in its
``feature_schema.json``). A derived feature's ``monotone`` direction is a constraint on the tree
families like a raw feature's; the ICE gate (models.gates) checks the served PD against every
raw feature's declared direction, so a definition that would bend one is refused at export. The
scorecard does not use them: its points stay a table over the raw features.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .schema import SchemaError

OPS = {"ratio": 2, "per_person": 2, "sum": None, "product": 2, "count_positive": None}
# what each operation computes, for model cards
OP_TEXT = {"ratio": "max(a, 0) / max(b, 1)", "per_person": "max(a, 0) / (max(n, 0) + 1)",
           "sum": "the inputs added", "product": "a × b",
           "count_positive": "how many inputs are above zero"}
NO_DERIVED_FAMILIES = {"scorecard"}


class DerivedError(SchemaError):
    pass


def check(schema: Mapping[str, Any]) -> None:
    """Raise :class:`DerivedError` naming the first malformed ``derived`` entry."""
    types = {f["name"]: f["type"] for f in schema["features"]}
    seen = set(types)
    if not isinstance(schema.get("derived", []), list):
        raise DerivedError("derived must be a list of definitions")
    for d in schema.get("derived", ()):
        if not isinstance(d, dict):
            raise DerivedError(f"derived entry {d!r}: an object with name, op and inputs")
        name = d.get("name")
        if not isinstance(name, str) or not name or name in seen:
            raise DerivedError(f"derived feature {name!r}: a name not used by another feature")
        seen.add(name)
        op, inputs = d.get("op"), d.get("inputs")
        if not isinstance(inputs, list):
            raise DerivedError(f"derived feature {name!r}: inputs must be a list of features")
        if op not in OPS:
            raise DerivedError(f"derived feature {name!r}: op must be one of {sorted(OPS)}")
        arity = OPS[op]
        if (arity and len(inputs) != arity) or len(inputs) < 1:
            raise DerivedError(f"derived feature {name!r}: {op} takes "
                               f"{arity or 'one or more'} inputs, got {len(inputs)}")
        for i in inputs:
            if i not in types:
                raise DerivedError(f"derived feature {name!r}: unknown input {i!r} (derived "
                                   "features take raw features only)")
            if types[i] == "category":
                raise DerivedError(f"derived feature {name!r}: input {i!r} is a category")
        if d.get("monotone") not in (None, "increasing", "decreasing"):
            raise DerivedError(f"derived feature {name!r}: monotone must be increasing or "
                               "decreasing")
        if d.get("scale") not in (None, "log"):
            raise DerivedError(f"derived feature {name!r}: scale must be 'log' or absent")


def used_by(family: str, schema: Mapping[str, Any]) -> list[dict] | None:
    """The derived features a family is trained on, whole definitions (None: none). Part of a
    comparison row, so a row computed on other inputs, or on a definition since edited (its
    op, inputs, direction or scale), is computed again, not reused."""
    if family in NO_DERIVED_FAMILIES or not schema.get("derived"):
        return None
    return copy.deepcopy(list(schema["derived"]))


def extended_schema(schema: Mapping[str, Any]) -> dict:
    """The schema as the model after :class:`DerivedFeatures` sees it: the raw features, then
    one float feature per derived entry (imputed when an input can be missing)."""
    check(schema)
    out = copy.deepcopy(dict(schema))
    by_name = {f["name"]: f for f in schema["features"]}
    for d in schema.get("derived", ()):
        may_miss = d["op"] != "count_positive" and any(
            by_name[i].get("missing") == "impute" for i in d["inputs"])
        f = {"name": d["name"], "type": "float", "missing": "impute" if may_miss else "reject",
             "derived": True}
        for k in ("monotone", "scale", "label", "description"):
            if k in d:
                f[k] = d[k]
        out["features"].append(f)
    out.pop("derived", None)
    return out


def computed_by(model) -> bool:
    """Whether a fitted model (a pipeline, possibly wrapped by a calibrator) computes derived
    features; a bundle's schema declares them only then (models.train.export_bundle)."""
    if isinstance(model, DerivedFeatures):
        return True
    inner = [s for _, s in getattr(model, "steps", ())]
    inner += [getattr(model, a) for a in ("estimator_", "estimator") if hasattr(model, a)]
    return any(computed_by(m) for m in inner if m is not None and m is not model)


def without(schema: Mapping[str, Any]) -> dict:
    return {k: v for k, v in schema.items() if k != "derived"}


class DerivedFeatures(TransformerMixin, BaseEstimator):
    """Appends the derived columns to the raw vector. ``specs``: ``(op, input indices)``."""

    def __init__(self, specs=()):
        self.specs = specs

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> "DerivedFeatures":
        check(schema)
        idx = {f["name"]: i for i, f in enumerate(schema["features"])}
        return cls(specs=tuple((d["op"], tuple(idx[i] for i in d["inputs"]))
                               for d in schema.get("derived", ())))

    def fit(self, X, y=None):
        self.n_features_in_ = int(np.asarray(X).shape[1])
        self.n_features_out_ = self.n_features_in_ + len(self.specs)
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float32)
        cols = [X]
        zero, one = np.float32(0), np.float32(1)
        for op, idx in self.specs:
            xs = [X[:, [i]] for i in idx]
            if op == "ratio":
                v = np.maximum(xs[0], zero) / np.maximum(xs[1], one)
                v = np.where(np.isnan(xs[0]) | np.isnan(xs[1]), np.float32(np.nan), v)
            elif op == "per_person":
                v = np.maximum(xs[0], zero) / (np.maximum(xs[1], zero) + one)
                v = np.where(np.isnan(xs[0]) | np.isnan(xs[1]), np.float32(np.nan), v)
            elif op == "sum":
                v = xs[0]
                for x in xs[1:]:
                    v = v + x
            elif op == "product":
                v = xs[0] * xs[1]
            else:  # count_positive
                v = np.zeros_like(xs[0])
                for x in xs:
                    v = v + (x > zero).astype(np.float32)
            cols.append(v.astype(np.float32))
        return np.hstack(cols).astype(np.float32)


def onnx_converter(scope, operator, container):
    """skl2onnx converter of :class:`DerivedFeatures` (registered by models.onnx_export)."""
    from skl2onnx.algebra.onnx_ops import (OnnxAdd, OnnxCast, OnnxConcat, OnnxDiv, OnnxGather,
                                           OnnxGreater, OnnxIdentity, OnnxIsNaN, OnnxMax,
                                           OnnxMul, OnnxOr, OnnxWhere)
    import onnx

    op: DerivedFeatures = operator.raw_operator
    opv = container.target_opset
    X = operator.inputs[0]
    zero, one = np.array([0.0], np.float32), np.array([1.0], np.float32)
    nan = np.array([np.nan], np.float32)

    def col(i):
        return OnnxGather(X, np.array([i], dtype=np.int64), axis=1, op_version=opv)

    parts = [X]
    for kind, idx in op.specs:
        xs = [col(i) for i in idx]
        if kind == "ratio":
            # whatever Max gives for a NaN input, the Where below replaces those rows
            v = OnnxDiv(OnnxMax(xs[0], zero, op_version=opv), OnnxMax(xs[1], one, op_version=opv),
                        op_version=opv)
            missing = OnnxOr(OnnxIsNaN(xs[0], op_version=opv), OnnxIsNaN(xs[1], op_version=opv),
                             op_version=opv)
            v = OnnxWhere(missing, nan, v, op_version=opv)
        elif kind == "per_person":
            v = OnnxDiv(OnnxMax(xs[0], zero, op_version=opv),
                        OnnxAdd(OnnxMax(xs[1], zero, op_version=opv), one, op_version=opv),
                        op_version=opv)
            missing = OnnxOr(OnnxIsNaN(xs[0], op_version=opv), OnnxIsNaN(xs[1], op_version=opv),
                             op_version=opv)
            v = OnnxWhere(missing, nan, v, op_version=opv)
        elif kind == "sum":
            v = xs[0]
            for x in xs[1:]:
                v = OnnxAdd(v, x, op_version=opv)
        elif kind == "product":
            v = OnnxMul(xs[0], xs[1], op_version=opv)
        else:
            v = None
            for x in xs:
                c = OnnxCast(OnnxGreater(x, zero, op_version=opv), to=onnx.TensorProto.FLOAT,
                             op_version=opv)
                v = c if v is None else OnnxAdd(v, c, op_version=opv)
        parts.append(v)
    out = OnnxConcat(*parts, axis=1, op_version=opv)
    OnnxIdentity(out, op_version=opv, output_names=operator.outputs[:1]).add_to(scope, container)


def onnx_shape(operator):
    from skl2onnx.common.data_types import FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_features_out_])
