import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_cli_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "models", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    for cmd in ("train", "evaluate", "export", "explain", "train-default", "compare"):
        assert cmd in out


def test_cli_explain_scores_a_row_file(tmp_path, capsys):
    from models.__main__ import main
    row = {"RevolvingUtilizationOfUnsecuredLines": 0.95, "age": 28,
           "NumberOfTime30-59DaysPastDueNotWorse": 2, "DebtRatio": 0.8, "MonthlyIncome": 2500.0,
           "NumberOfOpenCreditLinesAndLoans": 3, "NumberOfTimes90DaysLate": 1,
           "NumberRealEstateLoansOrLines": 0, "NumberOfTime60-89DaysPastDueNotWorse": 1,
           "NumberOfDependents": 1}
    f = tmp_path / "row.json"
    f.write_text(json.dumps(row))
    main(["explain", "--row", str(f)])
    out = json.loads(capsys.readouterr().out)
    assert out["pd_bps"] > 500 and len(out["reasons"]) >= 1
    assert set(out["contributions"]) == set(row)


def test_cli_rejects_an_invalid_row(tmp_path, capsys):
    from models.__main__ import main
    f = tmp_path / "row.json"
    f.write_text(json.dumps({"age": 40}))
    assert main(["explain", "--row", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m models: error: ") and "RevolvingUtilization" in err


@pytest.mark.parametrize("args, names", [
    (["explain", "--row", "{missing}"], "No such file or directory"),
    (["explain", "--row", "{not_json}"], "is not JSON"),
    (["export", "{missing}"], "No such file or directory"),
    (["compare", "gmsc", "--families", "hgb,nosuch"], "unknown family nosuch"),
    (["train", "gmsc", "--search", "nosuch"], "unknown family nosuch"),
    (["explain", "--study", "--dataset", "gmsc,nosuch"], "unknown dataset nosuch"),
])
def test_cli_bad_arguments_are_one_line_errors_not_tracebacks(tmp_path, args, names):
    not_json = tmp_path / "row.txt"
    not_json.write_text("age=40\n")
    args = [a.format(missing=tmp_path / "nope.json", not_json=not_json) for a in args]
    done = subprocess.run([sys.executable, "-m", "models", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m models: error: ") \
        and names in lines[0], done.stderr


def test_cli_version_prints_the_component_and_the_project_version():
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([sys.executable, "-m", "models", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"models {version}\n"
