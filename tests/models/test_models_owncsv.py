"""`python -m models train --csv` end to end on a CSV no code here has seen (CI budget)."""
import contextlib
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.__main__ import main
from models.owncsv import load_checked, out_of_time, prepare_dirs, time_values
from models.datacheck import DataError
from models.serving import load_bundle, predict_pd, reason_codes, score_row
from models.schema import validate_row

ROOT = Path(__file__).resolve().parents[2]
PROTECTED_TREES = (ROOT / "models" / "default", ROOT / "reports" / "models")


def _tree_digest(paths) -> str:
    h = hashlib.sha256()
    for base in paths:
        for f in sorted(p for p in base.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def trained(unseen_csv, unseen_schema, tmp_path_factory):
    """One CI-budget run with an out-of-time holdout; returns (paths, printed summary, digest
    of models/default and reports/models before the run)."""
    path, _ = unseen_csv
    d = tmp_path_factory.mktemp("owncsv")
    (d / "loans.schema.json").write_text(json.dumps(unseen_schema))
    before = _tree_digest(PROTECTED_TREES)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", "--csv", str(path), "--schema", str(d / "loans.schema.json"),
                   "--time-column", "application_date", "--budget", "ci",
                   "--out", str(d / "bundle"), "--reports", str(d / "reports")])
    assert rc == 0
    return d, json.loads(out.getvalue()), before


def _client_row(schema, raw: pd.Series) -> dict:
    """What a client sends the oracle for one CSV row: numbers (a percent string's number),
    category labels, None for an empty cell."""
    row = {}
    for f in schema["features"]:
        v = raw[f["name"]]
        if pd.isna(v):
            row[f["name"]] = None
        elif f.get("format") == "percent":
            row[f["name"]] = float(str(v).rstrip("%"))
        elif f["type"] == "category":
            row[f["name"]] = str(v)
        else:
            row[f["name"]] = int(v) if f["type"] == "int" else float(v)
    return row


def test_bundle_carries_a_manifest_and_loads_with_serving(trained):
    d, printed, _ = trained
    b = load_bundle(d / "bundle")
    assert printed["bundle_id"] == b.bundle_id == hashlib.sha256(
        (d / "bundle" / "manifest.json").read_bytes()).hexdigest()
    assert printed["model_id"] == b.model_id and b.feature_names[-1] == "utilisation"
    assert json.loads((d / "bundle" / "feature_schema.json").read_text())["name"] == "loans"
    assert main(["manifest", "--check", str(d / "bundle")]) == 0


def test_exported_onnx_scores_raw_csv_rows_with_parity_to_sklearn(trained, unseen_csv,
                                                                  unseen_schema):
    """Refit the selected configuration (deterministic) and score the out-of-time holdout's raw
    CSV rows through the serving API: PDs agree to 1e-5, and with the PDs the exporter stored."""
    from models.train import fit_final
    d, printed, _ = trained
    b = load_bundle(d / "bundle")
    cfg = json.loads((Path(printed["report_dir"]) / "train_config.json").read_text())
    ds, kept = load_checked(unseen_csv[0], b.schema)
    t, label = time_values(b.schema, kept, "application_date")
    sp = out_of_time(ds, t, "application_date", label, folds=3)
    model = fit_final(ds, sp, cfg)
    rows = [_client_row(b.schema, kept.iloc[i]) for i in sp.holdout_idx[:300]]
    X = np.stack([validate_row(b.schema, r) for r in rows])
    assert np.array_equal(X, ds.X[sp.holdout_idx[:300]], equal_nan=True)
    p_skl = model.predict_proba(X)[:, 1]
    p_onnx = predict_pd(b, X).astype(np.float64)
    assert np.max(np.abs(p_onnx - p_skl)) <= 1e-5
    stored = np.load(d / "bundle" / "parity_reference.npz")["p_sklearn"][:300]
    assert np.max(np.abs(stored - p_skl)) <= 1e-9
    scored = [score_row(b, r) for r in rows[:20]]
    assert [s["pd"] for s in scored] == pytest.approx(p_onnx[:20].tolist(), abs=1e-7)
    assert all(300 <= s["score"] <= 850 for s in scored)
    assert any(c for s in scored for c in s["reason_codes"])
    known = set(b.high_codes) | set(b.low_codes) | set(b.missing_codes)
    assert all(c == 0 or c in known for x in X[:20] for c in reason_codes(b, x))


def test_holdout_is_out_of_time_and_the_card_says_so(trained, unseen_csv):
    d, printed, _ = trained
    card = json.loads((d / "bundle" / "model_card.json").read_text())
    td = card["training_data"]
    assert td["split"].startswith("out-of-time holdout: the ")
    assert td["split"] == printed["holdout"]
    assert td["data_file"]["sha256"] == hashlib.sha256(unseen_csv[0].read_bytes()).hexdigest()
    assert td["holdout_rows"] + td["train_rows"] == 3000
    dates = pd.to_datetime(unseen_csv[1]["application_date"])
    cut = dates.sort_values().iloc[td["train_rows"]]
    assert (dates >= cut).sum() == td["holdout_rows"]      # the latest rows, none earlier
    assert card["details"]["retrain_command"].startswith("python -m models train --csv ")
    assert set(card["groups"]) == {"gender", "marital_status", "applicant_age_band"}


def test_pipeline_steps_ran_and_wrote_only_under_the_chosen_dirs(trained):
    d, printed, before = trained
    reports = d / "reports"
    cmp = json.loads((reports / "comparison_loans.json").read_text())
    assert set(cmp) == {"logreg/none", "hgb/none", "hgb/none/tuned"}
    assert json.loads((reports / "search_loans_hgb.json").read_text())["n_trials"] == 2
    summary = json.loads((reports / "summary.json").read_text())["loans"]
    assert summary["model_id"] == printed["model_id"] and summary["untuned_hgb_holdout"]["auc"]
    cfg = json.loads((reports / summary["model_id"] / "train_config.json").read_text())
    # chosen by the one-SE rule on the folds: among those within one SE of the best, and the
    # record says against which reference
    assert cfg["selection"]["reference"] in cmp and cfg["selected_from"] in cfg["selection"]["eligible"]
    assert "-fold CV, one-standard-error rule" in cfg["selection_rule"]
    goals = summary["paired_goals"]  # paired against untuned HGB, not an absolute AUC
    assert len(goals["cv_delta_auc_vs_untuned_hgb"]["folds"]) == 3
    lo, hi = goals["holdout_delta_auc_ci95"]
    assert lo <= goals["holdout_delta_auc"] <= hi and goals["holdout_bootstrap_resamples"] >= 200
    assert "goal_auc" not in summary
    assert 0.6 < printed["holdout_auc"] < 0.9  # a real, not a leaked, signal (leaks left out)
    assert _tree_digest(PROTECTED_TREES) == before


def test_the_committed_default_model_is_never_the_default_target(unseen_csv, unseen_schema,
                                                                 tmp_path, capsys):
    (tmp_path / "s.json").write_text(json.dumps(unseen_schema))
    before = _tree_digest(PROTECTED_TREES[:1])
    assert main(["train", "--csv", str(unseen_csv[0]), "--schema", str(tmp_path / "s.json"),
                 "--out", str(ROOT / "models" / "default"), "--budget", "ci"]) == 2
    err = capsys.readouterr().err
    assert "is the committed default model; pass --force" in err
    assert _tree_digest(PROTECTED_TREES[:1]) == before


def test_existing_output_is_replaced_only_with_force(tmp_path, monkeypatch):
    import models.owncsv as owncsv
    fake_default = tmp_path / "default"
    fake_default.mkdir()
    (fake_default / "reference.json").write_text(json.dumps({"onnx_file": "old-v1.onnx"}))
    (fake_default / "old-v1.onnx").write_bytes(b"x")
    (fake_default / "train_config.json").write_text("{}")
    monkeypatch.setattr(owncsv, "DEFAULT_DIR", fake_default)
    with pytest.raises(DataError, match="committed default model"):
        prepare_dirs(fake_default, tmp_path / "r", force=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="exists and is not empty"):
        prepare_dirs(other, tmp_path / "r", force=False)
    assert not (tmp_path / "r").exists()
    prepare_dirs(fake_default, tmp_path / "r", force=True)
    assert sorted(p.name for p in fake_default.iterdir()) == ["reference.json"]


def test_flags_for_a_csv_are_refused_for_a_registered_data_set(capsys):
    assert main(["train", "gmsc", "--time-column", "x", "--budget", "ci"]) == 2
    assert "--time-column, --budget only apply with --csv" in capsys.readouterr().err


def test_bundle_can_be_registered_with_its_training_csv(trained, unseen_csv, tmp_path):
    """ModelRegistry's commitments: model id = bundle id, and the training-data root rebuilt
    from the CSV the card names (refused without it, or with an edited copy)."""
    from oracle.merkle import MerkleTree
    from oracle.provenance import ProvenanceError, model_commitments, training_row_leaf
    d, printed, _ = trained
    c = model_commitments(d / "bundle", data_csv=unseen_csv[0])
    assert c.model_id.hex() == printed["bundle_id"]
    card = json.loads((d / "bundle" / "model_card.json").read_text())
    ds, kept = load_checked(unseen_csv[0], load_bundle(d / "bundle").schema)
    dates = pd.to_datetime(kept["application_date"])
    train = np.flatnonzero(dates < dates.sort_values().iloc[card["training_data"]["train_rows"]])
    assert len(train) == card["training_data"]["train_rows"]
    expected = MerkleTree.build([training_row_leaf(int(i), ds.X[i], int(ds.y[i]))
                                 for i in train]).root
    assert c.dataset_root == expected
    with pytest.raises(ProvenanceError, match="give that CSV"):
        model_commitments(d / "bundle")
    edited = tmp_path / "loans.csv"
    edited.write_text(unseen_csv[0].read_text().replace("2019-01-0", "2019-01-1", 1))
    with pytest.raises(ProvenanceError, match="is not the file the model was trained on"):
        model_commitments(d / "bundle", data_csv=edited)


@pytest.mark.parametrize("argv, expected", [
    (["train"], "train needs a data set (gmsc, taiwan, german) or --csv FILE --schema FILE"),
    (["train", "gmsc", "--csv", "x.csv", "--schema", "s.json"], "give either a data set"),
    (["train", "--csv", "x.csv"], "--csv and --schema go together"),
    (["train", "--csv", "x.csv", "--schema", "s.json", "--families", "hgb,nosuch"],
     "unknown family nosuch"),
    (["train", "--csv", "x.csv", "--schema", "s.json", "--folds", "1"], "need 2 <= --folds"),
])
def test_train_argument_mistakes_are_one_line(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]
