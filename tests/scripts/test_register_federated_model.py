"""A federation's bundle registers like any other (issue 15): its training-data commitment is the
federation's root, recomputed from the run's records, and the approver's second look refuses a
run that is not the one that made the bundle."""

import importlib
import json
import shutil

import pytest

from models.data import load_dataset, make_splits
from models.federated.audit import save_run
from models.federated.run import run_federation
from oracle.provenance import ProvenanceError, federation_root, model_commitments, model_field

governance = importlib.import_module("scripts.02_register_model")
deploy_script = importlib.import_module("scripts.01_deploy")


@pytest.fixture(scope="module", autouse=True)
def module_clean_chain(module_isolation):
    pass


@pytest.fixture(scope="module")
def federated(tmp_path_factory):
    ds = load_dataset("german")
    sp = make_splits(ds.y, ds.X)
    base = tmp_path_factory.mktemp("fl")
    run = run_federation(ds, sp, rounds=3, export=base / "bundle")
    assert "gate_failure" not in run["after"]
    return base / "bundle", save_run(run, base / "run")


def test_the_data_root_is_the_federations_and_needs_its_run(federated):
    bundle, run_dir = federated
    with pytest.raises(ProvenanceError, match="SCORECHAIN_MODEL_FEDERATION"):
        model_commitments(bundle)
    c = model_commitments(bundle, federation_run=run_dir)
    assert c.dataset_root == federation_root(run_dir)
    doc = json.loads((run_dir / "run.json").read_text())
    assert len(doc["records"]) == 3 and all(r["updates"] for r in doc["records"])


def test_another_run_is_refused_and_a_changed_record_changes_the_root(federated, tmp_path):
    bundle, run_dir = federated
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    doc = json.loads((other / "run.json").read_text())
    doc["records"][0]["updates"][0]["sha256"] = "00" * 32
    (other / "run.json").write_text(json.dumps(doc))
    assert federation_root(other) != federation_root(run_dir)
    doc = json.loads((run_dir / "run.json").read_text())  # a statistics answer swapped instead
    doc["statistics"]["moments"][1]["sha256"] = "00" * 32
    (other / "run.json").write_text(json.dumps(doc))
    assert federation_root(other) != federation_root(run_dir)
    doc["federation"] = "0" * 16
    (other / "run.json").write_text(json.dumps(doc))
    with pytest.raises(ProvenanceError, match="is not the run of federation"):
        model_commitments(bundle, federation_run=other)


def test_the_federated_bundle_is_registered_and_approved_with_four_eyes(federated):
    from brownie import accounts
    bundle, run_dir = federated
    system = deploy_script.deploy([accounts[9].address], 1)
    c = governance.register_model(system, str(bundle), federation_run=str(run_dir))
    governance.approve_model(system, str(bundle), federation_run=str(run_dir))
    record = system.model_registry.getModel(c.model_id)
    assert bytes(model_field(record, "datasetRoot")) == federation_root(run_dir)
    assert system.model_registry.isApproved(c.model_id)
