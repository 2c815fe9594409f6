"""The scorecard family: ONNX parity with optbinning, points, PDO scaling, reasons, compare, CLI."""
import copy
import json
import math

import numpy as np
import onnxruntime as ort
import pytest

from models import scorecard as S
from models.calibration import ScoreCalibrated
from models.data import Dataset, make_splits
from models.families import build_pipeline
from models.onnx_export import to_onnx
from models.serving import (favourable_row, is_elderly, load_bundle, pd_to_bps, rank_reasons,
                            reason_code, reason_codes, score_from_pd)
from models.train import PARITY_TOL

INCOME, DEPENDENTS = 4, 9  # GMSC features with missing values


@pytest.fixture(scope="module")
def gmsc_scorecard(gmsc):
    """A scorecard fitted on 20,000 GMSC training rows (missing incomes included)."""
    ds, sp = gmsc
    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(sp.train_idx, 20000, replace=False))
    model = ScoreCalibrated(build_pipeline("scorecard", ds.schema), method="none", cv=3)
    model.fit(ds.X[idx], ds.y[idx])
    return model, ds.X[idx]


def _onnx_proba(model, X):
    onx = to_onnx(model, X.shape[1])
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(["probabilities"], {"features": np.ascontiguousarray(X, np.float32)})[0]


def _edge_rows(model, base_row):
    """Rows that put each numeric feature exactly on, and one float32 step below, every bin
    edge, plus values far outside the training range (the open outer bins)."""
    woe = model.estimator_.named_steps["woe"]
    rows = []
    for j, lk in enumerate(woe.lookup_):
        for s, t in zip(lk["splits"], lk["thresholds"]):
            # the edge itself, a float32 step below, and the float32 nearest the float64 split
            # (below it when rounding went down: a naive float32 threshold misbins that one)
            for v in (t, np.nextafter(t, np.float32(-np.inf)), np.float32(s)):
                r = base_row.copy()
                r[j] = v
                rows.append(r)
        for v in (-1e9, 1e9):
            r = base_row.copy()
            r[j] = v
            rows.append(r)
    return np.array(rows, dtype=np.float32)


def test_scorecard_onnx_gives_the_optbinning_pd_on_real_rows_missing_and_edge_values(
        gmsc, gmsc_scorecard):
    ds, sp = gmsc
    model, _ = gmsc_scorecard
    Xh = ds.X[sp.holdout_idx]
    missing = np.isnan(Xh).any(axis=1)
    assert missing.sum() > 1000  # real unreported incomes / dependents are in the check
    X = np.vstack([Xh[:5000], Xh[missing][:2000], _edge_rows(model, Xh[0])])
    p_skl = model.predict_proba(X)[:, 1]
    p_onnx = _onnx_proba(model, X)[:, 1]
    assert np.max(np.abs(p_onnx - p_skl)) <= PARITY_TOL
    # The lookup the graph is built from equals optbinning's own transform, bin for bin.
    woe = model.estimator_.named_steps["woe"]
    assert np.array_equal(woe.woe_lookup(X), woe.transform(X))


def test_a_missing_value_takes_the_missing_bin_not_the_median(gmsc_scorecard):
    model, Xtr = gmsc_scorecard
    woe = model.estimator_.named_steps["woe"]
    x = Xtr[:1].copy()
    x[0, INCOME] = np.nan
    tbl = woe.binning_.get_binned_variable("MonthlyIncome").binning_table.build()
    empirical = float(tbl.loc[tbl["Bin"] == "Missing", "WoE"].iloc[0])
    assert woe.transform(x)[0, INCOME] == pytest.approx(empirical, abs=1e-12)
    assert empirical != 0.0  # GMSC's unreported incomes form a bin of their own
    p = _onnx_proba(model, x)[0, 1]
    assert abs(p - model.predict_proba(x)[0, 1]) <= PARITY_TOL


def test_points_of_a_rows_bins_add_up_to_its_score(gmsc, gmsc_scorecard):
    ds, sp = gmsc
    model, _ = gmsc_scorecard
    table = S.points_table(model, ds.schema)
    X = ds.X[sp.holdout_idx][:3000]
    total = S.row_points(table, X).sum(axis=1)
    p = model.predict_proba(X)[:, 1]
    assert np.max(np.abs(total - (S.OFFSET + S.FACTOR * np.log((1 - p) / p)))) < 1e-6
    # The served score is the same scale: it differs from the points only by the PD's rounding
    # to basis points (and the rounding of the score itself).
    p32 = _onnx_proba(model, X)[:, 1]
    for t, q in zip(total[:500], p32[:500]):
        bps = pd_to_bps(float(q))
        slack = S.FACTOR * abs(math.log((10000 - bps) / bps) - math.log((1 - q) / q)) + 0.5
        assert abs(score_from_pd(bps) - t) <= slack + 1e-3


def test_points_equal_optbinnings_own_scorecard_with_the_same_scaling(gmsc, gmsc_scorecard):
    """optbinning's ``Scorecard`` (pdo_odds: PDO 40, odds 19, 600 points), fitted with the same
    binning settings and estimator, gives the same points per bin and the same scores."""
    from optbinning import Scorecard
    ds, sp = gmsc
    model, Xtr = gmsc_scorecard
    woe = model.estimator_.named_steps["woe"]
    rng = np.random.default_rng(1)
    idx = np.sort(rng.choice(sp.train_idx, 20000, replace=False))  # the fixture's rows
    assert np.array_equal(ds.X[idx], Xtr, equal_nan=True)
    ref = Scorecard(binning_process=woe.binning_process(),
                    estimator=S.SignedLogistic(C=1.0, max_iter=2000),
                    scaling_method="pdo_odds",
                    scaling_method_params={"pdo": S.PDO, "odds": S.BASE_ODDS,
                                           "scorecard_points": S.BASE_SCORE})
    ref.fit(woe._frame(Xtr), ds.y[idx], metric_missing="empirical")
    Xh = ds.X[sp.holdout_idx][:3000]
    table = S.points_table(model.estimator_, ds.schema)
    ours = S.row_points(table, Xh).sum(axis=1)
    assert np.max(np.abs(ref.score(woe._frame(Xh)) - ours)) < 1e-6


def test_adding_pdo_points_doubles_the_odds(gmsc, gmsc_scorecard):
    ds, sp = gmsc
    model, _ = gmsc_scorecard
    assert S.score_from_points(600) == pytest.approx(19)
    for s in (450.0, 600.0, 713.5):
        assert S.score_from_points(s + S.PDO) == pytest.approx(2 * S.score_from_points(s))
    # The model's own PDs follow the scale: a gap of g points is an odds ratio of 2 ** (g / 40).
    table = S.points_table(model, ds.schema)
    X = ds.X[sp.holdout_idx][:400]
    total = S.row_points(table, X).sum(axis=1)
    p = model.predict_proba(X)[:, 1]
    odds = (1 - p) / p
    ratio = odds[1:] / odds[:-1]
    assert np.allclose(ratio, 2.0 ** ((total[1:] - total[:-1]) / S.PDO), rtol=1e-9)
    # ... and it is the serving scale: odds 19 -> 600, twice the odds -> 640.
    assert score_from_pd(500) == 600
    assert score_from_pd(pd_to_bps(1 / 39)) == 640


def test_bins_follow_the_direction_a_schema_declares(gmsc):
    ds, sp = gmsc
    schema = copy.deepcopy(ds.schema)
    for f in schema["features"]:
        if f["name"] == "age":
            f["monotone"] = "decreasing"     # PD falls with age
        if f["name"] == "MonthlyIncome":
            f["monotone"] = "decreasing"
        if f["name"] == "NumberOfTimes90DaysLate":
            f["monotone"] = "increasing"
    rng = np.random.default_rng(2)
    idx = np.sort(rng.choice(sp.train_idx, 20000, replace=False))
    pipe = build_pipeline("scorecard", schema).fit(ds.X[idx], ds.y[idx])
    table = S.points_table(pipe, schema)
    pts = {f["name"]: [b["points"] for b in f["bins"]] for f in table["features"]}
    for name in ("age", "MonthlyIncome"):
        assert len(pts[name]) > 2 and np.all(np.diff(pts[name]) > 0), name
    assert len(pts["NumberOfTimes90DaysLate"]) > 1
    assert np.all(np.diff(pts["NumberOfTimes90DaysLate"]) < 0)


def test_every_coefficient_gives_more_points_to_the_safer_bin(taiwan):
    """Taiwan's collinear monthly bill amounts take positive coefficients in a plain logistic
    fit (measured: 6 of 21 features); the scorecard drops them, so points rise with WoE."""
    from sklearn.linear_model import LogisticRegression
    ds, sp = taiwan
    pipe = build_pipeline("scorecard", ds.schema).fit(ds.X[sp.train_idx], ds.y[sp.train_idx])
    woe = pipe.named_steps["woe"].transform(ds.X[sp.train_idx])
    plain = LogisticRegression(max_iter=2000).fit(woe, ds.y[sp.train_idx])
    assert (plain.coef_[0] > 0).sum() >= 2  # the case the constraint exists for
    table = S.points_table(pipe, ds.schema)
    assert all(f["coefficient"] <= 0 for f in table["features"])
    assert any(f["dropped_for_sign"] for f in table["features"])
    for f in table["features"]:
        order = np.argsort([b["woe"] for b in f["bins"]], kind="stable")
        assert np.all(np.diff([f["bins"][i]["points"] for i in order]) >= -1e-9), f["name"]


def test_scorecard_takes_no_resampler(gmsc):
    ds, _ = gmsc
    with pytest.raises(ValueError, match="no resampler"):
        build_pipeline("scorecard", ds.schema, resampler="smote")


def test_scorecard_competes_in_compare_on_the_shared_folds(gmsc, tmp_path):
    from models.cv import compare
    ds, _ = gmsc
    rng = np.random.default_rng(3)
    idx = np.sort(rng.choice(len(ds.y), 4000, replace=False))
    small = Dataset("gmsc", ds.schema, ds.X[idx], ds.y[idx], ds.groups.iloc[idx])
    sp = make_splits(small.y, small.X, n_folds=3)
    res = compare(small, sp, tmp_path / "cmp.json", families=("logreg", "scorecard"),
                  resamplers=("none", "smote"))
    assert set(res) == {"logreg/none", "logreg/smote", "scorecard/none"}
    sc, lr = res["scorecard/none"], res["logreg/none"]
    assert len(sc["fold_auc"]) == len(lr["fold_auc"]) == 3
    assert 0.75 < sc["auc_mean"] < 1.0
    assert set(sc["brier_crossfit"]) == set(lr["brier_crossfit"])


@pytest.fixture(scope="module")
def german_bundle(tmp_path_factory):
    """``python -m models train german --family scorecard`` into a temporary directory."""
    from models.__main__ import main
    base = tmp_path_factory.mktemp("scorecard")
    rc = main(["train", "german", "--family", "scorecard", "--out", str(base / "bundle"),
               "--reports", str(base / "reports"), "--n-boot", "20"])
    assert rc == 0
    return base / "bundle"


def test_train_family_scorecard_writes_a_bundle_that_serving_loads(german, german_bundle):
    ds, sp = german
    b = load_bundle(german_bundle)
    ref = json.loads((german_bundle / "reference.json").read_text())
    card = json.loads((german_bundle / "model_card.json").read_text())
    assert card["details"]["family"] == "scorecard" and card["details"]["calibration"] == "none"
    assert card["scorecard"] == ref["scorecard"]
    md = (german_bundle / "model_card.md").read_text()
    assert "## Scorecard points" in md and "40 points double the odds" in md
    first = card["scorecard"]["features"][0]
    assert f"| {first['name']} | {first['bins'][0]['bin']} | {first['bins'][0]['woe']:+.4f} | " \
           f"{first['bins'][0]['points']:.1f} |" in md
    # The points in the bundle describe the served model: they add up to its PD's score.
    Xh = ds.X[sp.holdout_idx]
    p = b.session.run(["probabilities"], {"features": Xh})[0][:, 1].astype(np.float64)
    total = S.row_points(ref["scorecard"], Xh).sum(axis=1)
    # a hundredth of a point: the served PD is float32 (1 - p loses digits for PD near 1)
    assert np.max(np.abs(total - (S.OFFSET + S.FACTOR * np.log((1 - p) / p)))) < 1e-2


def test_scorecard_reasons_are_the_features_furthest_below_their_maximum(german, german_bundle):
    ds, sp = german
    b = load_bundle(german_bundle)
    table = json.loads((german_bundle / "reference.json").read_text())["scorecard"]
    maxima = np.array([f["max_points"] for f in table["features"]])
    checked = 0
    for x in ds.X[sp.holdout_idx][:100]:
        shortfall = maxima - S.row_points(table, x)[0]
        expected = [c for c in (reason_code(b, x, i) for i in rank_reasons(shortfall / 1e3, None))
                    if c][:4]
        expected += [0] * (4 - len(expected))
        assert reason_codes(b, x) == tuple(expected)
        checked += bool(expected[0])
    assert checked > 50


@pytest.fixture(scope="module")
def gmsc_bundle(gmsc, tmp_path_factory):
    """A GMSC scorecard bundle (20,000 training rows) exported as training exports one."""
    from models.train import export_bundle, fit_final
    ds, sp = gmsc
    cfg = {"family": "scorecard", "calibration": "none", "max_train_rows": 20000}
    model = fit_final(ds, sp, cfg)
    out = tmp_path_factory.mktemp("gmsc_scorecard")
    export = export_bundle(model, ds, sp, cfg, out, scorecard=S.points_table(model, ds.schema))
    assert export["parity_max_abs_diff"] <= PARITY_TOL
    return out


def test_reasons_with_missing_values_follow_points_below_the_maximum(gmsc, gmsc_bundle):
    ds, sp = gmsc
    b = load_bundle(gmsc_bundle)
    ref = json.loads((gmsc_bundle / "reference.json").read_text())
    table = ref["scorecard"]
    # Reference values sit in the highest-points bin (null where the missing bin is highest).
    refx = np.array([np.nan if v is None else v for v in ref["reference_values"]], np.float32)
    best = S.row_points(table, refx)[0]
    assert np.allclose(best, [f["max_points"] for f in table["features"]])
    maxima = np.array([f["max_points"] for f in table["features"]])
    Xh = ds.X[sp.holdout_idx]
    rows = np.vstack([Xh[:200], Xh[np.isnan(Xh).any(axis=1)][:200]])
    for x in rows:
        # an elderly applicant is scored at their most favourable age, and age is no reason
        row = favourable_row(b, x)
        shortfall = maxima - S.row_points(table, row)[0]
        if is_elderly(b, x):
            shortfall[b.elderly.index] = 0
        expected = [c for c in (reason_code(b, row, i) for i in rank_reasons(shortfall / 1e3, None))
                    if c][:4]
        assert reason_codes(b, x) == tuple(expected + [0] * (4 - len(expected)))


def test_train_family_refuses_the_committed_default_and_search_options(tmp_path, capsys):
    from models.__main__ import main
    from models.serving import DEFAULT_BUNDLE
    before = {p.name: p.read_bytes() for p in DEFAULT_BUNDLE.iterdir() if p.is_file()}
    assert main(["train", "german", "--family", "scorecard", "--out",
                 str(DEFAULT_BUNDLE)]) == 2
    assert "committed default model" in capsys.readouterr().err
    assert main(["train", "german", "--family", "scorecard", "--search", "hgb",
                 "--out", str(tmp_path / "b")]) == 2
    assert main(["train", "german", "--family", "nosuch"]) == 2
    assert {p.name: p.read_bytes() for p in DEFAULT_BUNDLE.iterdir() if p.is_file()} == before


def test_a_winning_scorecard_is_exported_uncalibrated_with_its_points(gmsc, tmp_path):
    from models.select import train_dataset
    ds, _ = gmsc
    rng = np.random.default_rng(4)
    idx = np.sort(rng.choice(len(ds.y), 4000, replace=False))
    small = Dataset("gmsc", ds.schema, ds.X[idx], ds.y[idx], ds.groups.iloc[idx])
    sp = make_splits(small.y, small.X, n_folds=3)
    cfg, summary = train_dataset(small, sp, search_families=(), families=("scorecard",),
                                 resamplers=("none", "nia"), outdir=tmp_path / "bundle",
                                 reports=tmp_path / "reports", n_boot=20)
    assert cfg["family"] == "scorecard" and cfg["calibration"] == "none"
    card = json.loads((tmp_path / "bundle" / "model_card.json").read_text())
    assert card["details"]["calibration_rule"].startswith("none: a scorecard")
    b = load_bundle(tmp_path / "bundle")
    Xh = small.X[sp.holdout_idx]
    p = b.session.run(["probabilities"], {"features": Xh})[0][:, 1].astype(np.float64)
    total = S.row_points(card["scorecard"], Xh).sum(axis=1)
    # a hundredth of a point: the served PD is float32 (1 - p loses digits for PD near 1)
    assert np.max(np.abs(total - (S.OFFSET + S.FACTOR * np.log((1 - p) / p)))) < 1e-2


def test_a_users_csv_with_text_categories_and_gaps_trains_a_scorecard(unseen_csv, unseen_schema,
                                                                      tmp_path):
    """The scorecard on data the code has never seen: categories from text, unreported
    balances (a missing bin), percent strings; the export's parity check runs on its holdout."""
    from models.__main__ import main
    path, _ = unseen_csv
    (tmp_path / "s.json").write_text(json.dumps(unseen_schema))
    assert main(["train", "--csv", str(path), "--schema", str(tmp_path / "s.json"),
                 "--budget", "ci", "--families", "scorecard", "--search", "",
                 "--out", str(tmp_path / "b"), "--reports", str(tmp_path / "r")]) == 0
    card = json.loads((tmp_path / "b" / "model_card.json").read_text())
    assert card["details"]["family"] == "scorecard"
    assert card["details"]["onnx"]["parity_max_abs_diff"] <= PARITY_TOL
    feats = {f["name"]: f for f in card["scorecard"]["features"]}
    cats = [f for f in unseen_schema["features"] if f["type"] == "category"]
    assert cats and all("code" in feats[f["name"]]["bins"][0] for f in cats)
    gappy = [f["name"] for f in unseen_schema["features"] if f.get("missing") == "impute"]
    assert gappy and any(feats[n]["missing"]["woe"] != 0 for n in gappy)
    load_bundle(tmp_path / "b")
