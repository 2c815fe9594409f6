"""A fresh Scorechain system on the connected brownie chain with a k-of-n oracle cluster in front
of it: the set-up the oracle integration tests and the benchmarks share.

    bed = OracleTestbed(workdir, ROOT / "models/default", n=3, k=2, n_borrowers=6)
    bed.start()                                   # every node up and answering /healthz
    bed.request_loan(bed.borrowers[0])
    bed.wait_recorded(bed.borrowers[:1])          # ScoreRecorded seen on chain
    bed.stop()

The nodes are run by scripts.oracle_cluster.LocalOracleCluster (the demo's supervisor too), with
short timings so faults play out in seconds (`settings` overrides any of them). With
`proxy=True` they reach the chain through a cuttable scripts.tcp_proxy.TcpProxy (`bed.proxy`).

Ports: node HTTP ports come from 9100-9199, proxy ports from 8700-8799; on a machine shared with
other runs, SCORECHAIN_TEST_PORTS=9200-9299,8800-8899 (HTTP range, proxy range) moves them.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import numpy as np
from brownie import accounts, chain, web3

from oracle import content_id
from oracle.chain import SCORE_RECORDED_TOPIC
from oracle.provenance import metrics_hash
from scripts.oracle_cluster import LocalOracleCluster, free_port
from scripts.tcp_proxy import TcpProxy

DEFAULT_PORTS = ((9100, 9199), (8700, 8799))

#: node settings of the test bed: fast polling and failover, short timeouts and cool-downs; a
#: block is final 8 blocks behind the head (the reorg tests go 5 deep)
TEST_TIMINGS = {
    "ORACLE_CONFIRMATIONS": 0, "ORACLE_FINALITY_DEPTH": 8, "ORACLE_POLL_INTERVAL_S": 0.2, "ORACLE_FAILOVER_BLOCKS": 3,
    "ORACLE_PEER_TIMEOUT_S": 3, "ORACLE_RPC_TIMEOUT_S": 3, "ORACLE_BREAKER_COOLDOWN_S": 2,
    "ORACLE_REFRESH_BEFORE_S": 0, "ORACLE_MODEL_CHECK_TTL_S": 1, "ORACLE_LOG_LEVEL": "INFO",
    # every request of a test comes from 127.0.0.1: the flood test sets its own, low limit
    "ORACLE_PUBLIC_RATE_LIMIT": "1000/second",
}


def port_ranges(spec: str | None = None) -> tuple[tuple[int, int], tuple[int, int]]:
    """(HTTP range, proxy range) from `spec` or SCORECHAIN_TEST_PORTS ("lo-hi[,lo-hi]"; one
    range serves both); the defaults when unset."""
    spec = spec if spec is not None else os.environ.get("SCORECHAIN_TEST_PORTS", "")
    if not spec.strip():
        return _worker_slice(DEFAULT_PORTS)
    ranges = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        ranges.append((int(lo), int(hi)))
    return ranges[0], ranges[1] if len(ranges) > 1 else ranges[0]


def _worker_slice(ranges):
    """Under pytest-xdist each worker takes its own slice of the ranges: two workers scanning one
    range for a free port could both pick it before either node binds it. (brownie gives each
    worker its own chain port, 8545 + the worker's number.)"""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker.startswith("gw") or count < 2:
        return ranges
    index = int(worker[2:])

    def part(lo: int, hi: int) -> tuple[int, int]:
        width = (hi - lo + 1) // count
        return lo + index * width, lo + (index + 1) * width - 1

    return tuple(part(*r) for r in ranges)


def random_rows(schema: dict, n: int, seed: int) -> list[dict]:
    """Plausible rows inside the schema's ranges."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = {}
        for f in schema["features"]:
            lo, hi = f.get("min", 0), f.get("max", 100)
            if f["type"] == "category":
                row[f["name"]] = f["categories"][int(rng.integers(len(f["categories"])))]
            elif f["type"] == "int":
                row[f["name"]] = int(rng.integers(lo, min(hi, lo + 10) + 1))
            else:
                row[f["name"]] = round(float(rng.uniform(lo, min(hi, lo + 3))), 4)
        rows.append(row)
    return rows


def write_features_csv(path: Path, schema: dict, borrowers: list[str], seed: int = 1,
                       salts: dict[str, bytes] | None = None,
                       rows: list[dict] | None = None) -> dict[str, dict]:
    """An `oracle features import` CSV with a row per borrower (random unless `rows` gives
    them); returns the rows."""
    rows = random_rows(schema, len(borrowers), seed) if rows is None else rows
    names = [f["name"] for f in schema["features"]]
    out = {}
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["borrower", "salt"] + names)
        w.writeheader()
        for b, row in zip(borrowers, rows):
            salt = (salts or {}).get(b) or secrets.token_bytes(32)
            w.writerow({"borrower": b, "salt": "0x" + salt.hex(), **row})
            out[b] = row
    return out


class OracleTestbed:
    """A deployed system plus n oracle node processes (not started until `start()`)."""

    def __init__(self, workdir: Path, model_path: Path, n: int = 3, k: int = 2,
                 n_borrowers: int = 6, proxy: bool = False, settings: dict | None = None,
                 zero_gas: bool = False, zk_circuit: Path | None = None,
                 rows: list[dict] | None = None) -> None:
        """`zero_gas`: run the nodes as on a consortium chain with no base fee and a zero gas
        price: their transmitter keys get no ETH and they pay no priority fee. `zk_circuit`: the
        model's circuit directory (python -m models zk setup), attached before approval, so the
        model is zk-scored. `rows`: the borrowers' feature rows (default: random ones)."""
        from oracle.scoring import load_model
        self.workdir = Path(workdir)
        # the nodes run a private copy of the bundle: the model under models/default may be
        # retrained while a run is in progress, and the nodes must load what was registered
        self.model_path = self.workdir / "bundle"
        shutil.copytree(model_path, self.model_path)
        self.model = load_model(self.model_path)
        self.n, self.k = n, k
        http_ports, proxy_ports = port_ranges()
        self.proxy = None
        rpc = web3.provider.endpoint_uri
        if proxy:
            target = int(rpc.rsplit(":", 1)[1])
            self.proxy = TcpProxy(target, free_port(*proxy_ports)).start()
            rpc = f"http://127.0.0.1:{self.proxy.port}"
        self.cluster = LocalOracleCluster(self.workdir, n=n, rpc_url=rpc, addresses={},
                                          model_path=str(self.model_path), http_ports=http_ports)
        self.nodes = self.cluster.nodes
        signers = self.cluster.create_keys()
        self.admin = accounts[0]
        self.zero_gas = zero_gas
        self._deploy(signers, k, zk_circuit)  # a false "dropped" verdict is re-checked: scripts.brownie_rpc_quirks
        self.borrowers = self.new_borrowers(n_borrowers if rows is None else len(rows))
        self.rows = write_features_csv(self.workdir / "features.csv", self.model.schema,
                                       [b.address for b in self.borrowers], seed=n_borrowers,
                                       rows=rows)
        self.start_block = web3.eth.block_number
        self._recorded: list[tuple[str, int]] = []
        self._recorded_to = self.start_block - 1
        self._recorded_to_hash: bytes | None = None
        self.cluster.addresses = self.system.addresses()
        zero_fees = {"ORACLE_PRIORITY_FEE_GWEI": "0", "ORACLE_LOW_BALANCE_ETH": "0"} if zero_gas else {}
        self.cluster.extra_env = {**TEST_TIMINGS, "ORACLE_START_BLOCK": self.start_block, **zero_fees,
                                  **(settings or {})}
        self.cluster.import_features(self.workdir / "features.csv")

    def _deploy(self, signers: list[str], k: int, zk_circuit: Path | None) -> None:
        # the contract containers it imports exist once brownie has loaded the project
        from scripts.scorechain_deploy import deploy_system

        self.system = deploy_system(
            self.admin, oracle_signers=signers, threshold=k,
            roles={"model_registrar": accounts[1], "model_approver": accounts[2]})
        mr = self.system.model_registry
        # the card's real metrics hash (what `oracle verify --disclosure` checks); the data-set
        # root is left zero here (computing it takes seconds; scripts/02 registers the real one)
        card = json.loads((self.model_path / "model_card.json").read_text())
        # under the bundle directory's ipfs:// URI, as scripts/02 registers it
        mr.register(self.model.model_id, metrics_hash(card), b"\x00" * 32,
                    bytes.fromhex(self.model.schema_hash),
                    content_id.uri(content_id.path_cid(self.model_path)), 1,
                    {"from": accounts[1]})
        if zk_circuit is not None:
            self.zk_verifier = self._attach_circuit(Path(zk_circuit))
        mr.approve(self.model.model_id, {"from": accounts[2]})
        for t in [] if self.zero_gas else self.cluster.transmitters():  # gas money for the transmitters
            self.admin.transfer(t, "10 ether")

    def _attach_circuit(self, zk_dir: Path) -> str:
        """The circuit's verifier deployed and recorded with its key's hash (as scripts/02)."""
        from models import zk

        info = json.loads((zk_dir / "zk.json").read_text())
        compiled = zk.evm_verifier(zk_dir)
        verifier = accounts[1].transfer(data="0x" + compiled["bytecode"]).contract_address
        self.system.model_registry.setZkCircuit(self.model.model_id, verifier, "0x" + info["vk_sha256"],
                                                info["output_scale"], {"from": accounts[1]})
        return verifier

    def new_borrower(self):
        return self.new_borrowers(1)[0]

    def new_borrowers(self, n: int) -> list:
        """n fresh borrower accounts (keys generated now), funded, KYC-registered and enrolled by
        their own consent transaction. Sent with plain web3 (the admin's from the unlocked account,
        each borrower's signed with its key) and awaited together: fast, and free of brownie's
        per-transaction confirmation bookkeeping."""
        out = [accounts.add(secrets.token_hex(32)) for _ in range(n)]
        reg = web3.eth.contract(address=self.system.borrower_registry.address,
                                abi=self.system.borrower_registry.abi)
        expiry = web3.eth.get_block("latest").timestamp + 10 * 365 * 86400
        admin = self.admin.address
        nonce = web3.eth.get_transaction_count(admin, "pending")
        hashes = []
        for b in out:
            for tx in ({"to": b.address, "value": 10**18},
                       {"to": reg.address, "data": reg.encode_abi(
                           "register", args=[b.address, secrets.token_bytes(32), b"GB", expiry])}):
                tx.update({"from": admin, "nonce": nonce, "gas": 200_000,
                           "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**9})
                hashes.append(web3.eth.send_transaction(tx))
                nonce += 1
        self._await(hashes)
        terms = reg.functions.consentTerms().call()
        data = reg.encode_abi("consent", args=[terms])
        chain_id = web3.eth.chain_id
        signed = [web3.eth.account.sign_transaction(
            {"to": reg.address, "data": data, "value": 0, "type": 2, "nonce": 0, "gas": 200_000,
             "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**9, "chainId": chain_id},
            b.private_key).raw_transaction for b in out]
        self._await([web3.eth.send_raw_transaction(raw) for raw in signed])
        return out

    @staticmethod
    def _await(hashes) -> None:
        for h in hashes:
            if web3.eth.wait_for_transaction_receipt(h, timeout=60)["status"] != 1:
                raise RuntimeError(f"borrower set-up transaction {h.hex()} reverted")

    def start(self, which: list[int] | None = None) -> "OracleTestbed":
        """Start the nodes (every node unless `which`) and wait until they answer."""
        self.cluster.start(which)
        self.cluster.wait_ready(indices=which)
        return self

    def pull(self, node: int, requester, borrower: str | None = None, **kw):
        """POST /v1/score to node `node`'s public listener, signed by `requester` (an account
        with a key) for `borrower` (default: itself); the response as it came."""
        from oracle.pull_client import pull_score

        key = getattr(requester, "private_key", None) or requester.key  # brownie or eth-account
        return pull_score(self.nodes[node].url, key, chain.id,
                          self.system.score_registry.address, borrower=borrower, **kw)

    def delegation(self, borrower, delegate: str, **kw) -> dict:
        """`borrower`'s signed grant letting `delegate` pull its score."""
        from oracle.pull_client import delegation

        key = getattr(borrower, "private_key", None) or borrower.key
        return delegation(key, delegate, chain.id,
                          self.system.score_registry.address, **kw)

    def request_loan(self, borrower, principal: int = 1_000 * 10**6):
        tx = self.system.loan_manager.request(principal, 1200, 90 * 86400, 3,
                                              {"from": borrower})
        return tx.events["ScoreRequested"]["loanId"], tx.block_number

    def sign_requests(self, borrowers, principal: int = 1_000 * 10**6) -> list[bytes]:
        """One signed LoanManager.request per borrower (plain web3, no brownie bookkeeping)."""
        lm = web3.eth.contract(address=self.system.loan_manager.address,
                               abi=self.system.loan_manager.abi)
        data = lm.encode_abi("request", args=[principal, 1200, 90 * 86400, 3])
        chain_id = web3.eth.chain_id
        out = []
        for b in borrowers:
            tx = {"to": lm.address, "data": data, "value": 0, "type": 2,
                  "nonce": web3.eth.get_transaction_count(b.address, "pending"),
                  "gas": 300_000, "maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**9,
                  "chainId": chain_id}
            out.append(bytes(web3.eth.account.sign_transaction(tx, b.private_key).raw_transaction))
        return out

    def request_loans_raw(self, borrowers, principal: int = 1_000 * 10**6) -> list[int]:
        """Many requests quickly: `sign_requests`, sent, then awaited together. Returns the block
        of each request."""
        hashes = [web3.eth.send_raw_transaction(raw)
                  for raw in self.sign_requests(borrowers, principal)]
        blocks = []
        for h in hashes:
            r = web3.eth.wait_for_transaction_receipt(h, timeout=60)
            if r["status"] != 1:
                raise RuntimeError(f"loan request {h.hex()} reverted")
            blocks.append(r["blockNumber"])
        return blocks

    def recorded(self) -> list:
        """Every ScoreRecorded of this system's registry since deployment, in chain order.

        Read incrementally (only blocks not read before): the benchmarks poll this while the
        nodes work, and re-reading every record each time made the harness, not the oracle, the
        bottleneck of a long backlog."""
        reg = self.system.score_registry
        head = web3.eth.block_number
        if head < self._recorded_to or (self._recorded_to_hash is not None and bytes(
                web3.eth.get_block(self._recorded_to)["hash"]) != self._recorded_to_hash):
            # the chain went back (revert) or a reorg replaced blocks read: read everything again
            self._recorded, self._recorded_to = [], self.start_block - 1
            self._recorded_to_hash = None
        if head > self._recorded_to:
            logs = web3.provider.make_request("eth_getLogs", [{
                "address": reg.address, "fromBlock": hex(self._recorded_to + 1),
                "toBlock": hex(head), "topics": [SCORE_RECORDED_TOPIC]}])["result"]
            for log in logs:
                borrower = web3.to_checksum_address("0x" + log["topics"][1][-40:])
                self._recorded.append((borrower, int(log["blockNumber"], 16)))
            self._recorded_to = head
            self._recorded_to_hash = bytes(web3.eth.get_block(head)["hash"])
        return list(self._recorded)

    def wait_recorded(self, borrowers, timeout: float = 60, mine: bool = True) -> dict:
        """Wait until every borrower has a ScoreRecorded; mines empty blocks meanwhile (anvil
        automine only makes blocks on transactions, and failover counts blocks)."""
        want = {b if isinstance(b, str) else b.address for b in borrowers}
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = {}
            for b, blk in self.recorded():
                got.setdefault(b, []).append(blk)
            if want <= set(got):
                return got
            if mine:
                chain.mine()
            time.sleep(0.3)
        logs = "\n\n".join(f"node {n.index}:\n{n.log_tail(15)}" for n in self.nodes)
        raise TimeoutError(f"not recorded: {sorted(want - set(got))}\n{logs}")

    def open_work(self) -> list[dict]:
        """Per node: requests not yet `done` (pending or recorded but not final) and transactions
        not yet final (unstarted, in flight or confirmed), read from its store."""
        import sqlite3

        out = []
        for node in self.nodes:
            db = sqlite3.connect(node.store)
            try:
                out.append({
                    "requests": dict(db.execute("SELECT status, COUNT(*) FROM requests WHERE "
                                                "status != 'done' GROUP BY status").fetchall()),
                    "transactions": dict(db.execute(
                        "SELECT status, COUNT(*) FROM submissions WHERE status IN "
                        "('unstarted', 'inflight', 'confirmed') GROUP BY status").fetchall())})
            finally:
                db.close()
        return out

    def wait_settled(self, timeout: float = 60) -> list[dict]:
        """Mine blocks until every node has no open work (everything final); returns the last
        `open_work`."""
        deadline = time.time() + timeout
        while True:
            left = self.open_work()
            if all(not w["requests"] and not w["transactions"] for w in left):
                return left
            if time.time() > deadline:
                return left
            chain.mine()
            time.sleep(0.3)

    def stop(self) -> None:
        try:
            self.cluster.stop()
        finally:
            if self.proxy:
                self.proxy.stop()
