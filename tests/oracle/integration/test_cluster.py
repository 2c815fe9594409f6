"""Three oracle processes, threshold 2: loan requests become scores on chain, once each."""

import json
import time

import requests
from brownie import accounts, chain, web3

from models.schema import validate_row
from scripts.oracle_cluster import run_cli


def test_three_nodes_post_every_requested_score_exactly_once(make_cluster):
    c = make_cluster(n=3, k=2, n_borrowers=6).start()
    requested = [c.request_loan(b) for b in c.borrowers]
    got = c.wait_recorded(c.borrowers, timeout=60)
    assert all(len(blocks) == 1 for blocks in got.values()), got
    reg = c.system.score_registry
    for b, (loan_id, req_block) in zip(c.borrowers, requested):
        assert got[b.address][0] >= req_block
        rec = reg.latestScore(b)
        x = validate_row(c.model.schema, c.rows[b.address])
        assert rec[1] == c.model.predict(x).pd_bps  # pdBps recomputed independently
        # the request advanced the nonce once (voiding older attestations), the record once more
        assert reg.nonces(b) == rec["nonce"] == 1 == c.system.loan_manager.getLoan(loan_id)["scoreNonce"]
        assert not reg.scoreRequested(b)  # the request's one score is in
    # the transactions came from the transmitter keys; the signing keys sent nothing, hold nothing
    senders = {web3.eth.get_transaction(tx)["from"] for tx in _record_txs(c)}
    assert senders and senders <= set(c.cluster.transmitters())
    for node in c.nodes:
        assert web3.eth.get_transaction_count(node.address) == 0
        assert web3.eth.get_balance(node.address) == 0


def _record_txs(c):
    ours = {b.address for b in c.borrowers}
    events = c.system.score_registry.events.get_sequence(from_block=0, event_type="ScoreRecorded")
    return {"0x" + bytes(e.transactionHash).hex() for e in events if e.args.borrower in ours}


def test_a_leaders_waiting_requests_go_as_one_report_that_verifies(make_cluster):
    """Requests already waiting when the nodes start: a leader with several borrowers gathers
    co-signatures and report signatures in one round and posts one submitReport, whose k
    signatures the chain checks once for every entry; `oracle verify` accepts every transaction.
    Which leader holds which borrower depends on the blocks between request and start (failover),
    and a racing node's entry is skipped on chain, so only this is fixed: at least one report, and
    nothing but submit, submitReport or (when a peer refused an entry) submitBatch."""
    from oracle.chain import SUBMIT_BATCH_SELECTOR, SUBMIT_REPORT_SELECTOR, SUBMIT_SELECTOR

    c = make_cluster(n=3, k=2, n_borrowers=6)
    for b in c.borrowers:
        c.request_loan(b)
    c.start()
    got = c.wait_recorded(c.borrowers, timeout=60)
    assert all(len(blocks) == 1 for blocks in got.values()), got
    selectors = {}
    for h in _record_txs(c):
        selectors[h] = bytes(web3.eth.get_transaction(h)["input"])[:4]
        r = run_cli(["verify", h], c.nodes[0].env)
        assert r.returncode == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr
    assert set(selectors.values()) <= {SUBMIT_SELECTOR, SUBMIT_REPORT_SELECTOR, SUBMIT_BATCH_SELECTOR}
    assert SUBMIT_REPORT_SELECTOR in selectors.values(), selectors


def test_posted_transactions_verify_with_the_cli(make_cluster):
    c = make_cluster(n=3, k=2, n_borrowers=3).start()
    for b in c.borrowers:
        c.request_loan(b)
    c.wait_recorded(c.borrowers)
    # The transactions that recorded them, read from the chain (a node logs "tx mined" only on its
    # next loop step, which may come after the records are visible).
    ours = {b.address for b in c.borrowers}
    events = c.system.score_registry.events.get_sequence(from_block=0, event_type="ScoreRecorded")
    hashes = {"0x" + bytes(e.transactionHash).hex() for e in events if e.args.borrower in ours}
    assert hashes
    for h in hashes:
        r = run_cli(["verify", h], c.nodes[0].env)
        report = json.loads(r.stdout)
        assert r.returncode == 0 and report["ok"], r.stdout + r.stderr
        for att in report["attestations"]:
            assert len(att["checks"]["signers"]) == 2


def test_pull_mode_returns_a_submittable_attestation(make_cluster):
    c = make_cluster(n=3, k=2, n_borrowers=1, settings={"ORACLE_DAEMON": "false"}).start()
    b = c.borrowers[0]
    c.request_loan(b)  # the node signs only for a borrower with an open loan request
    r = c.pull(1, b)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["signatures"]) == 2
    att = body["attestation"]
    tup = (att["borrower"], att["modelId"], att["featuresHash"], att["pdBps"], att["score"],
           att["reasonCodes"], att["issuedAt"], att["validUntil"], att["nonce"], att["extensionHash"],
           att["configDigest"])
    assert att["configDigest"] == "0x" + bytes(c.system.score_registry.configDigest()).hex()
    assert "0x" + bytes(c.system.score_registry.hashAttestation(tup)).hex() == body["digest"]
    tx = c.system.score_registry.submit(tup, body["signatures"], {"from": accounts[7]})
    assert tx.events["ScoreRecorded"]["borrower"] == b.address
    path = c.workdir / "att.json"
    path.write_text(json.dumps(body))
    v = run_cli(["verify", str(path)], c.nodes[2].env)
    assert v.returncode == 0 and json.loads(v.stdout)["ok"], v.stdout + v.stderr


def test_a_report_signed_batch_and_a_config_change_verify_with_the_cli(make_cluster):
    """Pull two nodes' scores, sign them as one ScoreReport with two nodes' keys, submit it; then
    rotate the third signer out: `oracle verify --tx` still checks the report against the signer
    set its config digest names (read from ConfigSet), and says the config is no longer current."""
    from oracle import keys, typed_data
    from oracle.typed_data import ScoreAttestation

    c = make_cluster(n=3, k=2, n_borrowers=2, settings={"ORACLE_DAEMON": "false"}).start()
    reg = c.system.score_registry
    entries = []
    for b in c.borrowers:
        c.request_loan(b)
        r = c.pull(0, b)
        assert r.status_code == 200, r.text
        entries.append(ScoreAttestation.from_json(r.json()["attestation"]))
    config = bytes(reg.configDigest())
    assert all(e.configDigest == config for e in entries)
    digest = typed_data.report_digest(config, entries, typed_data.domain_separator(chain.id, reg.address))
    signers = [keys.load_keystore(n.keystore, c.cluster._password) for n in c.nodes[:2]]
    tx = reg.submitReport(config, [e.entry_tuple() for e in entries],
                          [s.sign_digest(digest) for s in signers], {"from": accounts[7]})
    assert tx.return_value == 2
    reg.rotateSigner(c.nodes[2].address, accounts[8], {"from": c.admin})
    r = run_cli(["verify", tx.txid], c.nodes[1].env)
    report = json.loads(r.stdout)
    assert r.returncode == 0 and report["ok"], r.stdout + r.stderr
    assert len(report["attestations"]) == 2
    for att in report["attestations"]:
        assert att["checks"]["signers"] == [s.address for s in signers]
        assert att["checks"]["config_is_current"] is False


def test_sigterm_shuts_down_cleanly_and_metrics_are_served(make_cluster):
    c = make_cluster(n=1, k=1, n_borrowers=1).start()
    c.request_loan(c.borrowers[0])
    c.wait_recorded(c.borrowers)
    deadline = time.time() + 10  # the node counts it when it resolves its receipt
    while True:
        m = requests.get(c.nodes[0].admin_url + "/metrics", timeout=5).text
        if "oracle_scores_recorded_total 1.0" in m or time.time() > deadline:
            break
        time.sleep(0.2)
    assert "oracle_scores_recorded_total 1.0" in m
    # the drift window counted that score (admin listener only; too few rows for a level yet)
    drift = requests.get(c.nodes[0].admin_url + "/drift", timeout=5)
    assert drift.status_code == 200 and drift.json()["rows"] >= 1
    assert drift.json()["model_id"] == c.nodes[0].healthz()[1]["model_id"]
    assert requests.get(c.nodes[0].url + "/drift", timeout=5).status_code == 404
    assert requests.get(c.nodes[0].peer_url + "/drift", timeout=5).status_code in (401, 404)
    status, health = c.nodes[0].healthz()
    assert status == 200 and health["status"] == "ok"
    assert "keystore_password" in health["settings"]
    assert health["settings"]["keystore_password"] == "set"
    assert c.nodes[0].terminate(timeout=20) == 0
    assert any(e.get("msg") == "oracle node stopped" for e in c.nodes[0].log_lines())
