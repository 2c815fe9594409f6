"""Helpers shared by training and export."""
from __future__ import annotations

from sklearn.pipeline import Pipeline


def strip_samplers(estimator):
    """Return a scikit-learn ``Pipeline`` equivalent at predict time to ``estimator``.

    Resamplers (anything with ``fit_resample``) only act during ``fit``; at prediction time an
    imbalanced-learn pipeline is the same as its other steps, which skl2onnx can convert.
    """
    steps = getattr(estimator, "steps", None)
    if steps is None:
        return estimator
    kept = [(n, s) for n, s in steps if not hasattr(s, "fit_resample") and s != "passthrough"]
    return Pipeline(kept)
