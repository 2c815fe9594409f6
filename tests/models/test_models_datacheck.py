"""Bad data for `python -m models train --csv`: one line naming the column and the row count,
exit code 2, and nothing written."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.__main__ import main
from models.owncsv import load_checked

ROOT = Path(__file__).resolve().parents[2]


def _edit(frame, **cols):
    df = frame.copy()
    for col, (rows, value) in cols.items():
        df[col] = df[col].astype(object)
        df.loc[rows, col] = value
    return df


def _cases(frame):
    bad_rows = [3, 50, 51, 400, 2000, 2500, 2999]
    few = frame[(frame.loan_outcome == "repaid")
                | (frame.index.isin(frame.index[frame.loan_outcome != "repaid"][:12]))]
    return {
        "unknown category": (_edit(frame, education_level=(bad_rows, "doctorate")),
                             "column 'education_level': 7 of 3,000 rows have categories not in "
                             "the schema ('doctorate')"),
        "unparseable": (_edit(frame, utilisation=([1, 2, 3, 4], "about 40%")),
                        "column 'utilisation': 4 of 3,000 rows are not numbers or percent "
                        "strings (e.g. 'about 40%')"),
        "empty where rejected": (_edit(frame, credit_limit=([5, 6, 7], None)),
                                 "column 'credit_limit': 3 of 3,000 rows are empty and its "
                                 "missing policy is 'reject'"),
        "out of range": (_edit(frame, credit_limit=([8, 9], -5)),
                         "column 'credit_limit': 2 of 3,000 rows are outside the schema's range "
                         "[0, 800000] (seen -5 to -5)"),
        "not whole": (_edit(frame, applicant_age=([8, 9], 30.5)),
                      "column 'applicant_age': 2 of 3,000 rows are not whole numbers"),
        "one class": (frame.assign(loan_outcome="repaid"),
                      "target column 'loan_outcome' has one class: all 3,000 rows are negative"),
        "too few": (few, f"target column 'loan_outcome': only 12 of {len(few):,} rows are "
                         "positive"),
        "empty target": (_edit(frame, loan_outcome=([10, 11], None)),
                         "target column 'loan_outcome': 2 of 3,000 rows have no value"),
        "missing target column": (frame.drop(columns="loan_outcome"),
                                  "target column 'loan_outcome' named in the schema is not in "
                                  "data.csv (3,000 rows"),
        "missing feature column": (frame.drop(columns="amount_paid"),
                                   "column 'amount_paid' named in the schema is not in data.csv "
                                   "(3,000 rows"),
        "two bad columns": (_edit(frame, education_level=(bad_rows, "doctorate"),
                                  credit_limit=([8, 9], -5)),
                            "column 'credit_limit': 2 of 3,000 rows are outside"),
    }


@pytest.fixture(scope="module")
def schema_file(unseen_schema, tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "loans.schema.json"
    path.write_text(json.dumps(unseen_schema))
    return path


@pytest.mark.parametrize("case", ["unknown category", "unparseable", "empty where rejected",
                                  "out of range", "not whole", "one class", "too few",
                                  "empty target", "missing target column",
                                  "missing feature column", "two bad columns"])
def test_bad_data_is_one_line_naming_column_and_rows_and_writes_nothing(
        case, unseen_csv, schema_file, tmp_path, capsys):
    df, expected = _cases(unseen_csv[1])[case]
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "out"
    assert main(["train", "--csv", str(tmp_path / "data.csv"), "--schema", str(schema_file),
                 "--out", str(out / "bundle"), "--reports", str(out / "reports")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m models: error: "), err
    assert expected in err[0]
    if case == "two bad columns":
        assert "(and 1 more column with problems: credit_limit)" not in err[0]
        assert err[0].endswith("(and 1 more column with problems: education_level)")
    assert not out.exists()


@pytest.mark.parametrize("col, cells, expected", [
    ("application_date", ["2020-01-01"] * 3000,
     "time column 'application_date' has one value in all 3,000 rows"),
    ("application_date", ["not a date", "2020-13-45"],
     "time column 'application_date': 2 of 3,000 rows cannot be read"),
    ("application_date", [None, None, None], "time column 'application_date': 3 of 3,000 rows "
                                             "are empty"),
])
def test_bad_time_column_is_one_line(col, cells, expected, unseen_csv, schema_file, tmp_path,
                                     capsys):
    df = _edit(unseen_csv[1], **{col: (list(range(len(cells))), cells)})
    df.to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", "--csv", str(tmp_path / "data.csv"), "--schema", str(schema_file),
                 "--time-column", col, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and not (tmp_path / "b").exists()


def test_time_column_that_leaves_a_side_without_defaults_is_refused(unseen_csv, schema_file,
                                                                    tmp_path, capsys):
    df = unseen_csv[1].copy()
    # every default applied early: the latest 20% hold none
    df["application_date"] = df["loan_outcome"].map(
        lambda o: "2019-01-01" if o != "repaid" else None)
    df.loc[df.application_date.isna(), "application_date"] = "2020-06-01"
    df.loc[df.index[df.loan_outcome == "repaid"][:400], "application_date"] = "2019-01-01"
    df.to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", "--csv", str(tmp_path / "data.csv"), "--schema", str(schema_file),
                 "--time-column", "application_date", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "the out-of-time holdout (1,940 rows) has only 0 positive rows" in err


def test_bad_schema_and_missing_files_are_one_line(unseen_csv, schema_file, tmp_path, capsys):
    path, _ = unseen_csv
    (tmp_path / "s.json").write_text("{not json")
    (tmp_path / "t.json").write_text(json.dumps({"name": "x", "target": "loan_outcome",
                                                 "features": []}))
    for csv, schema, expected in (
            (path, tmp_path / "s.json", "s.json is not JSON"),
            (path, tmp_path / "t.json", "schema needs a non-empty 'features' list"),
            (path, tmp_path / "none.json", "No such file"),
            (tmp_path / "none.csv", schema_file, "none.csv: no such file")):
        argv = ["train", "--csv", str(csv), "--schema", str(schema), "--out",
                str(tmp_path / "b")]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0]


def test_a_real_process_exits_2_without_a_traceback(unseen_csv, schema_file, tmp_path):
    df, expected = _cases(unseen_csv[1])["unknown category"]
    df.to_csv(tmp_path / "data.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "models", "train", "--csv",
                           str(tmp_path / "data.csv"), "--schema", str(schema_file), "--out",
                           str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"python -m models: error: {expected}; add them "
                                                "to its categories or set \"unknown\": "
                                                "\"missing\" with \"missing\": \"impute\""]


def test_drop_invalid_drops_exactly_the_rows_the_checks_name(unseen_csv, unseen_schema,
                                                             tmp_path):
    df, _ = _cases(unseen_csv[1])["two bad columns"]
    df.to_csv(tmp_path / "data.csv", index=False)
    ds, kept = load_checked(tmp_path / "data.csv", unseen_schema, drop_invalid=True)
    assert ds.n_dropped == 9 and ds.drop_reasons == {"education_level": 7, "credit_limit": 2}
    assert len(kept) == len(ds.y) == 2991 and "doctorate" not in set(kept.education_level)
