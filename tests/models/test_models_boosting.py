"""The gradient-boosting families beside HistGradientBoosting (issue 13): LightGBM, XGBoost and
CatBoost, trained under the schema's monotone directions through their own
`monotone_constraints`, exported to ONNX (onnxmltools' converters, CatBoost's own tree ensemble)
with the usual parity check, and held to the same fair-lending gates."""
import numpy as np
import pytest

from models import serving as S
from models.derived import extended_schema
from models.families import build_pipeline, monotonic_cst
from models.gates import ice_violations_of

BOOSTERS = ["lgbm", "xgb", "catboost"]


@pytest.mark.parametrize("family", BOOSTERS)
def test_the_booster_takes_the_schemas_directions_and_only_then_keeps_them(gmsc, family):
    ds, sp = gmsc
    tr, rows = sp.train_idx[:8000], ds.X[sp.holdout_idx[:200]]
    pipe = build_pipeline(family, ds.schema, {}, "none", seed=0)
    # the raw features' directions, then the derived ones' (GMSC's income per person, past dues)
    cst = pipe.steps[-1][1].get_params()["monotone_constraints"]
    if isinstance(cst, str):  # CatBoost's form, "(1,0,-1)"
        cst = [int(c) for c in cst.strip("()").split(",")]
    assert list(cst) == monotonic_cst(extended_schema(ds.schema))
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


def test_catboost_trains_without_writing_into_the_working_directory(gmsc, tmp_path, monkeypatch):
    """CatBoost writes catboost_info/ into the current directory unless told not to: a training
    run from a checkout would leave its tree dirty."""
    ds, sp = gmsc
    monkeypatch.chdir(tmp_path)
    build_pipeline("catboost", ds.schema, {"iterations": 20}, "none").fit(
        ds.X[sp.train_idx[:3000]], ds.y[sp.train_idx[:3000]])
    assert list(tmp_path.iterdir()) == []


def test_an_input_exactly_on_a_catboost_border_goes_where_catboost_sends_it():
    """An applicant can choose a value exactly at a split (an income of exactly the border):
    CatBoost sends x > border right, and the ONNX graph must route it, and the float32 values
    either side of it, the same way (it writes BRANCH_GT on float32 borders)."""
    import onnxruntime as ort
    from catboost import CatBoostClassifier
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    import models.onnx_export  # noqa: F401  (registers the converter)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=4000) > 0.8).astype(int)
    cb = CatBoostClassifier(iterations=60, depth=4, thread_count=1, random_seed=0,
                            allow_writing_files=False, verbose=0).fit(X, y)
    rows = []
    for j, borders in cb.get_borders().items():
        for b in np.asarray(borders, dtype=np.float32):
            for v in (np.nextafter(b, np.float32(-np.inf)), b, np.nextafter(b, np.float32(np.inf))):
                r = X[len(rows) % len(X)].copy()
                r[j] = v
                rows.append(r)
    Z = np.asarray(rows, dtype=np.float32)
    assert len(Z) > 300
    onx = convert_sklearn(cb, initial_types=[("features", FloatTensorType([None, 4]))],
                          target_opset={"": 17, "ai.onnx.ml": 3}, options={"zipmap": False})
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    pd_onnx = sess.run(None, {"features": Z})[1][:, 1]
    assert np.abs(pd_onnx - cb.predict_proba(Z)[:, 1]).max() < 1e-6


def test_a_lightgbm_threshold_between_adjacent_float32_values_routes_as_lightgbm_does():
    """LightGBM splits between two adjacent float32 values at their double midpoint; rounded to
    the nearest float32 (onnxmltools' own converter) that is the upper value, which then goes
    the wrong way in ONNX. It happened on GMSC: NIA's noise on the missing-income flag, ONNX PD
    off by 0.207 for every applicant without an income (models.lgbm_onnx)."""
    from lightgbm import LGBMClassifier
    from models.lgbm_onnx import floor32
    from models.onnx_export import onnx_pd, to_onnx
    below_one = np.nextafter(np.float32(1), np.float32(0))
    rng = np.random.default_rng(0)
    flag = np.where(rng.random(400) < 0.5, below_one, np.float32(1)).astype(np.float32)
    X = np.column_stack([flag, rng.random(400).astype(np.float32)])
    y = (flag == 1).astype(int)
    clf = LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(X, y)
    t = clf.booster_.dump_model()["tree_info"][0]["tree_structure"]["threshold"]
    assert below_one < t < 1 and float(np.float32(t)) == 1.0  # the case: nearest rounds up
    assert floor32(t) == float(below_one)
    onx = to_onnx(clf, 2)
    assert np.array_equal(onnx_pd(onx, X) > 0.5, clf.predict_proba(X)[:, 1] > 0.5)
    assert np.abs(onnx_pd(onx, X) - clf.predict_proba(X)[:, 1]).max() < 1e-6


@pytest.mark.parametrize("t", [0.1, -0.1, 1e-35, -1e-35, 0.0, 5400.0, 1 - 2**-25, 3e38, -3e38])
def test_floor32_is_the_largest_float32_not_above(t):
    from models.lgbm_onnx import floor32
    f = floor32(t)
    assert f <= t and float(np.float32(f)) == f
    assert float(np.nextafter(np.float32(f), np.float32(np.inf))) > t
