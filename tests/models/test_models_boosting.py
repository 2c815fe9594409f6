"""The gradient-boosting families beside HistGradientBoosting (issue 13): LightGBM and XGBoost,
trained under the schema's monotone directions through their own `monotone_constraints`,
exported to ONNX through onnxmltools' converters with the usual parity check, and held to the
same fair-lending gates."""
import numpy as np
import pytest

from models import serving as S
from models.families import build_pipeline, monotonic_cst
from models.gates import ice_violations_of

BOOSTERS = ["lgbm", "xgb"]


@pytest.mark.parametrize("family", BOOSTERS)
def test_the_booster_takes_the_schemas_directions_and_only_then_keeps_them(gmsc, family):
    ds, sp = gmsc
    tr, rows = sp.train_idx[:8000], ds.X[sp.holdout_idx[:200]]
    pipe = build_pipeline(family, ds.schema, {}, "none", seed=0)
    assert list(pipe.steps[-1][1].get_params()["monotone_constraints"]) == monotonic_cst(ds.schema)
    pipe.fit(ds.X[tr], ds.y[tr])
    constrained = ice_violations_of(lambda Z: pipe.predict_proba(Z)[:, 1], ds.schema, rows)
    free = build_pipeline(family, ds.schema, {}, "none", seed=0, monotone=False)
    free.fit(ds.X[tr], ds.y[tr])
    unconstrained = ice_violations_of(lambda Z: free.predict_proba(Z)[:, 1], ds.schema, rows)
    assert constrained and set(constrained.values()) == {0}, constrained
    assert sum(unconstrained.values()) > 0, unconstrained  # what the constraint prevents


@pytest.mark.parametrize("family", BOOSTERS)
def test_a_booster_bundle_exports_with_parity_and_passes_the_gates(gmsc, tmp_path, family):
    from models.train import export_bundle, fit_final
    ds, sp = gmsc
    cfg = {"family": family, "calibration": "none", "max_train_rows": 20000}
    model = fit_final(ds, sp, cfg)
    export_bundle(model, ds, sp, cfg, tmp_path / "bundle")  # parity and gates, or it raises
    b = S.load_bundle(tmp_path / "bundle")
    X = ds.X[sp.holdout_idx[:50]]
    assert np.abs(S.predict_pd(b, X) - model.predict_proba(X)[:, 1]).max() < 1e-5
