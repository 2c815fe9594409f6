"""The bundle manifest: its SHA-256 is the model id, and it covers every output-determining file."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from models import manifest, reasons, serving

DEFAULT = Path(serving.__file__).resolve().parent / "default"


@pytest.fixture
def bundle(tmp_path):
    d = tmp_path / "b"
    shutil.copytree(DEFAULT, d)
    return d


def _edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def test_committed_manifest_is_current_and_its_hash_is_the_bundle_id():
    data = (DEFAULT / "manifest.json").read_bytes()
    files = manifest.read_files(DEFAULT)
    assert manifest.build(files) == data  # rebuilt from the committed files, byte for byte
    bid = hashlib.sha256(data).hexdigest()
    assert manifest.check(files) == bid == serving.load_bundle(DEFAULT).bundle_id
    assert json.loads((DEFAULT / "model_card.json").read_text())["bundle_id"] == bid
    listed = json.loads(data)["files"]
    assert set(listed) == {"gmsc-v1.onnx", "feature_schema.json", "reference.json"}


@pytest.mark.parametrize("file, edit", [
    ("reference.json", lambda r: r["reference_values"].__setitem__(3, 0.5)),
    ("reference.json", lambda r: r["reason_codes"]["missing"].__setitem__("MonthlyIncome", 7)),
    ("reference.json", lambda r: r["reason_codes"]["text"].__setitem__("1", "Edited text")),
    ("feature_schema.json", lambda s: s["features"][0].__setitem__("max", 2)),
])
def test_an_edited_file_fails_the_manifest_and_the_load_naming_the_file(bundle, file, edit):
    _edit_json(bundle / file, edit)
    with pytest.raises(manifest.BundleIntegrityError,
                       match=f"{file} differs from the bundle manifest"):
        manifest.check(manifest.read_files(bundle))
    with pytest.raises(serving.BundleIntegrityError, match=f"{file} differs"):
        serving.load_bundle(bundle)


def test_an_edited_onnx_file_fails_the_manifest(bundle):
    onnx = bundle / "gmsc-v1.onnx"
    data = bytearray(onnx.read_bytes())
    data[100] ^= 1
    onnx.write_bytes(bytes(data))
    with pytest.raises(manifest.BundleIntegrityError, match="gmsc-v1.onnx differs"):
        serving.load_bundle(bundle)


def test_a_rebuilt_manifest_after_an_edit_is_a_different_model_id(bundle):
    before = manifest.check(manifest.read_files(bundle))
    _edit_json(bundle / "reference.json", lambda r: r["reference_values"].__setitem__(3, 0.5))
    after = manifest.write(bundle)
    assert after != before and serving.load_bundle(bundle).bundle_id == after


def test_missing_malformed_or_foreign_manifests_are_refused(bundle):
    path = bundle / "manifest.json"
    good = path.read_bytes()
    path.unlink()
    with pytest.raises(manifest.BundleIntegrityError, match="no manifest.json"):
        serving.load_bundle(bundle)
    path.write_bytes(b"{not json")
    with pytest.raises(manifest.BundleIntegrityError, match="malformed"):
        serving.load_bundle(bundle)
    doc = json.loads(good)
    for key, value, message in (("serving_rules", "scorechain-serving/0", "serving rules"),
                                ("format", "other/1", "format")):
        path.write_text(json.dumps({**doc, key: value}))
        with pytest.raises(manifest.BundleIntegrityError, match=message):
            serving.load_bundle(bundle)
    path.write_text(json.dumps({**doc, "files": {**doc["files"], "model_card.json": "00"}}))
    with pytest.raises(manifest.BundleIntegrityError, match="does not use: model_card.json"):
        serving.load_bundle(bundle)
    unlisted = {k: v for k, v in doc["files"].items() if k != "feature_schema.json"}
    path.write_text(json.dumps({**doc, "files": unlisted}))
    with pytest.raises(manifest.BundleIntegrityError, match="does not list feature_schema.json"):
        serving.load_bundle(bundle)


def test_reference_json_cannot_point_outside_the_bundle(bundle):
    _edit_json(bundle / "reference.json", lambda r: r.__setitem__("schema_file", "../x.json"))
    with pytest.raises(manifest.BundleIntegrityError, match="plain names"):
        manifest.read_files(bundle)


def test_models_cli_writes_and_checks_a_manifest(bundle, capsys):
    from models.__main__ import main

    assert main(["manifest", str(bundle), "--check"]) == 0
    assert capsys.readouterr().out.strip() == manifest.check(manifest.read_files(DEFAULT))
    _edit_json(bundle / "reference.json", lambda r: r["reference_values"].__setitem__(3, 0.5))
    assert main(["manifest", str(bundle), "--check"]) == 2
    assert "reference.json differs" in capsys.readouterr().err
    assert main(["manifest", str(bundle)]) == 0
    assert main(["manifest", str(bundle), "--check"]) == 0


def test_the_serving_rules_named_in_manifests_are_the_ones_serving_implements():
    """A change to these constants changes every signed output of every bundle: it must come with
    a new models.manifest.SERVING_RULES (and so new bundle ids), which this test then pins."""
    assert manifest.SERVING_RULES == "scorechain-serving/2"  # /2: elderly rule, reason directions
    assert (reasons.LOW_OFFSET, reasons.MISSING_OFFSET) == (50, 100)
    assert (serving.N_REASONS, serving.CONTRIBUTION_QUANTUM) == (4, 1e-6)
    assert (serving.SCORE_MIN, serving.SCORE_MAX, serving.SCORE_BASE, serving.SCORE_BASE_ODDS,
            serving.SCORE_PDO) == (300, 850, 600, 19, 40)
    assert serving.SCORE_BANDS == (("A", 760), ("B", 700), ("C", 640), ("D", 580), ("E", 500),
                                   ("F", 300))
    assert [serving.score_from_pd(b) for b in (0, 1, 500, 2500, 9999, 10000)] == \
        [850, 850, 600, 493, 300, 300]  # 2500 bps: 600 + 40/ln2 * ln(3/19) = 493.49
