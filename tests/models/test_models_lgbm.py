"""The LightGBM family (issue 13: boosting beside HistGradientBoosting): trained under the schema's
monotone directions through LightGBM's own `monotone_constraints`, exported to ONNX through
onnxmltools' converter with the usual parity check, and held to the same fair-lending gates."""
import numpy as np

from models import serving as S
from models.families import build_pipeline, monotonic_cst


def _ice_drops(pipe, schema, X) -> dict[str, int]:
    """Rows whose PD moves against the schema's declared direction as one feature walks its
    grid (the 5th to 95th percentile of the rows given), the others held."""
    out = {}
    sign = {"increasing": 1, "decreasing": -1}
    for j, f in enumerate(schema["features"]):
        if f.get("monotone") not in sign:
            continue
        grid = np.unique(np.nanpercentile(X[:, j], np.linspace(5, 95, 8)))
        if len(grid) < 2:
            continue
        Z = np.repeat(X, len(grid), axis=0)
        Z[:, j] = np.tile(grid, len(X))
        pd = pipe.predict_proba(Z)[:, 1].reshape(len(X), len(grid))
        steps = np.diff(pd, axis=1) * sign[f["monotone"]]
        out[f["name"]] = int((steps < -1e-9).any(axis=1).sum())
    return out


def test_lgbm_takes_the_schemas_directions_and_only_then_keeps_them(gmsc):
    ds, sp = gmsc
    tr, rows = sp.train_idx[:8000], ds.X[sp.holdout_idx[:200]]
    pipe = build_pipeline("lgbm", ds.schema, {}, "none", seed=0)
    assert list(pipe.steps[-1][1].get_params()["monotone_constraints"]) == monotonic_cst(ds.schema)
    constrained = _ice_drops(pipe.fit(ds.X[tr], ds.y[tr]), ds.schema, rows)
    free = build_pipeline("lgbm", ds.schema, {}, "none", seed=0, monotone=False)
    unconstrained = _ice_drops(free.fit(ds.X[tr], ds.y[tr]), ds.schema, rows)
    assert constrained and set(constrained.values()) == {0}, constrained
    assert sum(unconstrained.values()) > 0, unconstrained  # what the constraint prevents


def test_an_lgbm_bundle_exports_with_parity_and_passes_the_gates(gmsc, tmp_path):
    from models.train import export_bundle, fit_final
    ds, sp = gmsc
    cfg = {"family": "lgbm", "calibration": "none", "max_train_rows": 20000}
    model = fit_final(ds, sp, cfg)
    export_bundle(model, ds, sp, cfg, tmp_path / "bundle")  # parity and gates, or it raises
    b = S.load_bundle(tmp_path / "bundle")
    X = ds.X[sp.holdout_idx[:50]]
    assert np.abs(S.predict_pd(b, X) - model.predict_proba(X)[:, 1]).max() < 1e-5
