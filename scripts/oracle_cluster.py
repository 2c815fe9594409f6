"""Run a local k-of-n oracle network: n `oracle serve` processes, each with its own encrypted
keystore, feature store and three HTTP listeners (public pulls, peer signing, admin health and
metrics) — the same commands an operator runs, on one machine.

    cluster = LocalOracleCluster(workdir, n=3, rpc_url=..., addresses=...)
    cluster.create_keys()                  # encrypted keystores; returns the signer addresses
    cluster.import_features(csv_path)     # `oracle features import` into every node's store
    cluster.start(); cluster.wait_ready()
    ...
    cluster.stop()                         # SIGTERM, bounded wait, then SIGKILL

This is the one supervisor of oracle processes: the demo, the integration tests and the
benchmarks all run their nodes through it (the tests and benchmarks through
`scripts.oracle_testbed`, which deploys a system for it). A single node can also be driven on its
own (`cluster.nodes[i].kill9()`, `.start().wait_ready()`, `.terminate()`) for fault injection.

The keystore password is generated per cluster and handed to the nodes through the environment
(ORACLE_KEYSTORE_PASSWORD); it is never written to disk or logged.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

from oracle import keys

ROOT = Path(__file__).resolve().parents[1]
#: the demo's node HTTP ports (the test bed uses its own range, see scripts.oracle_testbed)
DEMO_HTTP_PORTS = (9300, 9399)

_HANDED_OUT: dict[int, None] = {}  # insertion-ordered: oldest first


def free_port(lo: int, hi: int) -> int:
    """A port in [lo, hi] that is free now and was not handed out recently in this process (a node
    that was just stopped may still hold its port for a moment, and one not started yet has not
    bound its port). When the range runs out — a long session starts many clusters of three
    listeners per node — the older half of the handed-out ports is forgotten: those nodes have long
    stopped, and the bind test still skips any port in use."""
    for _pass in range(2):
        for port in range(lo, hi + 1):
            if port in _HANDED_OUT:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                _HANDED_OUT[port] = None
                return port
        in_range = [p for p in _HANDED_OUT if lo <= p <= hi]
        for port in in_range[: len(in_range) // 2]:
            del _HANDED_OUT[port]
    raise RuntimeError(f"no free port in {lo}-{hi}")


def run_cli(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m oracle <args>` with `env`, from the repository root; output captured."""
    return subprocess.run([sys.executable, "-m", "oracle", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def parse_log_lines(path: Path) -> list[dict]:
    """A node's JSON log lines (lines that are not JSON are skipped)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


@dataclass
class OracleNodeProcess:
    """One `python -m oracle serve` process; its environment comes from its cluster."""

    index: int
    workdir: Path
    port: int  # public listener (borrowers' pulls)
    peer_port: int  # peer listener (/v1/sign from the other nodes)
    admin_port: int  # admin listener (/healthz, /metrics)
    env_for: Callable[["OracleNodeProcess"], dict] = field(repr=False)
    address: str = ""  # the attestation signing key's
    transmitter: str = ""  # the key that sends the node's transactions and pays their gas
    proc: subprocess.Popen | None = None
    starts: int = 0  # how many times this node was started (restarts count)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def env(self) -> dict:
        return self.env_for(self)

    @property
    def keystore(self) -> Path:
        return self.workdir / "keystore.json"

    @property
    def transmitter_keystore(self) -> Path:
        return self.workdir / "transmitter.json"

    @property
    def store(self) -> Path:
        return self.workdir / "oracle.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "node.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "OracleNodeProcess":
        if self.alive():
            raise RuntimeError(f"oracle node {self.index} is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "oracle", "serve"], env=self.env,
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until GET /healthz answers (any status); raises if the process exits first."""
        deadline = time.time() + timeout
        while True:
            if self.proc is None:
                raise RuntimeError(f"oracle node {self.index} was never started")
            if self.proc.poll() is not None:
                raise RuntimeError(f"oracle node {self.index} exited {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                requests.get(self.admin_url + "/healthz", timeout=1)
                return
            except requests.RequestException:
                if time.time() > deadline:
                    raise TimeoutError(f"oracle node {self.index} not ready:\n"
                                       + self.log_tail()) from None
                time.sleep(0.2)

    def healthz(self) -> tuple[int, dict]:
        r = requests.get(self.admin_url + "/healthz", timeout=3)
        return r.status_code, r.json()

    def signal(self, sig: int) -> None:
        if self.alive():
            self.proc.send_signal(sig)

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM and wait; SIGKILL (and raise TimeoutExpired) if it outlives `timeout`."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def log_lines(self) -> list[dict]:
        return parse_log_lines(self.log_path)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


@dataclass
class LocalOracleCluster:
    workdir: Path
    n: int
    rpc_url: str
    addresses: dict  # deployments-file contract addresses
    model_path: str = "models/default"
    extra_env: dict = field(default_factory=dict)  # ORACLE_* overrides, e.g. test timings
    http_ports: tuple[int, int] = DEMO_HTTP_PORTS
    node_rpc: dict = field(default_factory=dict)  # node index -> its own RPC URL (e.g. a cuttable proxy)
    _password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.nodes = [OracleNodeProcess(i, self.workdir / f"node{i}", free_port(*self.http_ports),
                                        free_port(*self.http_ports), free_port(*self.http_ports),
                                        env_for=self.env)
                      for i in range(self.n)]

    # --- set-up ---------------------------------------------------------------------------------
    def create_keys(self) -> list[str]:
        """Two encrypted keystores per node (light scrypt: local demo keys, thrown away after):
        the attestation signing key, and the transmitter key that sends and pays gas (fund
        `transmitters()`; the signing key never needs ETH). Returns the signing addresses."""
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            for path in (node.keystore, node.transmitter_keystore):
                if path.exists():
                    path.unlink()
            node.address = keys.create_keystore(node.keystore, self._password, kdf_light=True)
            node.transmitter = keys.create_keystore(node.transmitter_keystore, self._password,
                                                    kdf_light=True)
        return [node.address for node in self.nodes]

    def transmitters(self) -> list[str]:
        """The nodes' transmitter addresses (the accounts to fund), by node index."""
        return [node.transmitter for node in self.nodes]

    def env(self, node: OracleNodeProcess) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORACLE_")}
        extra = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + extra if extra else "")
        env.update({
            "ORACLE_RPC_URL": self.node_rpc.get(node.index, self.rpc_url),
            "ORACLE_REGISTRY_ADDRESS": self.addresses["score_registry"],
            "ORACLE_MODEL_REGISTRY_ADDRESS": self.addresses["model_registry"],
            "ORACLE_LOAN_MANAGER_ADDRESS": self.addresses["loan_manager"],
            "ORACLE_KEYSTORE_PATH": str(node.keystore),
            "ORACLE_KEYSTORE_PASSWORD": self._password,
            "ORACLE_TRANSMITTER_KEYSTORE_PATH": str(node.transmitter_keystore),
            "ORACLE_TRANSMITTER_KEYSTORE_PASSWORD": self._password,
            "ORACLE_STORE_PATH": str(node.store),
            "ORACLE_MODEL_PATH": str(self.model_path),
            "ORACLE_NODE_INDEX": str(node.index),
            "ORACLE_NODES": ",".join(n.peer_url for n in self.nodes),
            "ORACLE_HTTP_PORT": str(node.port),
            "ORACLE_PEER_PORT": str(node.peer_port),
            "ORACLE_ADMIN_PORT": str(node.admin_port),
            "ORACLE_POLL_INTERVAL_S": "0.5",
            "ORACLE_CONFIRMATIONS": "0",
        })
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def import_features(self, csv_path: Path, indices: list[int] | None = None) -> list[dict]:
        """`oracle features import` into each node's own store (every node unless `indices`);
        fails on any rejected row."""
        reports = []
        for node in self._select(indices):
            done = run_cli(["features", "import", str(csv_path)], node.env)
            if done.returncode != 0:
                raise RuntimeError(f"node {node.index}: features import failed:\n{done.stderr}")
            reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return reports

    # --- lifecycle ------------------------------------------------------------------------------
    def _select(self, indices: list[int] | None) -> list[OracleNodeProcess]:
        return self.nodes if indices is None else [self.nodes[i] for i in indices]

    def start(self, indices: list[int] | None = None) -> None:
        """Start the nodes (every node unless `indices`) that are not running."""
        for node in self._select(indices):
            if not node.alive():
                node.start()

    def wait_ready(self, timeout: float = 90, indices: list[int] | None = None) -> None:
        """Until each node (every node unless `indices`) answers /healthz, within one deadline."""
        deadline = time.time() + timeout
        for node in self._select(indices):
            node.wait_ready(timeout=max(0.0, deadline - time.time()))

    def stop(self, timeout: float = 20) -> list[int]:
        """SIGTERM every node (graceful shutdown), SIGKILL any that outlive `timeout`."""
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        codes = []
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                codes.append(node.proc.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                codes.append(node.proc.wait(timeout=10))
        return codes

    def reload(self, index: int) -> None:
        """SIGHUP: the node re-reads its model bundle without stopping (see oracle README)."""
        self.nodes[index].signal(signal.SIGHUP)

    @staticmethod
    def log_tail(node: OracleNodeProcess, lines: int = 20) -> str:
        return node.log_tail(lines)

    def scrape_metrics(self, timeout: float = 5) -> dict[int, str]:
        """Every running node's `GET /metrics` (Prometheus text), by node index. The counters live
        in each process's memory, so scrape before `stop()`; a node that does not answer is left
        out (the caller sees how many answered)."""
        texts = {}
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                r = requests.get(node.admin_url + "/metrics", timeout=timeout)
                r.raise_for_status()
            except requests.RequestException:
                continue
            texts[node.index] = r.text
        return texts

    def log_events(self) -> list[dict]:
        """Every node's JSON log lines, tagged with the node index."""
        return [{"node": node.index, **event} for node in self.nodes
                for event in node.log_lines()]
