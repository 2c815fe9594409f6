"""Reorgs of depth 1 to 5 in the middle of a batch, on anvil (`anvil_reorg`): the chain drops the
last `depth` blocks — the oracle transactions in them with it, which the nodes must re-broadcast —
and mines `depth` new ones, into which the removed loan requests are replayed in reverse order, so
a loan id can now belong to another borrower. Afterwards every request on the canonical chain is
recorded exactly once, every node's checkpoint holds exactly the canonical requests, all `done`,
and no transaction short of final.

The same once more by snapshot and revert (what a chain without anvil_reorg offers).

With SCORECHAIN_RELIABILITY_DIR set, each run writes what it observed to
<dir>/faults/reorg_depth_<d>.json or reorg_snapshot_revert.json (see test_faults)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest
from brownie import web3
from eth_utils import keccak

from oracle.abi import load_abi
from oracle.chain import SCORE_RECORDED_TOPIC, SCORE_REQUESTED_TOPIC, SCORE_SKIPPED_TOPIC

ERRORS = {"0x" + keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4].hex():
          e["name"] for e in load_abi("CreditScoreRegistry") if e["type"] == "error"}


def _logs(address, topic, from_block, to_block="latest"):
    return web3.provider.make_request("eth_getLogs", [{
        "address": address, "fromBlock": hex(from_block),
        "toBlock": to_block if isinstance(to_block, str) else hex(to_block),
        "topics": [topic]}])["result"]


def _rpc(method, params):
    r = web3.provider.make_request(method, params)
    assert "error" not in r, r
    return r.get("result")


def _error_name(log) -> str:
    """The custom error a ScoreSkipped carries (its ABI-encoded reason's selector, named)."""
    data = bytes.fromhex(log["data"][2:])
    offset = int.from_bytes(data[32:64], "big")
    length = int.from_bytes(data[offset:offset + 32], "big")
    selector = "0x" + data[offset + 32:offset + 32 + min(length, 4)].hex()
    return ERRORS.get(selector, selector)


def _wait_for_record_at_head(c, timeout=60):
    """Until the head block holds a ScoreRecorded (a batch just landed); the requests are then
    still being worked by the other nodes. Automine is switched off there, so the blocks the
    reorg removes are the ones inspected, and the nodes get a moment (7 polls) to scan the head
    and see their receipts: the reorg then takes back blocks they have read and transactions
    they hold confirmed."""
    reg = c.system.score_registry.address
    deadline = time.time() + timeout
    while time.time() < deadline:
        head = web3.eth.block_number
        if _logs(reg, SCORE_RECORDED_TOPIC, head, head):
            _rpc("evm_setAutomine", [False])
            time.sleep(1.5)
            return web3.eth.block_number
        time.sleep(0.02)
    raise TimeoutError("no batch landed")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_reorg_mid_batch_loses_nothing_and_records_nothing_twice(make_cluster, depth):
    c = make_cluster(n=3, k=2, n_borrowers=8, settings={"ORACLE_BATCH_SIZE": 3}).start()
    by_hash = _send_requests(c)
    try:
        head = _wait_for_record_at_head(c)
        removed = _removed(c, head - depth + 1, head)
        # the removed requests come back in reverse order, all in the first new block
        replay = [["0x" + by_hash[e["transactionHash"]].hex(), 0]
                  for e in reversed(removed["requests"])]
        _rpc("anvil_reorg", [depth, replay])
    finally:
        _rpc("evm_setAutomine", [True])
    # requests that were sent but not yet mined when automine stopped are in the pool still
    _check_after_reorg(c, f"reorg_depth_{depth}", depth, removed)


class LogsAfterRevertIncomplete(AssertionError):
    """anvil's eth_getLogs left a request out after evm_revert although its score is recorded."""


SNAPSHOT_REVERT_ATTEMPTS = 3


def test_reorg_by_snapshot_and_revert_loses_nothing_and_records_nothing_twice(make_cluster):
    """Run again (a new cluster and chain state), up to three runs in all, only when anvil's logs
    after evm_revert are incomplete; any other failure fails at once. Two runs were not enough:
    at about 1 run in 4, both hit it in a local CI run (every score recorded exactly once)."""
    for attempt in range(1, SNAPSHOT_REVERT_ATTEMPTS + 1):
        try:
            _snapshot_revert_run(make_cluster)
            return
        except LogsAfterRevertIncomplete:
            if attempt == SNAPSHOT_REVERT_ATTEMPTS:
                raise


def _snapshot_revert_run(make_cluster):
    """The same by the means every dev chain has (evm_snapshot/evm_revert), as a chain without
    anvil_reorg would be tested: a snapshot is taken at every block; when a batch lands, the
    nodes get a moment to read the receipt while mining goes on, then the chain is reverted to
    the snapshot two blocks under the batch. Every block after it is gone, so the nodes'
    transactions come back only by their re-broadcast; the removed requests are sent again in
    reverse order. (Not in the Ganache pass: the test bed's burst of set-up transactions stalls
    on Ganache 7.9.2, whose strict instamine mined 2 of 16 queued transactions and then none.)"""
    c = make_cluster(n=3, k=2, n_borrowers=8, settings={"ORACLE_BATCH_SIZE": 3}).start()
    reg = c.system.score_registry.address
    snapshots: dict[int, str] = {}
    by_hash = _send_requests(c)
    deadline, landed = time.time() + 90, None
    while landed is None and time.time() < deadline:
        n = web3.eth.block_number
        if n not in snapshots:
            snapshots[n] = _rpc("evm_snapshot", [])
            if _logs(reg, SCORE_RECORDED_TOPIC, n, n) and n - 2 in snapshots:
                landed = n
        time.sleep(0.01)
    assert landed is not None, "no batch landed in a block after a snapshot"
    time.sleep(1.5)  # the nodes see their receipts
    head = web3.eth.block_number
    fork = landed - 2
    removed = _removed(c, fork + 1, head)
    assert _rpc("evm_revert", [snapshots[fork]])
    # No check of the height here: the nodes' re-broadcasts may be automined at once (seen: 395
    # for 394), even into a block identical to a removed one (same parent, transactions and
    # second). That the nodes saw the reorg is checked below (scan rewinds, receipts gone).
    for e in reversed(removed["requests"]):
        _replay(by_hash[e["transactionHash"]])
    try:
        _check_after_reorg(c, "reorg_snapshot_revert", head - fork, removed)
    except LogsAfterRevertIncomplete:
        c.stop()  # its nodes must not act on the next run's chain
        raise


def _replay(raw: bytes) -> None:
    """Send a removed request again. anvil may refuse it as 'nonce too low' when the revert raced
    a block the nodes' transactions were mining (seen once in CI under load): the request is then
    on the chain already. Either way _check_after_reorg still requires every borrower's score
    recorded exactly once, so a request really lost fails the test there."""
    try:
        web3.eth.send_raw_transaction(raw)
    except Exception as exc:  # web3's Web3RPCError; anything else is raised
        if "nonce too low" not in str(exc):
            raise


def _send_requests(c) -> dict[str, bytes]:
    by_hash = {}
    for raw in c.sign_requests(c.borrowers):
        by_hash["0x" + bytes(web3.eth.send_raw_transaction(raw)).hex()] = raw
    return by_hash


def _removed(c, first: int, last: int) -> dict:
    lm, reg = c.system.loan_manager.address, c.system.score_registry.address
    return {"requests": _logs(lm, SCORE_REQUESTED_TOPIC, first, last),
            "records": _logs(reg, SCORE_RECORDED_TOPIC, first, last),
            "loan_of": {e["transactionHash"]: int(e["topics"][1], 16)
                        for e in _logs(lm, SCORE_REQUESTED_TOPIC, c.start_block, last)}}


def _check_after_reorg(c, name: str, depth: int, removed: dict) -> None:
    """Every request on the canonical chain recorded exactly once, every node's checkpoint
    holds exactly the canonical requests, all `done`, and no transaction short of final."""
    lm, reg = c.system.loan_manager.address, c.system.score_registry.address
    c.wait_recorded(c.borrowers, timeout=120)
    left = c.wait_settled(timeout=60)
    time.sleep(1)  # a duplicate that was on its way lands now
    c.wait_settled(timeout=10)

    # Every borrower's score is recorded (checked below), so every request is on the chain; under
    # load anvil has answered eth_getLogs once without the newest one (7 of 8, CI at 2x load):
    # read again for a few seconds before counting.
    deadline = time.time() + 10
    while True:
        requests = _logs(lm, SCORE_REQUESTED_TOPIC, c.start_block)
        canonical = {(e["transactionHash"], int(e["logIndex"], 16)) for e in requests}
        if len(canonical) >= len(c.borrowers) or time.time() > deadline:
            break
        time.sleep(0.5)
    before = removed["loan_of"]
    after = {e["transactionHash"]: int(e["topics"][1], 16) for e in requests}
    moved = sum(1 for tx, loan in after.items() if tx in before and before[tx] != loan)
    counts = {}
    for b, _ in c.recorded():
        counts[b] = counts.get(b, 0) + 1
    skipped_logs = _logs(reg, SCORE_SKIPPED_TOPIC, c.start_block)
    stores = []
    for node in c.nodes:
        db = sqlite3.connect(node.store)
        try:
            stores.append({(r[0], r[1]): r[2] for r in db.execute(
                "SELECT tx_hash, log_index, status FROM requests")})
        finally:
            db.close()
    lines = [e for n in c.nodes for e in n.log_lines()]
    reorged_tx = sum(1 for e in lines if e.get("msg") == "tx receipt gone (reorg): back in flight")
    rewinds = sum(1 for e in lines if e.get("msg") == "reorg: rewound the scan")
    cancels = sum(1 for e in lines if e.get("msg", "").startswith("tx a reorg took back"))
    observed = {
        "test": name, "depth": depth, "borrowers": len(c.borrowers),
        "removed_requests": len(removed["requests"]), "removed_records": len(removed["records"]),
        "loan_ids_moved_to_another_request": moved, "records_per_borrower": sorted(
            counts.get(b.address, 0) for b in c.borrowers),
        "score_skipped": len(skipped_logs),
        "skipped_why": sorted(_error_name(e) for e in skipped_logs),
        "node_scan_rewinds": rewinds, "node_tx_back_in_flight": reorged_tx,
        "node_stale_resends_cancelled": cancels, "open_work_per_node": left}
    base = os.environ.get("SCORECHAIN_RELIABILITY_DIR")
    if base:
        d = Path(base) / "faults"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.json").write_text(json.dumps(observed, indent=1) + "\n")

    assert removed["records"], "the reorg removed no record: it was not mid-batch"
    assert rewinds >= 1 and reorged_tx >= 1, observed  # the reorg hit what the nodes had read
    assert all(counts.get(b.address, 0) == 1 for b in c.borrowers), observed
    if len(canonical) < len(c.borrowers) and name == "reorg_snapshot_revert":
        # every borrower's score is recorded once (asserted above), so every request is on the
        # chain; anvil's eth_getLogs after evm_revert has left one out (7 of 8, about 1 run in 4)
        raise LogsAfterRevertIncomplete(observed)
    assert len(canonical) == len(c.borrowers)
    for store in stores:  # exactly the canonical requests, each done; nothing else
        assert set(store) == canonical, observed
        assert set(store.values()) == {"done"}, observed
    assert all(not w["requests"] and not w["transactions"] for w in left), observed
