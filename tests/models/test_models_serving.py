import dataclasses
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from models import serving as S
from models.manifest import write as write_manifest
from models.schema import decode_row, schema_hash

DEFAULT = Path(S.__file__).resolve().parent / "default"


@pytest.fixture(scope="module")
def bundle():
    return S.load_bundle(DEFAULT)


def test_committed_onnx_sha256_matches_its_model_card(bundle):
    card = json.loads((DEFAULT / "model_card.json").read_text())
    ref = json.loads((DEFAULT / "reference.json").read_text())
    onnx_file = DEFAULT / card["details"]["onnx"]["onnx_file"]
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert digest == card["model_id"] == ref["model_sha256"] == bundle.model_id
    assert card["bundle_id"] == bundle.bundle_id
    assert onnx_file.stat().st_size < 2_000_000
    assert card["training_data"]["feature_schema_sha256"] == schema_hash(bundle.schema)


def test_committed_model_matches_sklearn_on_gmsc_holdout(bundle, gmsc):
    ds, sp = gmsc
    ref = np.load(DEFAULT / "parity_reference.npz")
    assert str(ref["holdout_fingerprint"]) == sp.fingerprint()
    rows = ds.X[sp.holdout_idx[ref["holdout_positions"]]]
    assert len(rows) >= 10_000
    pd_onnx = S.predict_pd(bundle, rows).astype(np.float64)
    assert np.max(np.abs(pd_onnx - ref["p_sklearn"])) <= 1e-5


def test_load_bundle_rejects_a_tampered_model(tmp_path):
    d = tmp_path / "b"
    shutil.copytree(DEFAULT, d)
    ref = json.loads((d / "reference.json").read_text())
    f = d / ref["onnx_file"]
    data = bytearray(f.read_bytes())
    data[-1] ^= 1
    f.write_bytes(bytes(data))
    write_manifest(d)  # a consistent manifest: reference.json's own ONNX hash must still catch it
    with pytest.raises(S.BundleIntegrityError, match="sha256"):
        S.load_bundle(d)


def test_load_bundle_rejects_a_schema_that_differs_from_the_model(tmp_path):
    d = tmp_path / "b"
    shutil.copytree(DEFAULT, d)
    schema = json.loads((d / "feature_schema.json").read_text())
    schema["features"][0]["max"] = 1
    (d / "feature_schema.json").write_text(json.dumps(schema))
    write_manifest(d)  # the schema must still disagree with reference.json and the ONNX metadata
    with pytest.raises(S.BundleIntegrityError, match="feature-schema hash mismatch"):
        S.load_bundle(d)


def test_predict_pd_checks_shape_and_returns_probabilities(bundle, gmsc):
    ds, sp = gmsc
    p = S.predict_pd(bundle, ds.X[sp.holdout_idx[:50]])
    assert p.shape == (50,) and p.dtype == np.float32 and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError):
        S.predict_pd(bundle, np.zeros((2, 3), np.float32))


def test_reason_codes_are_the_top_positive_contributions_coded_by_direction(bundle, gmsc):
    ds, sp = gmsc
    checked = 0
    for x in ds.X[sp.holdout_idx[:60]]:
        codes = S.reason_codes(bundle, x)
        assert codes == S.reason_codes(bundle, x.copy())  # deterministic
        _, contrib = S.contributions(bundle, x)
        row = S.favourable_row(bundle, x)
        q = np.rint(contrib / S.CONTRIBUTION_QUANTUM)
        ranked = sorted([i for i in range(len(q)) if q[i] > 0], key=lambda i: (-q[i], i))
        got = [c for c in codes if c]
        assert codes[len(got):] == (0,) * (4 - len(got))
        # each code names its feature's value as too high (above the reference), too low
        # (below it) or not reported, in contribution order
        pos = []
        for c in got:
            i = next(i for i in ranked if c in (bundle.high_codes[i], bundle.low_codes[i],
                                                 bundle.missing_codes[i]))
            pos.append(ranked.index(i))
            if c == bundle.missing_codes[i]:
                assert np.isnan(row[i])
            elif c == bundle.high_codes[i] and c != bundle.low_codes[i]:
                assert row[i] > bundle.reference[i]
            elif c == bundle.low_codes[i] and c != bundle.high_codes[i]:
                assert row[i] < bundle.reference[i]
            checked += 1
        assert pos == sorted(pos)
    assert checked > 60


def test_contribution_is_pd_change_when_feature_set_to_reference(bundle, gmsc):
    ds, sp = gmsc
    x = ds.X[sp.holdout_idx[3]].copy()
    point = dataclasses.replace(bundle, neighbourhood=None)  # a bundle exported before it
    pd0, contrib = S.contributions(point, x)
    j = int(np.argmax(np.abs(contrib)))
    x2 = x.copy()
    x2[j] = bundle.reference[j]
    assert pd0 - float(S.predict_pd(bundle, x2)[0]) == pytest.approx(contrib[j], abs=1e-6)


def test_a_float_features_contribution_averages_its_own_neighbourhood(bundle, gmsc):
    ds, sp = gmsc
    assert bundle.neighbourhood == (S.REASON_NEIGHBOURHOOD["window"],
                                    S.REASON_NEIGHBOURHOOD["points"])
    window, points = bundle.neighbourhood
    floats = [i for i, f in enumerate(bundle.schema["features"]) if f["type"] == "float"]
    others = [i for i in range(bundle.n_features) if i not in floats]
    checked = 0
    for x in ds.X[sp.holdout_idx[:40]]:
        if S.is_elderly(bundle, x):
            continue
        pd0, contrib = S.contributions(bundle, x)
        for j in floats + others:
            at_ref = x.copy()
            at_ref[j] = bundle.reference[j]
            if x[j] == bundle.reference[j]:
                assert contrib[j] == 0
                continue
            if j in floats and np.isfinite(x[j]) and x[j] != 0:
                near = np.repeat(x.reshape(1, -1), points, axis=0)
                scaled = float(x[j]) * np.linspace(1 - window, 1 + window, points)
                ref = float(bundle.reference[j])  # the window stays on the value's side of it
                near[:, j] = np.maximum(scaled, ref) if x[j] > ref else np.minimum(scaled, ref)
                own = float(np.mean(S.predict_pd(bundle, near).astype(np.float64)))
                checked += 1
            else:  # counts, categories, a missing value: the point itself
                own = pd0
            expected = own - float(S.predict_pd(bundle, at_ref)[0])
            assert contrib[j] == pytest.approx(expected, abs=1e-6), (j, x)
    assert checked > 60


@pytest.mark.parametrize("spec", [{"window": 0, "points": 5}, {"window": 0.6, "points": 5},
                                  {"window": 0.05, "points": 4}, {"window": 0.05, "points": 1},
                                  {"window": 0.05, "points": True}, {"window": 0.05},
                                  {"window": "0.05", "points": 5}, {"window": True, "points": 5},
                                  {"window": 0.05, "points": 5.0}, [0.05, 5], "0.05"])
def test_a_malformed_reason_neighbourhood_is_refused(tmp_path, spec):
    dst = tmp_path / "b"
    shutil.copytree(S.DEFAULT_BUNDLE, dst)
    ref = json.loads((dst / "reference.json").read_text())
    ref["reason_neighbourhood"] = spec
    (dst / "reference.json").write_text(json.dumps(ref))
    write_manifest(dst)
    with pytest.raises(S.BundleIntegrityError, match="reason_neighbourhood"):
        S.load_bundle(dst)


def test_rank_reasons_breaks_ties_by_feature_index():
    c = np.array([0.02, 0.05, 0.05, -0.1, 0.0, 0.02, 0.01])
    assert S.rank_reasons(c) == [1, 2, 0, 5]
    assert S.rank_reasons(np.array([-1e-3, 4e-7])) == []  # below the quantum


def test_missing_income_maps_to_its_condition_code(bundle):
    row = {"RevolvingUtilizationOfUnsecuredLines": 0.9, "age": 30,
           "NumberOfTime30-59DaysPastDueNotWorse": 0, "DebtRatio": 3000.0,
           "MonthlyIncome": None, "NumberOfOpenCreditLinesAndLoans": 4,
           "NumberOfTimes90DaysLate": 0, "NumberRealEstateLoansOrLines": 0,
           "NumberOfTime60-89DaysPastDueNotWorse": 0, "NumberOfDependents": 0}
    out = S.score_row(bundle, row)
    income = bundle.feature_names.index("MonthlyIncome")
    known = set(bundle.high_codes) | set(bundle.low_codes) | set(bundle.missing_codes)
    assert all(c == 0 or c in known for c in out["reason_codes"])
    assert bundle.low_codes[income] not in out["reason_codes"]  # unreported is not "too low"
    assert S.unpack_reason_codes(out["reason_codes_packed"]) == out["reason_codes"]


def test_reason_codes_latency_is_within_oracle_budget(bundle, gmsc):
    ds, sp = gmsc
    xs = ds.X[sp.holdout_idx[:100]]
    S.reason_codes(bundle, xs[0])
    t = []
    for x in xs:
        t0 = time.perf_counter()
        S.reason_codes(bundle, x)
        t.append(time.perf_counter() - t0)
    assert np.median(t) < 0.020


def test_pack_reason_codes_is_big_endian_most_important_first():
    assert S.pack_reason_codes((1, 2, 3, 4)) == 0x01020304
    assert S.pack_reason_codes((7,)) == 0x07000000
    assert S.pack_reason_codes(()) == 0
    assert S.unpack_reason_codes(0xFF000102) == (255, 0, 1, 2)
    for bad in [(256,), (-1,), (1, 2, 3, 4, 5), (True,)]:
        with pytest.raises(ValueError):
            S.pack_reason_codes(bad)


def test_pd_to_bps_rounds_half_up_and_clamps():
    assert S.pd_to_bps(0.0) == 0 and S.pd_to_bps(1.0) == 10000
    assert S.pd_to_bps(-0.2) == 0 and S.pd_to_bps(1.5) == 10000
    assert S.pd_to_bps(0.123449) == 1234 and S.pd_to_bps(0.12345) == 1235  # .5 rounds up
    assert S.pd_to_bps(np.float32(0.25)) == 2500
    with pytest.raises(ValueError):
        S.pd_to_bps(float("nan"))


def test_score_mapping_endpoints_anchor_and_monotonicity():
    assert S.score_from_pd(0) == 850 and S.score_from_pd(10000) == 300
    assert S.score_from_pd(500) == 600                 # anchor: PD 5% (odds 19:1) -> 600
    # PD 2.5%: odds 39:1 -> 600 + 40 * log2(39/19) = 641.48 -> 641; PD 1%: 99:1 -> 695.25
    assert S.score_from_pd(250) == 641 and S.score_from_pd(100) == 695
    scores = [S.score_from_pd(b) for b in range(0, 10001)]
    assert all(a >= b for a, b in zip(scores, scores[1:]))
    assert min(scores) == 300 and max(scores) == 850
    with pytest.raises(ValueError):
        S.score_from_pd(10001)
    with pytest.raises(TypeError):
        S.score_from_pd(0.5)


def test_score_bands():
    assert [S.score_band(s) for s in (850, 760, 759, 700, 699, 640, 639, 580, 579, 500, 499,
                                      300)] == list("AABBCCDDEEFF")
    with pytest.raises(ValueError):
        S.score_band(299)


def test_score_row_end_to_end_is_byte_identical_across_loads(gmsc):
    ds, sp = gmsc
    b1, b2 = S.load_bundle(DEFAULT), S.load_bundle(DEFAULT)
    for x in ds.X[sp.holdout_idx[:20]]:
        row = decode_row(b1.schema, x)
        r1, r2 = S.score_row(b1, row), S.score_row(b2, row)
        assert json.dumps(r1, sort_keys=True) == json.dumps(r2, sort_keys=True)
        assert 300 <= r1["score"] <= 850 and r1["band"] == S.score_band(r1["score"])
