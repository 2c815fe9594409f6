"""scripts/federation_anchor.py (issue 15): the aggregator anchors each round's root (the lenders'
update hashes and the aggregate's) in DataAnchor; anyone holding run.json finds every round
anchored, and a record changed after the fact no longer matches its anchor."""

import importlib
import json
import re

import pytest

from models.data import load_dataset, make_splits
from models.federated.audit import save_run
from models.federated.run import run_federation

fed = importlib.import_module("scripts.federation_anchor")
deploy_script = importlib.import_module("scripts.01_deploy")


@pytest.fixture(scope="module", autouse=True)
def module_clean_chain(module_isolation):
    pass


@pytest.fixture(scope="module")
def system():
    from brownie import accounts
    return deploy_script.deploy([accounts[9].address], 1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    ds = load_dataset("german")
    sp = make_splits(ds.y, ds.X)
    return save_run(run_federation(ds, sp, rounds=3), tmp_path_factory.mktemp("fl") / "run")


def test_every_round_is_anchored_once_and_checks(system, run_dir):
    anchors = fed.anchor_run(system, run_dir)
    assert sorted(anchors["rounds"]) == ["1", "2", "3"]
    again = fed.anchor_run(system, run_dir)  # a rerun (after a crash) anchors nothing twice
    assert again["rounds"] == anchors["rounds"]
    results = fed.check_run(system, run_dir, anchors["aggregator"])
    assert [(r["round"], r["ok"]) for r in results] == [(1, True), (2, True), (3, True),
                                                        ("statistics", True)]
    assert [r["batch_id"] for r in results] == [anchors["rounds"][str(i)]["batch_id"]
                                                for i in (1, 2, 3)] + [
        anchors["statistics"]["batch_id"]]
    doc = json.loads((run_dir / "run.json").read_text())
    batch = system.data_anchor.getBatch(anchors["rounds"]["2"]["batch_id"])
    assert batch["uri"] == f"scorechain-fl:{doc['federation']}/round/2"
    assert batch["recordCount"] == len(doc["records"][1]["updates"]) + 1


def test_a_record_changed_after_anchoring_fails_the_check(system, run_dir, tmp_path):
    anchors = fed.anchor_run(system, run_dir)
    doc = json.loads((run_dir / "run.json").read_text())
    doc["records"][0]["aggregate_sha256"] = "00" * 32
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "run.json").write_text(json.dumps(doc))
    results = fed.check_run(system, changed, anchors["aggregator"])
    assert [r["ok"] for r in results] == [False, True, True, True]
    assert results[0]["problem"] == "root not anchored by the aggregator"
    # a statistics answer swapped after anchoring (the preprocessing's inputs) is found too
    doc = json.loads((run_dir / "run.json").read_text())
    doc["statistics"]["sketch"][0]["sha256"] = "11" * 32
    (changed / "run.json").write_text(json.dumps(doc))
    results = fed.check_run(system, changed, anchors["aggregator"])
    assert [r["ok"] for r in results] == [True, True, True, False]
    from brownie import accounts
    stranger = fed.check_run(system, run_dir, accounts[5].address)  # not who anchored
    assert not any(r["ok"] for r in stranger)


def test_federate_trains_verifies_and_anchors_every_round_in_one_command(tmp_path, capsys):
    from models.__main__ import main
    out = tmp_path / "fed"
    assert main(["federate", "--dataset", "german", "--clients", "3", "--rounds", "2",
                 "--out", str(out), "--export", str(tmp_path / "bundle")]) == 0
    text = capsys.readouterr().out
    # 2 rounds, 2 statistics rounds, and the export's statistics (cut-off band, monitoring)
    checks = re.search(r"verified as a member: (\d+) of (\d+) checks passed", text)
    assert checks and checks[1] == checks[2] and int(checks[1]) >= 6
    assert "3 of 3 batches (rounds and statistics) found on chain" in text
    assert "gates passed" in text and (tmp_path / "bundle" / "manifest.json").exists()
    anchors = json.loads((out / fed.ANCHORS).read_text())
    assert sorted(anchors["rounds"]) == ["1", "2"]
    doc = json.loads((out / "run.json").read_text())
    assert len(doc["institutions"]) == 3
    assert {"sketch", "moments", "monitoring_sample", "monitoring_counts"} <= set(doc["statistics"])


def test_federate_refuses_a_lender_count_the_data_set_has_no_split_for(capsys):
    from models.__main__ import main
    assert main(["federate", "--dataset", "german", "--clients", "7", "--rounds", "1"]) == 2
    assert "german splits into 2, 3, 4, 5 lenders, not 7" in capsys.readouterr().err
