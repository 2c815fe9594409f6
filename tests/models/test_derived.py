"""Domain features computed inside the exported model (models.derived, issue 13): the same float32
arithmetic in numpy and ONNX on the awkward rows, malformed definitions refused with the
feature's name, directions that carry through to the raw features, and comparison rows that
are recomputed when the inputs change."""
import copy
import dataclasses
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

from models import derived as D
from models import onnx_export as OE
from models.families import build_pipeline, monotonic_cst
from models.gates import ice_violations_of
from models.schema import SchemaError, check_schema

SCHEMA = {
    "target": "y",
    "features": [
        {"name": "a", "type": "float", "missing": "impute", "monotone": "decreasing"},
        {"name": "b", "type": "float", "missing": "reject"},
        {"name": "c", "type": "int", "missing": "reject", "monotone": "increasing"},
        {"name": "k", "type": "category", "categories": ["x", "y"]},
    ],
    "derived": [
        {"name": "r", "op": "ratio", "inputs": ["b", "a"]},
        {"name": "s", "op": "sum", "inputs": ["a", "b", "c"]},
        {"name": "p", "op": "product", "inputs": ["a", "c"]},
        {"name": "n", "op": "count_positive", "inputs": ["a", "b", "c"], "monotone": "increasing"},
        {"name": "q", "op": "per_person", "inputs": ["b", "c"], "monotone": "decreasing"},
    ],
}
NAN = np.nan
ROWS = np.array([
    [2.0, 3.0, 1.0, 0.0],        # plain
    [0.0, 3.0, -1.0, 1.0],       # denominator 0 -> 1
    [-4.0, 3.0, 0.0, 0.0],       # negative denominator -> 1
    [2.0, -3.0, 5.0, 1.0],       # negative numerator counts as none
    [NAN, 3.0, 2.0, 0.0],        # a missing: ratio, sum, product missing; count skips it
    [1e-30, 7.0, 1e30, 1.0],     # tiny and huge
    [3.0, 1e7, 2.0, NAN],        # a missing category is no input of any derived feature
], dtype=np.float32)


def _onnx_transform(step, X):
    model = convert_sklearn(step, initial_types=[("x", FloatTensorType([None, X.shape[1]]))],
                            target_opset={"": OE.TARGET_OPSET, "ai.onnx.ml": OE.ML_OPSET})
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": X})[0]


def test_numpy_and_onnx_compute_the_same_bits_on_awkward_rows():
    step = D.DerivedFeatures.from_schema(SCHEMA).fit(ROWS)
    ours, theirs = step.transform(ROWS), _onnx_transform(step, ROWS)
    assert ours.shape == (len(ROWS), 9) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)  # NaN == NaN here, bit for bit otherwise
    r, s, p, n, q = (ours[:, i] for i in range(4, 9))
    assert r[:4].tolist() == [1.5, 3.0, 3.0, 0.0]
    assert q[:4].tolist() == [1.5, 3.0, 3.0, 0.0]  # 3 / (1 + 1), 3 / (0 + 1) twice, none
    assert np.isnan(r[4]) and np.isnan(s[4]) and np.isnan(p[4]) and n[4] == 2
    assert s[0] == 6 and p[0] == 2 and n[:4].tolist() == [3, 1, 1, 2]


@pytest.mark.parametrize("bad, words", [
    ({"name": "r2", "op": "mean", "inputs": ["a", "b"]}, "op must be one of"),
    ({"name": "r2", "op": "ratio", "inputs": ["a"]}, "ratio takes 2 inputs"),
    ({"name": "r2", "op": "sum", "inputs": []}, "sum takes one or more inputs"),
    ({"name": "r2", "op": "sum", "inputs": ["a", "zz"]}, "unknown input 'zz'"),
    ({"name": "r2", "op": "sum", "inputs": ["a", "r"]}, "unknown input 'r'"),
    ({"name": "r2", "op": "sum", "inputs": ["a", "k"]}, "input 'k' is a category"),
    ({"name": "b", "op": "sum", "inputs": ["a"]}, "derived feature 'b'"),
    ({"name": "r2", "op": "sum", "inputs": ["a"], "monotone": "up"}, "monotone must be"),
    ({"name": "r2", "op": "sum", "inputs": ["a"], "scale": "Log"}, "scale must be"),
    ({"name": "r2", "op": "sum", "inputs": "a"}, "inputs must be a list"),
    (["r2", "sum"], "an object with name, op and inputs"),
])
def test_a_malformed_definition_is_refused_naming_it(bad, words):
    schema = copy.deepcopy(SCHEMA)
    schema["derived"].append(bad)
    with pytest.raises(SchemaError, match=words.replace("(", r"\(")):
        check_schema(schema)


def test_the_model_sees_derived_columns_imputed_and_constrained_like_raw_ones():
    ext = D.extended_schema(SCHEMA)
    kinds = {f["name"]: (f["missing"], f.get("monotone")) for f in ext["features"][4:]}
    # a ratio, sum or product of a feature that may be missing may be missing itself
    assert kinds == {"r": ("impute", None), "s": ("impute", None), "p": ("impute", None),
                     "n": ("reject", "increasing"), "q": ("reject", "decreasing")}
    pipe = build_pipeline("hgb", SCHEMA, {}, "none")
    assert [n for n, _ in pipe.steps[:2]] == ["derived", "prep"]
    # numeric a b c r s p n q, then the missing flags of a r s p, then the category
    assert monotonic_cst(ext) == [-1, 0, 1, 0, 0, 0, 1, -1, 0, 0, 0, 0, 0]
    assert list(pipe.steps[-1][1].monotonic_cst) == monotonic_cst(ext)
    # the scorecard's points stay a table over the raw features
    assert "derived" not in dict(build_pipeline("scorecard", SCHEMA, {}, "none").steps)
    assert D.used_by("scorecard", SCHEMA) is None and D.used_by("lgbm", SCHEMA) == SCHEMA["derived"]


def test_a_direction_that_bends_a_raw_feature_is_what_the_ice_gate_catches(taiwan):
    """UTIL = bill / limit declared increasing keeps "credit limit: decreasing"; declared
    decreasing, a higher limit lowers utilisation and so raises the PD, which the ICE gate (run
    on every export) counts against the limit."""
    ds, sp = taiwan
    tr, rows = sp.train_idx[:12000], ds.X[sp.holdout_idx[:200]]

    def violations(direction):
        schema = copy.deepcopy(ds.schema)
        schema["derived"] = [{"name": "UTIL1", "op": "ratio", "inputs": ["BILL_AMT1", "LIMIT_BAL"],
                              "monotone": direction}]
        pipe = build_pipeline("lgbm", schema, {}, "none", seed=0).fit(ds.X[tr], ds.y[tr])
        return ice_violations_of(lambda Z: pipe.predict_proba(Z)[:, 1], schema, rows)

    assert set(violations("increasing").values()) == {0}
    assert violations("decreasing")["LIMIT_BAL"] > 0


def test_taiwans_definitions_are_well_formed_and_keep_its_raw_inputs(taiwan):
    ds, _ = taiwan
    check_schema(ds.schema)
    names = [d["name"] for d in ds.schema["derived"]]
    assert len(names) == 12 and names[-1] == "MONTHS_LATE"
    assert [f["name"] for f in ds.schema["features"]] == ds.feature_names  # raw order untouched


def test_a_comparison_row_computed_on_other_inputs_is_computed_again(taiwan, tmp_path,
                                                                     monkeypatch):
    from models import cv
    ds, sp = taiwan
    out = tmp_path / "cmp.json"
    calls = []
    monkeypatch.setattr(cv, "cv_oof", lambda *a, **k: calls.append(a[2]) or {
        "oof": np.where(np.arange(len(sp.train_idx)) % 2, 0.7, 0.2), "fold_auc": [0.5],
        "seconds": 0.0})
    row = {"family": "logreg", "resampler": "none", "params": {}, "monotone": None,
           "auc_mean": 0.5}
    out.write_text(json.dumps({"logreg/none": row}))  # from before the derived features
    cv.compare(ds, sp, out, families=("logreg",), resamplers=("none",))
    assert calls == ["logreg"]
    assert json.loads(out.read_text())["logreg/none"]["derived"] == D.used_by("logreg", ds.schema)
    cv.compare(ds, sp, out, families=("logreg",), resamplers=("none",))
    assert calls == ["logreg"]  # now reused
    edited = dict(ds.schema, derived=[dict(d) for d in ds.schema["derived"]])
    edited["derived"][0]["scale"] = "log"  # same names, another input to a linear model
    cv.compare(dataclasses.replace(ds, schema=edited), sp, out, families=("logreg",), resamplers=("none",))
    assert calls == ["logreg", "logreg"]


def test_the_goals_baseline_stays_untuned_hgb_on_the_raw_features():
    from models.families import untuned_hgb_pipeline
    pipe = untuned_hgb_pipeline(SCHEMA)
    assert [n for n, _ in pipe.steps] == ["prep", "clf"]
    assert pipe.steps[0][1].numeric_idx == (0, 1, 2)  # a, b, c: no derived column
    assert pipe.steps[-1][1].monotonic_cst is None


def test_a_bundle_declares_derived_features_only_when_its_graph_computes_them():
    from models.calibration import ScoreCalibrated
    assert D.computed_by(ScoreCalibrated(build_pipeline("lgbm", SCHEMA, {}, "none")))
    assert not D.computed_by(ScoreCalibrated(build_pipeline("scorecard", SCHEMA, {}, "none")))
    assert not D.computed_by(build_pipeline("hgb", SCHEMA, {}, "none", domain=False))
    assert "derived" not in D.without(SCHEMA) and "derived" in SCHEMA


def test_the_domain_study_pairs_each_candidate_set_against_the_raw_baseline(german, tmp_path,
                                                                         monkeypatch):
    from models import domain_study
    ds, sp = german
    monkeypatch.setitem(domain_study.CANDIDATES, "german", [
        {"name": "amount_per_month", "op": "ratio", "inputs": ["credit_amount",
                                                               "duration_in_month"]},
        {"name": "amount_per_person", "op": "per_person", "monotone": "increasing",
         "inputs": ["credit_amount", "number_of_people_being_liable_to_provide_maintenance_for"]}])
    out = domain_study.run(ds, sp, tmp_path, gates=False)
    assert set(out["arms"]) == {f"{f} / {s}" for f in ("hgb", "lgbm") for s in (
        "raw features", "every candidate", "candidates with a direction")}
    raw, every = out["arms"]["lgbm / raw features"], out["arms"]["lgbm / every candidate"]
    assert raw["derived"] == [] and every["derived"] == ["amount_per_month", "amount_per_person"]
    assert raw["auc_mean"] != every["auc_mean"]  # the candidates reached the model
    assert "ice_violations" in every and "ice_violations" not in out["arms"]["hgb / raw features"]
    md = (tmp_path / "domain_ablation_german.md").read_text()
    assert "| amount_per_month | ratio | credit_amount, duration_in_month | free |" in md
    assert json.loads((tmp_path / "domain_ablation_german.json").read_text())["dataset"] == "german"


def test_the_domain_study_measures_the_schemas_own_definitions_and_the_refused_ones(gmsc):
    from models import domain_study
    ds, _ = gmsc
    sets = domain_study.candidate_sets(ds)
    assert sets["candidates with a direction"] == ds.schema["derived"]  # what GMSC serves
    assert [c["name"] for c in sets["every candidate"]] == [
        "IncomePerPerson", "PastDueTotal", "MonthlyDebt"]
