"""LightGBM's classifier to ONNX, with every split threshold exact in float32.

LightGBM stores thresholds as doubles (midpoints between bin bounds) and compares ``x <= t`` in
double precision; ONNX's tree ensemble holds float32 thresholds, and onnxmltools rounds each to
the *nearest* float32. When that rounds up, an input equal to the rounded value goes left in ONNX
and right in LightGBM. It is not rare: a resampler that adds noise to a 0/1 column (NIA on
GMSC's missing-income flag) creates values one float32 step below 1.0, LightGBM splits between
them and 1.0 at 0.99999997, ONNX rounds that to 1.0, and every applicant with a missing income
took the other branch (measured: ONNX PD off by up to 0.207).

The fix rounds each numeric threshold *down* to the largest float32 not above it. The model's
inputs are float32 (the ``features`` tensor, and scikit-learn's pipeline casts the same way), and
for a float32 ``x``, ``x <= t`` holds exactly when ``x <= floor32(t)``: the ONNX graph then
routes every input as LightGBM does, bit for bit, and the fitted model itself is unchanged.
"""
from __future__ import annotations

import copy

import numpy as np


def floor32(t: float) -> float:
    """The largest float32 value not above ``t`` (as a Python float, i.e. exactly)."""
    f = np.float32(t)
    if float(f) > t:
        f = np.nextafter(f, np.float32(-np.inf), dtype=np.float32)
    return float(f)


def snap_thresholds(node: dict) -> None:
    """Round the numeric thresholds of one dumped LightGBM tree down to float32, in place.
    Categorical splits (``==``) hold category sets, not numbers."""
    stack = [node]
    while stack:
        n = stack.pop()
        if "split_feature" not in n:
            continue
        if n.get("decision_type") == "<=":
            n["threshold"] = floor32(float(n["threshold"]))
        stack += [n["left_child"], n["right_child"]]


class _Float32Booster:
    """A booster whose JSON dump has float32-exact thresholds. onnxmltools reads a booster
    through ``dump_model()`` when it is flagged ``is_mock`` (its own hook for test doubles)."""

    is_mock = True

    def __init__(self, booster):
        self._booster = booster

    def dump_model(self, *args, **kwargs) -> dict:
        dump = self._booster.dump_model(*args, **kwargs)
        for tree in dump["tree_info"]:
            snap_thresholds(tree["tree_structure"])
        return dump

    def __getattr__(self, name):
        return getattr(self._booster, name)


def convert(scope, operator, container):
    """skl2onnx converter for ``LGBMClassifier``: onnxmltools' converter, fed the float32-exact
    dump (the fitted classifier is left as it is)."""
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

    fitted = operator.raw_operator
    exact = copy.copy(fitted)
    exact._Booster = _Float32Booster(fitted.booster_)
    operator.raw_operator = exact
    try:
        convert_lightgbm(scope, operator, container)
    finally:
        operator.raw_operator = fitted
