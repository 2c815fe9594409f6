"""The scoring adapter on the committed default model: PD, score, band, reason codes, integrity."""

import shutil
import time

import pytest

from models import serving
from models.schema import validate_row
from oracle.scoring import (ModelGuard, ModelLoadError, ModelNotApproved, bundle_paths,
                            file_model_id, load_model)
from tests.oracle.unit.conftest import GOOD_ROW

from pathlib import Path

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"
pytestmark = pytest.mark.skipif(not (BUNDLE / "reference.json").is_file(),
                                reason="default model bundle not committed")


@pytest.fixture(scope="module")
def model():
    return load_model(BUNDLE)


def test_model_id_is_sha256_of_the_bundle_manifest(model):
    import hashlib

    assert model.model_id == hashlib.sha256((BUNDLE / "manifest.json").read_bytes()).digest()
    assert model.model_id != hashlib.sha256(bundle_paths(BUNDLE)[1].read_bytes()).digest()
    assert file_model_id(BUNDLE) == model.model_id
    assert load_model(BUNDLE) is model  # one session per model id


@pytest.mark.parametrize("edit, file", [
    (lambda ref, schema: ref["reference_values"].__setitem__(0, 0.5), "reference.json"),
    (lambda ref, schema: ref["reason_codes"]["high"].__setitem__("age", 9), "reference.json"),
    (lambda ref, schema: schema["features"][1].__setitem__("max", 99), "feature_schema.json"),
])
def test_an_edited_bundle_file_is_refused_even_after_the_bundle_was_loaded(model, tmp_path,
                                                                           edit, file):
    import json

    d = tmp_path / "b"
    shutil.copytree(BUNDLE, d)
    assert load_model(d).model_id == model.model_id  # same id: the cached session
    docs = {name: json.loads((d / name).read_text())
            for name in ("reference.json", "feature_schema.json")}
    edit(docs["reference.json"], docs["feature_schema.json"])
    (d / file).write_text(json.dumps(docs[file], indent=1))  # only the edited file
    with pytest.raises(ModelLoadError, match=f"{file} differs from the bundle manifest"):
        load_model(d)
    with pytest.raises(ModelLoadError, match=f"{file} differs"):
        file_model_id(d)


def test_prediction_is_deterministic_and_consistent(model):
    x = validate_row(model.schema, GOOD_ROW)
    a, b = model.predict(x), model.predict(x.copy())
    assert a == b
    assert 0 <= a.pd_bps <= 10_000 and 300 <= a.score <= 850
    assert a.pd_bps == serving.pd_to_bps(a.pd)
    assert a.score == serving.score_from_pd(a.pd_bps)
    assert a.band == serving.score_band(a.score)
    assert a.reason_codes_packed == serving.pack_reason_codes(a.reason_codes)
    assert (a.reason_codes_packed >> 24) == a.reason_codes[0]  # most important in the top byte


# score = 600 + 40/ln2 * ln(odds/19), odds = (10000 - pd_bps) / pd_bps, clamped to 300..850;
# bands A >= 760, B >= 700, C >= 640, D >= 580, E >= 500, F below. Worked by hand:
@pytest.mark.parametrize("pd_bps,score,band", [
    (0, 850, "A"),       # clamped
    (50, 736, "B"),      # odds 199: 600 + 57.71 * ln(10.47) = 735.6
    (500, 600, "D"),     # odds 19: the anchor
    (2000, 510, "E"),    # odds 4: 600 + 57.71 * ln(0.2105) = 510.1
    (5000, 430, "F"),    # odds 1: 600 - 57.71 * ln(19) = 430.1
    (10_000, 300, "F"),  # clamped
])
def test_pd_to_score_and_band_mapping(pd_bps, score, band):
    assert serving.score_from_pd(pd_bps) == score
    assert serving.score_band(score) == band


def test_score_is_monotone_in_pd():
    scores = [serving.score_from_pd(b) for b in range(0, 10_001, 25)]
    assert all(x >= y for x, y in zip(scores, scores[1:]))


def test_riskier_borrower_gets_a_higher_pd(model):
    good = model.predict(validate_row(model.schema, GOOD_ROW))
    bad_row = dict(GOOD_ROW, **{"NumberOfTimes90DaysLate": 5,
                                "NumberOfTime30-59DaysPastDueNotWorse": 6,
                                "RevolvingUtilizationOfUnsecuredLines": 1.5})
    bad = model.predict(validate_row(model.schema, bad_row))
    assert bad.pd_bps > good.pd_bps and bad.score < good.score


def test_tampered_model_file_is_refused(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    _, onnx_path = bundle_paths(copy)
    data = bytearray(onnx_path.read_bytes())
    data[-10] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError):
        load_model(copy)


def test_not_a_bundle_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="not a model bundle"):
        load_model(tmp_path)


def test_guard_refuses_unapproved_and_rechecks_after_ttl():
    answers = {"ok": True}
    calls = []

    def is_approved(mid):
        calls.append(mid)
        return answers["ok"]

    guard = ModelGuard(is_approved, ttl_s=0.2)
    guard.check(b"\x01" * 32)
    guard.check(b"\x01" * 32)
    assert len(calls) == 1  # cached
    answers["ok"] = False  # revoked on chain
    time.sleep(0.25)
    with pytest.raises(ModelNotApproved):
        guard.check(b"\x01" * 32)
