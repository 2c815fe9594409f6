"""Anchor a federation run's rounds on chain, and check them (issue 15).

    python -m models federated run gmsc --out build/federation/run1      # the lenders train
    brownie run scripts/federation_anchor.py anchor build/federation/run1  # the aggregator
    brownie run scripts/federation_anchor.py check build/federation/run1   # anyone with run.json
    python -m models federated verify build/federation/run1               # a consortium member

or all of it in one command on a local chain: ``python -m models federate --clients 3 --rounds 10``
(:func:`anchor_on_chain`).

Each round is one DataAnchor batch, anchored by the aggregator (the data-provider role): the
OpenZeppelin-layout Merkle root of the leaves (lender address, update SHA-256) for every update
it accepted and (aggregator address, aggregate SHA-256), under the URI
``scorechain-fl:<federation>/round/<r>``; the statistics answers (what the preprocessing and the
bundle's references were built from) are one more batch, leaves (lender address, answer SHA-256),
under ``scorechain-fl:<federation>/statistics``. The public sees roots and hashes, never an update (an
update can leak a lender's rows). ``check`` rebuilds every round's root from run.json and finds it
anchored by the aggregator under that URI; ``verify`` (members, who hold the updates) proves each
aggregate from its updates.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from models.federated.protocol import RoundRecord
from oracle.merkle import MerkleTree, leaf

from .network_context import deployed, require_success, role_account, tx_params

ANCHORS = "anchors.json"
ROOT = Path(__file__).resolve().parents[1]


def _bytes32(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


def round_tree(record: RoundRecord, aggregator: str) -> MerkleTree:
    if record.aggregate_sha256 is None:
        raise ValueError(f"round {record.round} has no aggregate to anchor")
    return MerkleTree.build([leaf(u.address, _bytes32(u.sha256)) for u in record.updates]
                            + [leaf(aggregator, _bytes32(record.aggregate_sha256))])


def round_uri(federation: str, rnd: int) -> str:
    return f"scorechain-fl:{federation}/round/{rnd}"


STATISTICS_URI = "scorechain-fl:{federation}/statistics"


def statistics_tree(doc: dict) -> MerkleTree | None:
    """The statistics answers (every phase, every lender): leaves (lender address, answer
    SHA-256); None for a run recorded before statistics travelled over the wire."""
    leaves = [leaf(u["address"], _bytes32(u["sha256"]))
              for recs in doc.get("statistics", {}).values() for u in recs]
    return MerkleTree.build(leaves) if leaves else None


def _records(run_dir: Path) -> tuple[dict, list[RoundRecord]]:
    doc = json.loads((Path(run_dir) / "run.json").read_text())
    return doc, [RoundRecord.from_json(r) for r in doc["records"]]


def anchor_run(system, run_dir: Path) -> dict:
    """Anchor every round not anchored yet (a rerun after a crash anchors the rest); the batch ids
    go to <run>/anchors.json."""
    run_dir = Path(run_dir)
    doc, records = _records(run_dir)
    aggregator = role_account("data_provider").address
    path = run_dir / ANCHORS
    anchors = json.loads(path.read_text()) if path.exists() else {
        "aggregator": aggregator, "data_anchor": system.data_anchor.address, "rounds": {}}
    if anchors["aggregator"] != aggregator:
        raise ValueError(f"{path} was anchored by {anchors['aggregator']}, not {aggregator}")
    for rec in records:
        if str(rec.round) in anchors["rounds"]:
            continue
        tree = round_tree(rec, aggregator)
        tx = require_success(system.data_anchor.anchor(
            tree.root, round_uri(doc["federation"], rec.round), len(tree),
            tx_params("data_provider")))
        anchors["rounds"][str(rec.round)] = {"batch_id": int(tx.events["BatchAnchored"]["batchId"]),
                                             "root": "0x" + tree.root.hex()}
        path.write_text(json.dumps(anchors, indent=1) + "\n")  # after each: nothing anchored twice
    tree = statistics_tree(doc)
    if tree is not None and "statistics" not in anchors:
        tx = require_success(system.data_anchor.anchor(
            tree.root, STATISTICS_URI.format(federation=doc["federation"]), len(tree),
            tx_params("data_provider")))
        anchors["statistics"] = {"batch_id": int(tx.events["BatchAnchored"]["batchId"]),
                                 "root": "0x" + tree.root.hex()}
        path.write_text(json.dumps(anchors, indent=1) + "\n")
    return anchors


def check_run(system, run_dir: Path, aggregator: str) -> list[dict]:
    """Per round: is the root rebuilt from run.json anchored by ``aggregator`` under the round's
    URI?"""
    doc, records = _records(run_dir)
    roots = [(rec.round, round_tree(rec, aggregator).root, round_uri(doc["federation"], rec.round))
             for rec in records]
    if (tree := statistics_tree(doc)) is not None:
        roots.append(("statistics", tree.root, STATISTICS_URI.format(federation=doc["federation"])))
    out = []
    for rnd, root, uri in roots:
        batch_id = int(system.data_anchor.batchOf(aggregator, root))
        problem = None
        if batch_id == 0:
            problem = "root not anchored by the aggregator"
        elif system.data_anchor.getBatch(batch_id)["uri"] != uri:
            problem = "anchored under another URI"
        out.append({"round": rnd, "ok": problem is None, "batch_id": batch_id,
                    "problem": problem})
    return out


def anchor(run_dir: str):
    anchors = anchor_run(deployed(), Path(run_dir))
    print(f"{len(anchors['rounds'])} rounds" + (" and the statistics" if "statistics" in anchors
                                                 else "") + f" anchored by {anchors['aggregator']}")


def check(run_dir: str, aggregator: str = ""):
    run_dir = Path(run_dir)
    aggregator = aggregator or json.loads((run_dir / ANCHORS).read_text())["aggregator"]
    results = check_run(deployed(), run_dir, aggregator)
    for r in results:
        print(f"round {r['round']}: " + ("anchored, batch " + str(r["batch_id"]) if r["ok"]
                                         else r["problem"]))
    if not all(r["ok"] for r in results):
        raise SystemExit(1)


def anchor_on_chain(run_dir: Path, network_name: str = "development") -> tuple[dict, list[dict]]:
    """Anchor every round of ``run_dir`` and check the anchors, on ``network_name``: connected here
    unless this process already is; on a local chain started for the run a fresh system is
    deployed first (its oracle signer: the deployer, unused), elsewhere the deployment on
    record is used. Returns (anchors, check results)."""
    from brownie import network, project
    from brownie.network import rpc

    from . import brownie_rpc_quirks
    from .network_context import role_account

    run_dir, cwd = Path(run_dir).resolve(), os.getcwd()
    connect = not network.is_connected()
    if connect:
        os.chdir(ROOT)  # brownie compiles with paths relative to the project (node_modules/...)
        if not project.get_loaded_projects():
            proj = project.load(str(ROOT), name="Scorechain")
            proj.load_config()
            proj._add_to_main_namespace()
        brownie_rpc_quirks.install()
        network.connect(network_name)
    try:
        # a chain brownie started lives only as long as its process: nothing deployed on it
        # survives, so a system is deployed for the run
        if rpc.is_active() and rpc.is_child():
            deploy = importlib.import_module("scripts.01_deploy")
            system = deploy.deploy([role_account("deployer").address], threshold=1)
        else:
            system = deployed()
        anchors = anchor_run(system, run_dir)
        return anchors, check_run(system, run_dir, anchors["aggregator"])
    finally:
        if connect:
            network.disconnect()
            os.chdir(cwd)
