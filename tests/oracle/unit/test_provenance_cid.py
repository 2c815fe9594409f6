"""oracle.provenance with content ids: a bundle registers under ipfs://<its directory's CID>, the
approver's comparison flags a registered URI naming another CID (not one from before CIDs), and
nothing holding training rows is placed under the CID that gets published."""

import shutil
from pathlib import Path

import pytest

from oracle import content_id
from oracle.provenance import (
    MODEL_FIELDS,
    ProvenanceError,
    model_commitments,
    registration_mismatches,
)

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"


@pytest.fixture(autouse=True)
def fixed_dataset_root(monkeypatch):
    """The training-data root (seconds to rebuild from the data set) plays no part here."""
    monkeypatch.setattr("oracle.provenance.dataset_root", lambda name: b"\x5a" * 32)


@pytest.fixture
def bundle(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    return copy


def _record(c, uri):
    """A ModelRegistry.getModel tuple holding `c`'s commitments under `uri`."""
    values = {"metricsHash": c.metrics_hash, "datasetRoot": c.dataset_root,
              "featureSchemaHash": c.feature_schema_hash, "registrar": "0x" + "11" * 20,
              "registeredAt": 1, "status": 1, "revokeReason": 0, "index": 1,
              "approver": "0x" + "00" * 20, "approvedAt": 0, "version": c.version, "uri": uri}
    return tuple(values[name] for name in MODEL_FIELDS)


def test_the_uri_is_the_bundle_directorys_cid(bundle):
    c = model_commitments(bundle)
    assert c.bundle_cid == content_id.path_cid(BUNDLE) and c.uri == "ipfs://" + c.bundle_cid
    assert registration_mismatches(_record(c, c.uri), c) == []


def test_the_approver_flags_another_cid_or_a_malformed_uri_but_not_an_old_one(bundle):
    c = model_commitments(bundle)
    other = content_id.bytes_cid(b"another bundle")
    (problem,) = registration_mismatches(_record(c, "ipfs://" + other), c)
    assert f"differs from the recorded ipfs://{other}" in problem
    (problem,) = registration_mismatches(_record(c, "ipfs://model-v1"), c)
    assert "malformed" in problem
    assert registration_mismatches(_record(c, "scorechain://models/gmsc/v1/manifest.json"),
                                   c) == []


def test_a_changed_byte_in_a_file_outside_the_manifest_changes_only_the_cid(bundle):
    before = model_commitments(bundle)
    card = bytearray((bundle / "model_card.md").read_bytes())
    card[0] ^= 0x01
    (bundle / "model_card.md").write_bytes(bytes(card))
    after = model_commitments(bundle)
    assert after.model_id == before.model_id and after.bundle_cid != before.bundle_cid
    assert registration_mismatches(_record(before, before.uri), after)


def test_a_training_csv_or_a_link_inside_the_bundle_is_refused(bundle):
    (bundle / "rows.csv").write_text("borrower,age\n")
    with pytest.raises(ProvenanceError, match="inside the bundle directory"):
        model_commitments(bundle, data_csv=bundle / "rows.csv")
    (bundle / "rows.csv").unlink()
    (bundle / "extra").symlink_to(BUNDLE / "model_card.md")
    with pytest.raises(ProvenanceError, match="symbolic link"):
        model_commitments(bundle)
