"""What a fair-lending examiner checks of the served model (issue 13): monotone where the schema
says so, the elderly rule, reasons with a direction and against the right applicants, the gates,
and that a bundle without passed gates is never served."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models import gates
from models import serving as S
from models.families import build_pipeline, monotonic_cst
from models.manifest import write as write_manifest
from models.reasons import TABLE_FILE, published_table, reason_table
from models.schema import SchemaError, check_schema, load_schema

DEFAULT = Path(S.__file__).resolve().parent / "default"


@pytest.fixture(scope="module")
def bundle():
    return S.load_bundle(DEFAULT)


def _col(bundle, name):
    return bundle.feature_names.index(name)


def test_more_90_day_lates_never_lower_the_served_pd(bundle, gmsc):
    # the review: adding 90-day-late payments lowered the PD by more than 0.02 in 129 of 300 rows
    ds, sp = gmsc
    j = _col(bundle, "NumberOfTimes90DaysLate")
    worse = 0
    for x in ds.X[sp.holdout_idx[:300]]:
        curve = []
        for v in (0, 1, 2, 3, 5, 10):
            z = x.copy()
            z[j] = v
            curve.append(S.served_pd(bundle, z))
        worse += bool(np.any(np.diff(curve) < -1e-6))
    assert worse == 0


def test_income_is_a_reason_only_when_it_is_below_the_reference(bundle, gmsc):
    # the review: 209 of 1,120 "Monthly income level" reasons went to above-median incomes
    ds, sp = gmsc
    j = _col(bundle, "MonthlyIncome")
    low, missing = bundle.low_codes[j], bundle.missing_codes[j]
    assert bundle.high_codes[j] == 0  # income is declared decreasing: high income never counts
    given = 0
    for x in ds.X[sp.holdout_idx[:1500]]:
        codes = S.reason_codes(bundle, x)
        if low in codes:
            given += 1
            assert x[j] < bundle.reference[j]
        if missing in codes:
            assert np.isnan(x[j])
    assert given > 20


def test_an_elderly_applicant_is_scored_at_the_most_favourable_age_and_age_is_no_reason(bundle,
                                                                                       gmsc):
    ds, sp = gmsc
    j = bundle.elderly.index
    age_codes = {bundle.high_codes[j], bundle.low_codes[j]} - {0}
    Xh = ds.X[sp.holdout_idx]
    old = Xh[Xh[:, j] >= 62][:150]
    assert len(old) == 150
    helped = 0
    for x in old:
        batch = np.repeat(x.reshape(1, -1), len(bundle.elderly.grid), axis=0)
        batch[:, j] = bundle.elderly.grid
        best = float(S.predict_pd(bundle, batch).min())
        own = float(S.predict_pd(bundle, x)[0])
        served = S.served_pd(bundle, x)
        assert served == pytest.approx(min(best, own), abs=1e-7)
        assert not age_codes & set(S.reason_codes(bundle, x))
        helped += served < own
    assert helped > 0  # the rule changes something for some elderly applicants


def test_the_elderly_rule_leaves_younger_applicants_alone(bundle, gmsc):
    ds, sp = gmsc
    j = bundle.elderly.index
    Xh = ds.X[sp.holdout_idx]
    young = Xh[Xh[:, j] < 62][:100]
    for x in young:
        assert S.served_pd(bundle, x) == float(S.predict_pd(bundle, x)[0])
    assert any(set(S.reason_codes(bundle, x)) & {bundle.high_codes[j], bundle.low_codes[j]}
               for x in Xh[Xh[:, j] < 40][:300])  # age may still count for younger applicants


def test_reference_row_is_the_applicants_at_or_just_above_the_cutoff():
    ref = json.loads((DEFAULT / "reference.json").read_text())
    how = ref["reference_rows"]
    assert how["cutoff_score"] == S.score_from_pd(how["cutoff_pd_bps"])
    assert how["score_range"][0] >= how["cutoff_score"] and how["rows"] >= 500


def test_the_committed_model_passed_every_gate(bundle):
    g = json.loads((DEFAULT / "reference.json").read_text())["gates"]
    assert g["passed"] and not g["failures"]
    assert set(g["ice_monotonicity_violations"]) == {
        f["name"] for f in bundle.schema["features"] if f.get("monotone")}
    assert g["elderly_rule"]["applicable"] and g["elderly_rule"]["rows"] > 0
    assert g["declined_without_reason"]["declined"] > 0


def _copy_with_gates(tmp_path, mutate):
    d = tmp_path / "b"
    shutil.copytree(DEFAULT, d)
    ref = json.loads((d / "reference.json").read_text())
    mutate(ref)
    (d / "reference.json").write_text(json.dumps(ref))
    write_manifest(d)
    return d


def test_a_bundle_that_failed_its_gates_is_not_served(tmp_path):
    def fail(ref):
        ref["gates"]["passed"] = False
        ref["gates"]["failures"] = ["ICE monotonicity: 3 rows"]
    d = _copy_with_gates(tmp_path, fail)
    with pytest.raises(S.BundleIntegrityError, match="ICE monotonicity: 3 rows"):
        S.load_bundle(d)
    d2 = _copy_with_gates(tmp_path / "2", lambda ref: ref.pop("gates"))
    with pytest.raises(S.BundleIntegrityError, match="no gate results"):
        S.load_bundle(d2)


def test_a_bundle_whose_schema_has_the_elderly_rule_needs_its_grid(tmp_path):
    d = _copy_with_gates(tmp_path, lambda ref: ref.pop("elderly_rule"))
    with pytest.raises(S.BundleIntegrityError, match="elderly_rule"):
        S.load_bundle(d)


def test_a_model_against_the_declared_direction_fails_the_export(gmsc, tmp_path):
    # a schema that (wrongly) declares PD falls with 90-day lates; an unconstrained logistic
    # model learns the opposite: the ICE gate catches it and the export refuses the bundle
    from dataclasses import replace

    from models.train import GateFailure, export_bundle, fit_final
    ds, sp = gmsc
    schema = json.loads(json.dumps(ds.schema))
    for f in schema["features"]:
        if f["name"] == "NumberOfTimes90DaysLate":
            f["monotone"] = "decreasing"
    bad = replace(ds, schema=schema)
    cfg = {"family": "logreg", "calibration": "none", "max_train_rows": 5000}
    model = fit_final(bad, sp, cfg)
    with pytest.raises(GateFailure, match="NumberOfTimes90DaysLate"):
        export_bundle(model, bad, sp, cfg, tmp_path / "bundle")
    with pytest.raises(S.BundleIntegrityError, match="gates"):
        S.load_bundle(tmp_path / "bundle")


def test_gate_counts_a_declined_applicant_without_reason(bundle, gmsc, monkeypatch):
    ds, sp = gmsc
    X = ds.X[sp.holdout_idx[:400]]
    monkeypatch.setattr(S, "reason_codes", lambda b, x: (0, 0, 0, 0))
    monkeypatch.setattr(gates, "DECLINE_ROWS", 400)
    got = gates.declined_without_reason(bundle, X, 2500)
    assert got["declined"] > 0 and got["without_reason"] == got["declined"]


def test_monotonic_cst_follows_the_tree_input_order():
    schema = {"target": "y", "features": [
        {"name": "a", "type": "float", "monotone": "increasing", "missing": "impute"},
        {"name": "c", "type": "category", "categories": ["x", "y"]},
        {"name": "b", "type": "int", "monotone": "decreasing"},
        {"name": "d", "type": "float"}]}
    check_schema(schema)
    # numeric a, b, d; then a's missing indicator; then the category code
    assert monotonic_cst(schema) == [1, -1, 0, 0, 0]
    clf = build_pipeline("hgb", schema).steps[-1][1]
    assert list(clf.monotonic_cst) == [1, -1, 0, 0, 0]
    assert build_pipeline("rf", schema).steps[-1][1].monotonic_cst == [1, -1, 0, 0, 0]


@pytest.mark.parametrize("change, message", [
    (lambda f: f.update(monotone="upwards"), "monotone must be one of"),
    (lambda f: f.update(type="category", categories=["a"], monotone="increasing"),
     "no order to be monotone"),
    (lambda f: f.update(reasons={"sideways": "x"}), "reasons must map"),
    (lambda f: f.update(elderly_from=62), "elderly_from needs an int age feature"),
    (lambda f: f.update(scale="Log"), "scale must be 'log'"),  # a typo would drop the log silently
    (lambda f: f.update(type="category", categories=["a"], scale="log"), "scale must be 'log'"),
])
def test_schema_refuses_bad_fair_lending_declarations(change, message):
    schema = {"target": "y", "features": [{"name": "x", "type": "float"}]}
    change(schema["features"][0])
    with pytest.raises(SchemaError, match=message):
        check_schema(schema)


def test_reason_texts_say_what_and_which_way():
    table = reason_table(load_schema("gmsc"))
    texts = table["text"]
    assert texts[str(table["high"]["NumberOfTimes90DaysLate"])] == \
        "Too many payments 90 or more days late"
    assert texts[str(table["low"]["MonthlyIncome"])] == "Income too low"
    assert "MonthlyIncome" not in table["high"]  # declared decreasing
    assert {"high", "low"} <= {k for k in ("high", "low") if "DebtRatio" in table[k]}
    assert len(set(int(c) for c in texts)) == len(texts)  # one text per code


def test_published_reason_code_table_is_generated_from_the_schemas():
    assert json.loads(TABLE_FILE.read_text()) == published_table(), \
        "run python -m models reason-codes"
