"""scripts/02_register_model.py: the model id registered is the bundle manifest's hash, and the
approver re-checks the bundle they approve against its registration (four eyes on the files)."""

import importlib
import json
import shutil
from pathlib import Path

import pytest
from brownie import accounts

from models.manifest import write as write_manifest
from oracle import content_id
from oracle.provenance import MODEL_FIELDS, ProvenanceError, model_commitments

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "models" / "default"
governance = importlib.import_module("scripts.02_register_model")
deploy_script = importlib.import_module("scripts.01_deploy")


@pytest.fixture(scope="module", autouse=True)
def module_clean_chain(module_isolation):
    pass


@pytest.fixture(scope="module")
def system():
    return deploy_script.deploy([accounts[9].address], 1)


@pytest.fixture(scope="module")
def registered(system):
    return governance.register_model(system, str(DEFAULT))


def _edited_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "edited"
    shutil.copytree(DEFAULT, dst)
    ref = json.loads((dst / "reference.json").read_text())
    ref["reason_codes"]["high"]["age"] = 42  # a reason-code table edit
    (dst / "reference.json").write_text(json.dumps(ref, indent=1))
    return dst


def test_the_registered_model_id_is_the_bundle_manifest_hash(registered):
    import hashlib

    assert registered.model_id == hashlib.sha256((DEFAULT / "manifest.json").read_bytes()).digest()


def test_an_edited_reference_json_cannot_be_approved_or_registered(system, registered, tmp_path):
    edited = _edited_copy(tmp_path)
    with pytest.raises(ProvenanceError, match="reference.json differs from the bundle manifest"):
        governance.approve_model(system, str(edited))
    with pytest.raises(ProvenanceError, match="reference.json differs"):
        governance.register_model(system, str(edited))
    assert not system.model_registry.isApproved(registered.model_id)


def test_a_rebuilt_manifest_is_a_new_model_that_is_not_registered(system, registered, tmp_path):
    edited = _edited_copy(tmp_path)
    card = json.loads((edited / "model_card.json").read_text())
    card["bundle_id"] = write_manifest(edited)  # as whoever builds a bundle would
    (edited / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(governance.ApprovalRefused, match="is not registered"):
        governance.approve_model(system, str(edited))


def test_a_registration_with_other_commitments_is_refused(system, tmp_path):
    """Registered under the bundle's id but with another schema hash: the approver sees it."""
    other = tmp_path / "other"
    shutil.copytree(DEFAULT, other)
    card = json.loads((other / "model_card.json").read_text())
    card["training_data"]["dataset_root"] = "0x" + "11" * 32  # skip the data set's root here
    card.pop("bundle_id")
    (other / "model_card.json").write_text(json.dumps(card))
    ref = json.loads((other / "reference.json").read_text())
    ref["reference_kind"] = "a second bundle"
    (other / "reference.json").write_text(json.dumps(ref))
    write_manifest(other)
    c = model_commitments(other)
    system.model_registry.register(c.model_id, c.metrics_hash, c.dataset_root, b"\x22" * 32,
                                   c.uri, c.version, governance.tx_params("model_registrar"))
    with pytest.raises(governance.ApprovalRefused, match="featureSchemaHash"):
        governance.approve_model(system, str(other))
    assert not system.model_registry.isApproved(c.model_id)


def test_the_bundle_is_registered_under_its_directorys_ipfs_cid(system, registered):
    cid = content_id.path_cid(DEFAULT)
    assert cid.startswith("bafy") and registered.bundle_cid == cid
    record = system.model_registry.getModel(registered.model_id)
    assert record[MODEL_FIELDS.index("uri")] == f"ipfs://{cid}"


def test_a_bundle_whose_directory_cid_differs_from_the_registered_uri_is_not_approved(
        system, registered, tmp_path):
    """model_card.md is outside the manifest, so the model id is the registered one: only the
    registered CID shows the approver that the directory under review is not the one registered."""
    copy = tmp_path / "copy"
    shutil.copytree(DEFAULT, copy)
    card = bytearray((copy / "model_card.md").read_bytes())
    card[-2] ^= 0x01
    (copy / "model_card.md").write_bytes(bytes(card))
    assert model_commitments(copy).model_id == registered.model_id
    with pytest.raises(governance.ApprovalRefused, match="differs from the recorded ipfs://"):
        governance.approve_model(system, str(copy))
    assert not system.model_registry.isApproved(registered.model_id)


def test_the_reviewed_bundle_is_approved(system, registered):
    assert governance.approve_model(system, str(DEFAULT)).model_id == registered.model_id
    assert system.model_registry.isApproved(registered.model_id)


@pytest.fixture(scope="module")
def provable(tmp_path_factory):
    """German's points scorecard (provable as is) and two circuits of it (two set-ups: two keys)."""
    from models import zk
    from models.__main__ import main
    from models.data import load_dataset, make_splits

    base = tmp_path_factory.mktemp("zkreg")
    assert main(["train", "german", "--family", "scorecard", "--out", str(base / "bundle"),
                 "--reports", str(base / "reports")]) == 0
    ds = load_dataset("german")
    X = ds.X[make_splits(ds.y, ds.X).train_idx]
    for name in ("circuit", "other-circuit"):
        zk.setup(base / "bundle", base / name, X)
    return base


def test_a_provable_model_is_registered_with_its_circuit_and_the_approver_checks_the_verifier(system, provable):
    model = governance.register_model(system, str(provable / "bundle"))
    verifier = governance.attach_circuit(system, model.model_id, str(provable / "circuit"))
    # the approver holds another circuit than the registrar attached: other key, other code
    with pytest.raises(governance.ApprovalRefused, match="vk hash.*not the one rendered"):
        governance.approve_model(system, str(provable / "bundle"), zk_dir=str(provable / "other-circuit"))
    assert not system.model_registry.isApproved(model.model_id)
    governance.approve_model(system, str(provable / "bundle"), zk_dir=str(provable / "circuit"))
    info = json.loads((provable / "circuit" / "zk.json").read_text())
    assert system.model_registry.isApproved(model.model_id)
    recorded_verifier, vk_hash, scale = system.model_registry.zkCircuit(model.model_id)
    assert (recorded_verifier, bytes(vk_hash).hex(), int(scale)) == (verifier, info["vk_sha256"],
                                                                     info["output_scale"])
    with pytest.raises(governance.ApprovalRefused, match="is for model"):  # another model's circuit
        governance.attach_circuit(system, bytes(32), str(provable / "circuit"))
