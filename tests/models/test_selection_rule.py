"""The one-standard-error selection rule: paired on folds, prefers the simpler monotone model
only when the folds cannot tell it from the best, never on the holdout."""
import pytest

from models.selection_rule import choose, paired


def row(family, folds, resampler="none", params=None):
    return {"family": family, "resampler": resampler, "params": params or {},
            "fold_auc": folds, "auc_mean": sum(folds) / len(folds)}


def test_paired_difference_and_its_standard_error():
    mean, se = paired([0.80, 0.82, 0.81], [0.79, 0.82, 0.80])
    assert mean == pytest.approx(-0.02 / 3)
    # differences -0.01, 0, -0.01: sd = 0.005774, se = sd / sqrt(3)
    assert se == pytest.approx(0.0057735 / 3 ** 0.5, rel=1e-4)
    with pytest.raises(ValueError):
        paired([0.8], [0.8])


def test_a_simpler_monotone_model_within_one_se_of_the_best_is_chosen():
    results = {
        "mlp/smote": row("mlp", [0.861, 0.852, 0.869, 0.858, 0.860], "smote"),
        # fold by fold a little below, by less than the noise of the differences
        "hgb/none": row("hgb", [0.860, 0.854, 0.866, 0.859, 0.860]),
        "scorecard/none": row("scorecard", [0.850, 0.841, 0.858, 0.846, 0.849]),
    }
    key, rec = choose(results)
    assert rec["reference"] == "mlp/smote"
    assert key == "hgb/none"
    assert not rec["paired"]["scorecard/none"]["within_one_se"]  # consistently ~0.011 lower


def test_the_best_stays_when_every_other_is_consistently_worse():
    results = {
        "hgb/none": row("hgb", [0.86, 0.85, 0.87, 0.86, 0.86]),
        "logreg/none": row("logreg", [0.85, 0.84, 0.86, 0.85, 0.85]),
    }
    assert choose(results)[0] == "hgb/none"


def test_ties_go_to_no_resampling_then_default_parameters():
    folds = [0.80, 0.81, 0.82]
    results = {"hgb/nia/tuned": row("hgb", folds, "nia", {"learning_rate": 0.05}),
               "hgb/nia": row("hgb", folds, "nia"),
               "hgb/none": row("hgb", [0.801, 0.808, 0.82])}  # -0.0003 +- 0.0009
    key, rec = choose(results)
    assert key == "hgb/none"
    assert rec["eligible"] == ["hgb/none", "hgb/nia", "hgb/nia/tuned"]


def test_nothing_to_choose_from_is_an_error():
    with pytest.raises(ValueError):
        choose({})


def test_a_comparison_row_is_reused_only_under_the_same_constraints(german, tmp_path, monkeypatch):
    """Rows computed before the schema's monotone directions were applied (no `monotone`
    record) or under other directions are computed again, not carried into the table."""
    import json

    from models import cv

    ds, sp = german
    calls = []
    real = cv.cv_oof
    monkeypatch.setattr(cv, "cv_oof", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    out = tmp_path / "cmp.json"
    rows = cv.compare(ds, sp, out, families=("hgb", "logreg"), resamplers=("none",))
    assert calls == ["hgb", "logreg"]
    assert rows["hgb/none"]["monotone"] == cv.constraints("hgb", ds.schema)
    assert rows["logreg/none"]["monotone"] is None
    cv.compare(ds, sp, out, families=("hgb", "logreg"), resamplers=("none",))
    assert calls == ["hgb", "logreg"]  # nothing changed: both reused
    stale = json.loads(out.read_text())
    del stale["hgb/none"]["monotone"]  # as written before issue 13
    out.write_text(json.dumps(stale))
    cv.compare(ds, sp, out, families=("hgb", "logreg"), resamplers=("none",))
    assert calls == ["hgb", "logreg", "hgb"]


def _stub_training(monkeypatch, fails: dict[str, str]):
    """train_dataset with the comparison, baseline and goals stubbed: the export of each
    configuration in ``fails`` is refused, by the gates or by the parity check."""
    from models import select
    from models.train import GateFailure, ParityFailure, TooLarge
    results = {
        "lgbm/none": row("lgbm", [0.861, 0.852, 0.869, 0.858, 0.860]),
        "lgbm/nia": row("lgbm", [0.862, 0.852, 0.868, 0.859, 0.860], "nia"),
        "mlp/none": row("mlp", [0.840, 0.831, 0.850, 0.838, 0.841]),  # not within one SE
        "logreg/none": row("logreg", [0.830, 0.821, 0.840, 0.828, 0.831]),  # nor this
    }
    for r in results.values():
        r.update(best_calibration="sigmoid", brier_crossfit={"sigmoid": 0.05}, auc_sd=0.006)
    tried = []

    def export(cfg, outdir, cv, ds, splits, reports, n_boot):
        key = cfg["selected_from"]
        tried.append(key)
        if fails.get(key) == "gates":
            raise GateFailure("gates", [f"reason stability: {key}"])
        if fails.get(key) == "parity":
            raise ParityFailure("parity", ["ONNX parity 2.07e-01 > 1e-05"])
        if fails.get(key) == "size":
            raise TooLarge("size", ["ONNX file 3,288,440 bytes > 2,000,000"])
        return {"card": {"model_id": "m"}, "evaluation": {k: 0.5 for k in (
            "auc", "auc_ci95", "brier", "ks", "h_measure", "ece")}, "export": {}}

    monkeypatch.setattr(select, "compare", lambda *a, **k: results)
    monkeypatch.setattr(select, "comparison_markdown", lambda *a, **k: "")
    monkeypatch.setattr(select, "train_and_export", export)
    monkeypatch.setattr(select, "holdout_baseline", lambda *a: {"brier": 0.5})
    monkeypatch.setattr(select, "measure_goals", lambda *a, **k: {})
    return tried


def test_a_configuration_failing_the_gates_gives_way_to_the_next_eligible(german, tmp_path,
                                                                          monkeypatch):
    from models import select
    ds, sp = german
    tried = _stub_training(monkeypatch, fails={"lgbm/none": "gates"})
    cfg, _ = select.train_dataset(ds, sp, search_families=(), reports=tmp_path)
    assert tried == ["lgbm/none", "lgbm/nia"] and cfg["selected_from"] == "lgbm/nia"
    assert cfg["selection"]["refused"] == [{
        "configuration": "lgbm/none", "calibration": "sigmoid",
        "failures": ["reason stability: lgbm/none"]}]
    assert "outside_one_se" not in cfg["selection"]


def test_when_no_one_se_configuration_may_serve_the_best_mean_that_may_is_taken(
        german, tmp_path, monkeypatch):
    from models import select
    ds, sp = german
    tried = _stub_training(monkeypatch, fails={"lgbm/none": "gates", "lgbm/nia": "parity"})
    cfg, _ = select.train_dataset(ds, sp, search_families=(), reports=tmp_path)
    # the rule's two, then the rest by mean CV AUC: mlp (0.840) before logreg (0.830)
    assert tried == ["lgbm/none", "lgbm/nia", "mlp/none"]
    assert cfg["selected_from"] == "mlp/none" and cfg["selection"]["outside_one_se"] is True
    assert [r["failures"] for r in cfg["selection"]["refused"]] == [
        ["reason stability: lgbm/none"], ["ONNX parity 2.07e-01 > 1e-05"]]


def test_a_configuration_too_large_to_serve_gives_way_and_is_recorded(german, tmp_path,
                                                                      monkeypatch):
    """A file over the size cap is a refusal like a gate's (it crashed the whole run before,
    GMSC's tuned CatBoost at 3.3 MB), and no other calibration is tried for it."""
    from models import select
    ds, sp = german
    tried = _stub_training(monkeypatch, fails={"lgbm/none": "size"})
    cfg, _ = select.train_dataset(ds, sp, search_families=(), reports=tmp_path)
    assert tried == ["lgbm/none", "lgbm/nia"] and cfg["selected_from"] == "lgbm/nia"
    assert cfg["selection"]["refused"][0]["failures"] == ["ONNX file 3,288,440 bytes > 2,000,000"]


def test_an_export_over_the_size_cap_is_refused_and_leaves_nothing(german, tmp_path, monkeypatch):
    from models import train
    ds, sp = german
    monkeypatch.setattr(train, "MAX_ONNX_BYTES", 1000)
    cfg = {"dataset": ds.name, "family": "logreg", "params": {}, "resampler": "none",
           "calibration": "none", "seed": 0, "version": "1"}
    out = tmp_path / "bundle"
    with pytest.raises(train.TooLarge, match="bytes > 1,000"):
        train.train_and_export(cfg, outdir=out, ds=ds, splits=sp, reports=tmp_path / "r")
    assert not out.exists() and not (tmp_path / ".bundle.staging").exists()


def _goals(calibration_met: bool, slope: float) -> dict:
    return {"bundle_id": None, "calibration_slope": slope, "calibration_intercept": -0.05,
            "holdout_delta_auc_ci95": [-0.001, 0.003],
            "goals": {"holdout_noninferiority": {"target": "CI95 lower bound > -0.002",
                                                 "met": True},
                      "calibration": {"target": "slope 0.95-1.05, |intercept| < 0.1",
                                      "met": calibration_met}}}


def _served(tmp_path, ds, goals: dict):
    """A served bundle in models/default's place and its summary entry (the champion)."""
    import hashlib
    import json
    out = tmp_path / "default"
    out.mkdir()
    (out / "manifest.json").write_bytes(b'{"champion": 1}\n')
    (out / "model.onnx").write_bytes(b"champion")
    (out / "train_config.json").write_text(json.dumps({"family": "hgb", "selected_from": "hgb/none"}))
    goals["bundle_id"] = hashlib.sha256(b'{"champion": 1}\n').hexdigest()
    (tmp_path / "summary.json").write_text(json.dumps(
        {ds.name: {"model_id": "champion", "family": "hgb", "paired_goals": goals}}))
    return out


@pytest.mark.parametrize("challenger_calibrated", [False, True])
def test_a_challenger_failing_holdout_acceptance_the_champion_meets_is_not_served(
        german, tmp_path, monkeypatch, challenger_calibrated):
    """The holdout's acceptance goals, read once: a new model whose calibration fails where the
    served one's passes does not replace it (GMSC's CatBoost: slope 0.930 against LightGBM's
    0.959); one that passes does."""
    import json
    from models import select
    ds, sp = german
    out = _served(tmp_path, ds, _goals(True, 0.96))
    _stub_training(monkeypatch, fails={})

    def export(cfg, outdir, **kw):  # the challenger's export replaces the bundle's files
        (outdir / "model.onnx").write_bytes(b"challenger")
        (tmp_path / "challenger").mkdir()
        (tmp_path / "challenger" / "model_card.md").write_text("# Model card: x\n\nbody\n")
        (tmp_path / "challenger" / "model_card.json").write_text('{"model_id": "challenger"}')
        (outdir / "manifest.json").write_bytes(b'{"challenger": 1}\n')
        return {"card": {"model_id": "challenger"}, "evaluation": {k: 0.5 for k in (
            "auc", "auc_ci95", "brier", "ks", "h_measure", "ece")}, "export": {}}

    monkeypatch.setattr(select, "train_and_export", export)
    monkeypatch.setattr(select, "measure_goals", lambda *a, **k: _goals(
        challenger_calibrated, 0.99 if challenger_calibrated else 0.93))
    cfg, entry = select.train_dataset(ds, sp, search_families=(), reports=tmp_path, outdir=out)
    summary = json.loads((tmp_path / "summary.json").read_text())[ds.name]
    assert summary == entry and not (tmp_path / ".default.champion").exists()
    if challenger_calibrated:
        assert entry["model_id"] == "challenger" and (out / "model.onnx").read_bytes() == b"challenger"
        assert cfg["selected_from"] == "lgbm/none" and "challengers" not in entry
        return
    assert entry["model_id"] == "champion" and (out / "model.onnx").read_bytes() == b"champion"
    assert (out / "manifest.json").read_bytes() == b'{"champion": 1}\n'
    assert cfg == {"family": "hgb", "selected_from": "hgb/none"}
    [c] = entry["challengers"]
    assert c["model_id"] == "challenger" and c["configuration"] == "lgbm/none"
    assert "calibration" in c["not_served"] and "slope 0.930" in c["not_served"]
    card = (tmp_path / "challenger" / "model_card.md").read_text().splitlines()
    assert card[0] == "# Model card: x" and card[2].startswith("> **Not served.** This model fails")
    assert card[-1] == "body"
    doc = json.loads((tmp_path / "challenger" / "model_card.json").read_text())
    assert doc["model_id"] == "challenger" and doc["not_served"] == {
        "why": c["not_served"], "served_model_id": "champion"}
    before = (tmp_path / "challenger" / "model_card.md").read_text()
    select.mark_not_served(tmp_path / "challenger", c["not_served"], "champion")
    assert (tmp_path / "challenger" / "model_card.md").read_text() == before  # marked once


def test_a_run_stopped_between_export_and_acceptance_has_the_served_bundle_put_back(
        german, tmp_path, monkeypatch):
    """The copy kept beside the bundle survives a crash; the next run restores it before it
    compares anything, so the served model is never lost to a half-finished challenge."""
    import shutil
    from models import select
    ds, sp = german
    out = _served(tmp_path, ds, _goals(True, 0.96))
    shutil.copytree(out, tmp_path / ".default.champion")
    (out / "model.onnx").write_bytes(b"challenger")  # what the stopped run had exported
    (out / "manifest.json").write_bytes(b'{"challenger": 1}\n')
    _stub_training(monkeypatch, fails={})
    monkeypatch.setattr(select, "measure_goals", lambda *a, **k: _goals(False, 0.93))
    _, entry = select.train_dataset(ds, sp, search_families=(), reports=tmp_path, outdir=out)
    assert entry["model_id"] == "champion" and (out / "model.onnx").read_bytes() == b"champion"
    assert not (tmp_path / ".default.champion").exists()


def test_without_a_served_bundle_in_place_the_challenger_is_served(german, tmp_path,
                                                                   monkeypatch):
    """A summary entry whose bundle is gone (or was replaced by hand) has nothing to put back."""
    import json
    from models import select
    ds, sp = german
    out = _served(tmp_path, ds, _goals(True, 0.96))
    (out / "manifest.json").write_bytes(b'{"edited": 1}\n')
    _stub_training(monkeypatch, fails={})
    monkeypatch.setattr(select, "measure_goals", lambda *a, **k: _goals(False, 0.93))
    _, entry = select.train_dataset(ds, sp, search_families=(), reports=tmp_path, outdir=out)
    assert entry["model_id"] == "m" and json.loads((tmp_path / "summary.json").read_text())[
        ds.name]["model_id"] == "m"


def test_when_no_configuration_may_serve_nothing_is_served(german, tmp_path, monkeypatch):
    from models import select
    from models.train import GateFailure
    ds, sp = german
    fails = {"lgbm/none": "gates", "lgbm/nia": "gates", "mlp/none": "gates",
             "logreg/none": "parity"}
    tried = _stub_training(monkeypatch, fails=fails)
    with pytest.raises(GateFailure, match="lgbm/none: reason stability: lgbm/none; lgbm/nia"):
        select.train_dataset(ds, sp, search_families=(), reports=tmp_path)
    assert tried == ["lgbm/none", "lgbm/nia", "mlp/none", "logreg/none"]
    assert not (tmp_path / "summary.json").exists()
