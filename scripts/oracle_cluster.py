"""Run a local k-of-n oracle network: n `oracle serve` processes, each with its own encrypted
keystore, feature store and HTTP port — the same commands an operator runs, on one machine.

    cluster = LocalOracleCluster(workdir, n=3, rpc_url=..., addresses=...)
    cluster.create_keys()                  # encrypted keystores; returns the signer addresses
    cluster.import_features(csv_path)     # `oracle features import` into every node's store
    cluster.start(); cluster.wait_ready()
    ...
    cluster.stop()                         # SIGTERM, bounded wait, then SIGKILL

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

import requests

from oracle import keys

ROOT = Path(__file__).resolve().parents[1]


def free_port(start: int = 9300, stop: int = 9400) -> int:
    for port in range(start, stop):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}-{stop}")


@dataclass
class OracleNodeProcess:
    index: int
    workdir: Path
    port: int
    address: str = ""
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def keystore(self) -> Path:
        return self.workdir / "keystore.json"

    @property
    def store(self) -> Path:
        return self.workdir / "oracle.db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "node.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class LocalOracleCluster:
    workdir: Path
    n: int
    rpc_url: str
    addresses: dict  # deployments-file contract addresses
    model_path: str = "models/default"
    extra_env: dict = field(default_factory=dict)
    _password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.nodes = [OracleNodeProcess(i, self.workdir / f"node{i}", free_port(9300 + 10 * i))
                      for i in range(self.n)]

    # --- set-up ---------------------------------------------------------------------------------
    def create_keys(self) -> list[str]:
        """One encrypted keystore per node (light scrypt: local demo keys, thrown away after)."""
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            if node.keystore.exists():
                node.keystore.unlink()
            node.address = keys.create_keystore(node.keystore, self._password, kdf_light=True)
        return [node.address for node in self.nodes]

    def env(self, node: OracleNodeProcess) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORACLE_")}
        env.update({
            "ORACLE_RPC_URL": self.rpc_url,
            "ORACLE_REGISTRY_ADDRESS": self.addresses["score_registry"],
            "ORACLE_MODEL_REGISTRY_ADDRESS": self.addresses["model_registry"],
            "ORACLE_LOAN_MANAGER_ADDRESS": self.addresses["loan_manager"],
            "ORACLE_KEYSTORE_PATH": str(node.keystore),
            "ORACLE_KEYSTORE_PASSWORD": self._password,
            "ORACLE_STORE_PATH": str(node.store),
            "ORACLE_MODEL_PATH": str(self.model_path),
            "ORACLE_NODE_INDEX": str(node.index),
            "ORACLE_NODES": ",".join(n.url for n in self.nodes),
            "ORACLE_HTTP_PORT": str(node.port),
            "ORACLE_POLL_INTERVAL_S": "0.5",
            "ORACLE_CONFIRMATIONS": "0",
        })
        env.update({k: str(v) for k, v in self.extra_env.items()})
        return env

    def _oracle(self, node: OracleNodeProcess, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "oracle", *args], env=self.env(node),
                              cwd=ROOT, capture_output=True, text=True, timeout=300)

    def import_features(self, csv_path: Path) -> list[dict]:
        """`oracle features import` into every node's own store; fails on any rejected row."""
        reports = []
        for node in self.nodes:
            done = self._oracle(node, "features", "import", str(csv_path))
            if done.returncode != 0:
                raise RuntimeError(f"node {node.index}: features import failed:\n{done.stderr}")
            reports.append(json.loads(done.stdout.strip().splitlines()[-1]))
        return reports

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, indices: list[int] | None = None) -> None:
        for node in (self.nodes if indices is None else [self.nodes[i] for i in indices]):
            if node.alive():
                continue
            with open(node.log_path, "a") as log:
                node.proc = subprocess.Popen([sys.executable, "-m", "oracle", "serve"],
                                             env=self.env(node), cwd=ROOT, stdout=log,
                                             stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        for node in self.nodes:
            while True:
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(f"oracle node {node.index} exited:\n{self.log_tail(node)}")
                try:
                    requests.get(node.url + "/healthz", timeout=1)
                    break
                except requests.RequestException:
                    if time.time() > deadline:
                        raise TimeoutError(f"oracle node {node.index} not ready:\n"
                                           f"{self.log_tail(node)}") from None
                    time.sleep(0.2)

    def stop(self, timeout: float = 20) -> list[int]:
        """SIGTERM every node (graceful shutdown), SIGKILL any that outlive `timeout`."""
        for node in self.nodes:
            if node.alive():
                node.proc.send_signal(signal.SIGTERM)
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
        node = self.nodes[index]
        if node.alive():
            node.proc.send_signal(signal.SIGHUP)

    @staticmethod
    def log_tail(node: OracleNodeProcess, lines: int = 20) -> str:
        if not node.log_path.exists():
            return ""
        return "\n".join(node.log_path.read_text().splitlines()[-lines:])

    def scrape_metrics(self, timeout: float = 5) -> dict[int, str]:
        """Every running node's `GET /metrics` (Prometheus text), by node index. The counters live
        in each process's memory, so scrape before `stop()`; a node that does not answer is left
        out (the caller sees how many answered)."""
        texts = {}
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                r = requests.get(node.url + "/metrics", timeout=timeout)
                r.raise_for_status()
            except requests.RequestException:
                continue
            texts[node.index] = r.text
        return texts

    def log_events(self) -> list[dict]:
        """Every node's JSON log lines, tagged with the node index."""
        events = []
        for node in self.nodes:
            if not node.log_path.exists():
                continue
            for line in node.log_path.read_text().splitlines():
                try:
                    events.append({"node": node.index, **json.loads(line)})
                except json.JSONDecodeError:
                    continue
        return events
