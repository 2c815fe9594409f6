import json

import numpy as np
import pandas as pd
import pytest

from models import leakage
from models.__main__ import main
from models.data import load_csv
from models.datacheck import DataError
from models.infer import infer


def _feature(schema, name):
    return next(f for f in schema["features"] if f["name"] == name)


def test_draft_types_ranges_categories_and_missing_policy(unseen_schema, unseen_csv):
    s = unseen_schema
    _, frame = unseen_csv
    assert s["target"] == "loan_outcome" and s["positive"] == ["defaulted", "written off"]
    assert [f["name"] for f in s["features"]] == [
        "credit_limit", "education_level", "applicant_age", "repayment_status_m1",
        "repayment_status_m2", "repayment_status_m3", "statement_balance", "amount_paid",
        "utilisation"]
    edu = _feature(s, "education_level")
    assert edu["type"] == "category" and edu["unknown"] == "reject"
    assert edu["categories"] == sorted(frame["education_level"].unique())
    age = _feature(s, "applicant_age")
    assert age["type"] == "int" and age["min"] == 0 and age["max"] == frame["applicant_age"].max()
    assert age["elderly_from"] == 62  # Regulation B's elderly rule, on by default for an age
    assert "monotone" in s["review"]["fair_lending"]
    status = _feature(s, "repayment_status_m1")
    assert status["min"] == frame["repayment_status_m1"].min() < 0   # negatives kept as seen
    assert _feature(s, "statement_balance")["missing"] == "impute"   # it has empty cells
    assert _feature(s, "credit_limit")["missing"] == "reject"
    util = _feature(s, "utilisation")
    assert util["type"] == "float" and util["format"] == "percent"
    assert _feature(s, "amount_paid").get("scale") == "log"           # heavy-tailed amount
    assert "scale" not in status


def test_draft_leaves_out_identifier_protected_attributes_and_dates(unseen_schema):
    s = unseen_schema
    ex = s["review"]["excluded"]
    assert "identifier" in ex["client_ref"]
    assert {g["column"] for g in s["groups"]} == {"gender", "marital_status", "applicant_age"}
    assert "protected" in ex["gender"] and "protected" in ex["marital_status"]
    assert s["dates"]["application_date"] == {"format": "%Y-%m-%d"}
    assert s["review"]["time_column_suggestion"] == "application_date"


def test_planted_post_outcome_columns_are_flagged_each_for_its_reason(unseen_schema):
    sus = unseen_schema["review"]["leakage_suspects"]
    assert set(sus) == {"recovery_amount", "charged_off_on", "months_in_arrears_12m"}
    assert any("name contains 'recover'" in r for r in sus["recovery_amount"])
    # the arrears count has an innocent name: only its separating power gives it away
    assert len(sus["months_in_arrears_12m"]) == 1 and "AUC 1.000" in sus["months_in_arrears_12m"][0]
    assert any("dated after application_date" in r for r in sus["charged_off_on"])
    assert not {"recovery_amount", "months_in_arrears_12m"} & {
        f["name"] for f in unseen_schema["features"]}


def test_draft_loads_and_reads_its_own_csv_without_dropping_a_row(unseen_schema, unseen_csv,
                                                                    tmp_path):
    path, frame = unseen_csv
    (tmp_path / "s.json").write_text(json.dumps(unseen_schema))
    ds = load_csv(path, tmp_path / "s.json")
    assert ds.n_dropped == 0 and ds.X.shape == (len(frame), 9)
    assert ds.y.sum() == frame["loan_outcome"].isin(["defaulted", "written off"]).sum()
    j = ds.feature_names.index("utilisation")
    assert ds.X[:, j].tolist() == pytest.approx(
        [float(v.rstrip("%")) for v in frame["utilisation"]], rel=1e-6)


def test_category_auc_is_cross_fitted_so_an_identifier_cannot_memorise_the_target():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.2).astype(int)
    ids = pd.Series([f"c{i}" for i in range(2000)])
    assert leakage.category_auc(ids, y) < 0.6
    assert leakage.category_auc(pd.Series(np.where(y == 1, "bad", "good")), y) == 1.0


def test_leaky_names_are_matched_whatever_the_separators():
    assert leakage.name_flag("Collection_Recovery_Fee") == "recover"
    assert leakage.name_flag("chargedOffDate") == "chargedoff"
    assert leakage.name_flag("total_rec_prncp") == "totalrec"
    assert leakage.name_flag("annual_income") is None


def test_infer_errors_name_the_column(unseen_csv):
    _, frame = unseen_csv
    with pytest.raises(DataError, match="target column 'outcome' is not in loans.csv"):
        infer(frame.copy(), "outcome", ["defaulted"], name="x", source="loans.csv")
    with pytest.raises(DataError, match=r"has one class: all 3,000 rows are negative"):
        infer(frame.copy(), "loan_outcome", ["default"], name="x")
    with pytest.raises(DataError, match="only 12 of 2,352 rows are positive"):
        infer(pd.concat([frame[frame.loan_outcome == "repaid"],
                         frame[frame.loan_outcome == "defaulted"].iloc[:12]]),
              "loan_outcome", ["defaulted"], name="x")


def test_cli_writes_the_draft_and_warns_on_stderr(unseen_csv, tmp_path, capsys):
    path, _ = unseen_csv
    out = tmp_path / "draft.json"
    assert main(["schema", "infer", str(path), "--target", "loan_outcome", "--positive",
                 "defaulted,written off", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == str(out)
    draft = json.loads(out.read_text())
    assert draft["review"]["inferred_from"]["rows"] == 3000
    warned = [ln for ln in cap.err.splitlines() if "leakage suspect" in ln]
    assert len(warned) == 3 and all(ln.startswith("python -m models: warning: ") for ln in warned)
    # an existing draft is not overwritten without --force
    before = out.read_bytes()
    assert main(["schema", "infer", str(path), "--target", "loan_outcome", "--positive",
                 "defaulted", "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == before


def test_cli_infer_bad_target_is_one_line(unseen_csv, tmp_path, capsys):
    path, _ = unseen_csv
    out = tmp_path / "draft.json"
    assert main(["schema", "infer", str(path), "--target", "nope", "--positive", "1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "target column 'nope' is not in loans.csv (3,000 rows" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("name, protected", [
    ("gender", True), ("MaritalStatus", True), ("foreign_worker", True), ("applicant_race", True),
    ("personal_status_and_sex", True), ("sexton_score", False), ("grace_period_days", False),
    ("credit_limit", False)])
def test_protected_attributes_are_matched_by_whole_words(name, protected):
    from models.infer import _protected
    assert _protected(name) is protected
