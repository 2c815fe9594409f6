"""Chain fixtures for the oracle integration tests (run under `brownie test --network anvil-c`).

No fn_isolation here: the oracle nodes are separate processes talking to the same anvil, and a
brownie snapshot/revert under them would rewind the chain they follow. Instead every cluster
deploys a fresh Scorechain system, so tests do not share chain state.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import pytest
from brownie import accounts, chain, network, web3

from oracle import keys
from oracle.chain import SCORE_RECORDED_TOPIC
from scripts import brownie_rpc_quirks
from scripts.scorechain_deploy import deploy_system
from tests.oracle.integration.harness import (
    PASSWORD, ROOT, OracleProcess, TcpProxy, base_env, free_port, run_cli, write_features_csv)

brownie_rpc_quirks.install()  # Ganache 7 receipt race: see oracle.rpc_quirks


def default_model_path() -> Path:
    override = os.environ.get("SCORECHAIN_TEST_MODEL")
    if override:
        return Path(override)
    bundle = ROOT / "models" / "default"
    if not (bundle / "reference.json").is_file():
        pytest.skip("no committed default model bundle under models/default/")
    return bundle


@pytest.fixture(scope="session")
def model_path() -> Path:
    return default_model_path()


@pytest.fixture(scope="session")
def model_info(model_path):
    from oracle.scoring import load_model

    m = load_model(model_path)
    return m


def chain_url() -> str:
    return network.web3.provider.endpoint_uri


class Cluster:
    """A deployed system plus n oracle node processes (not started until `start()`)."""

    def __init__(self, workdir: Path, model_path: Path, model, n: int = 3, k: int = 2,
                 n_borrowers: int = 6, proxy: bool = False, settings: dict | None = None) -> None:
        self.workdir = workdir
        # the nodes run a private copy of the bundle: the model under models/default may be
        # retrained while a run is in progress, and the nodes must load what was registered
        self.model_path = workdir / "bundle"
        shutil.copytree(model_path, self.model_path)
        from oracle.scoring import load_model

        model = load_model(self.model_path)
        self.model = model
        self.n, self.k = n, k
        admin = accounts[0]
        self.admin = admin
        self.keys = [keys.Signer(secrets.token_bytes(32)) for _ in range(n)]
        self.system = deploy_system(
            admin, oracle_signers=[s.address for s in self.keys], threshold=k,
            roles={"model_registrar": accounts[1], "model_approver": accounts[2]})
        mr = self.system.model_registry
        mr.register(model.model_id, b"\x00" * 32, b"\x00" * 32,
                    bytes.fromhex(model.schema_hash), "models/default", 1, {"from": accounts[1]})
        mr.approve(model.model_id, {"from": accounts[2]})
        for s in self.keys:  # gas money for the nodes
            admin.transfer(s.address, "10 ether")
        self.borrowers = self.new_borrowers(n_borrowers)
        self.rows = write_features_csv(workdir / "features.csv", model.schema,
                                       [b.address for b in self.borrowers], seed=n_borrowers)
        self.proxy = None
        rpc = chain_url()
        if proxy:
            target = int(rpc.rsplit(":", 1)[1])
            self.proxy = TcpProxy(target, free_port(8700, 8799)).start()
            rpc = f"http://127.0.0.1:{self.proxy.port}"
        ports = [free_port() for _ in range(n)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        self.start_block = web3.eth.block_number
        self._recorded: list[tuple[str, int]] = []
        self._recorded_to = self.start_block - 1
        self.nodes: list[OracleProcess] = []
        for i in range(n):
            d = workdir / f"node{i}"
            d.mkdir()
            ks = d / "keystore.json"
            keys.create_keystore(ks, PASSWORD, self.keys[i].private_key_bytes(), kdf_light=True)
            env = base_env(
                ORACLE_RPC_URL=rpc,
                ORACLE_REGISTRY_ADDRESS=self.system.score_registry.address,
                ORACLE_LOAN_MANAGER_ADDRESS=self.system.loan_manager.address,
                ORACLE_KEYSTORE_PATH=ks, ORACLE_KEYSTORE_PASSWORD=PASSWORD,
                ORACLE_STORE_PATH=d / "oracle.db", ORACLE_MODEL_PATH=self.model_path,
                ORACLE_NODE_INDEX=i, ORACLE_NODES=",".join(urls), ORACLE_HTTP_PORT=ports[i],
                ORACLE_START_BLOCK=self.start_block, ORACLE_CONFIRMATIONS=0,
                ORACLE_POLL_INTERVAL_S=0.2, ORACLE_FAILOVER_BLOCKS=3, ORACLE_PEER_TIMEOUT_S=3,
                ORACLE_RPC_TIMEOUT_S=3, ORACLE_BREAKER_COOLDOWN_S=2, ORACLE_REFRESH_BEFORE_S=0,
                ORACLE_MODEL_CHECK_TTL_S=1, ORACLE_LOG_LEVEL="INFO",
            )
            env.update({k: str(v) for k, v in (settings or {}).items()})
            self.import_features(env, workdir / "features.csv")
            self.nodes.append(OracleProcess(i, d, env))

    def new_borrower(self):
        return self.new_borrowers(1)[0]

    def new_borrowers(self, n: int) -> list:
        """n fresh borrower accounts (keys generated now), funded and KYC-registered. Sent with
        plain web3 from the unlocked admin account and awaited together: fast, and free of
        brownie's per-transaction confirmation bookkeeping."""
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
        for h in hashes:
            assert web3.eth.wait_for_transaction_receipt(h, timeout=60)["status"] == 1
        return out

    def import_features(self, env: dict, csv_path: Path) -> None:
        r = run_cli(["features", "import", str(csv_path)], env)
        assert r.returncode == 0, r.stderr

    def start(self, which=None) -> "Cluster":
        for node in self.nodes if which is None else [self.nodes[i] for i in which]:
            node.start()
        for node in self.nodes if which is None else [self.nodes[i] for i in which]:
            node.wait_ready()
        return self

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
            assert r["status"] == 1
            blocks.append(r["blockNumber"])
        return blocks

    def recorded(self) -> list:
        """Every ScoreRecorded of this system's registry since deployment, in chain order.

        Read incrementally (only blocks not read before): the benchmarks poll this while the
        nodes work, and re-reading every record each time made the harness, not the oracle, the
        bottleneck of a long backlog."""
        reg = self.system.score_registry
        head = web3.eth.block_number
        if head < self._recorded_to:  # the chain went back (revert): read everything again
            self._recorded, self._recorded_to = [], self.start_block - 1
        if head > self._recorded_to:
            logs = web3.provider.make_request("eth_getLogs", [{
                "address": reg.address, "fromBlock": hex(self._recorded_to + 1),
                "toBlock": hex(head), "topics": [SCORE_RECORDED_TOPIC]}])["result"]
            for log in logs:
                borrower = web3.to_checksum_address("0x" + log["topics"][1][-40:])
                self._recorded.append((borrower, int(log["blockNumber"], 16)))
            self._recorded_to = head
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

    def stop(self) -> None:
        for node in self.nodes:
            try:
                node.terminate(timeout=20)
            except Exception:
                node.kill9()
        if self.proxy:
            self.proxy.stop()


@pytest.fixture
def make_cluster(tmp_path, model_path, model_info):
    made: list[Cluster] = []

    def make(**kw) -> Cluster:
        d = tmp_path / f"cluster{len(made)}"
        d.mkdir()
        c = Cluster(d, model_path, model_info, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
