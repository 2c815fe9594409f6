"""Test harness: oracle node subprocesses, a cuttable TCP proxy in front of the chain, data.

Everything started here is stopped by the owner's `stop()`/`close()` (fixtures call them in a
finally), with bounded waits.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "integration-test-password"  # test keystores only, generated per run


_HANDED_OUT: set[int] = set()


def free_port(lo: int = 9100, hi: int = 9199) -> int:
    """A port in [lo, hi] that is free now and not handed out before in this run."""
    for port in range(lo, hi + 1):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


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
                       salts: dict[str, bytes] | None = None) -> dict[str, dict]:
    rows = random_rows(schema, len(borrowers), seed)
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


def run_cli(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


class TcpProxy:
    """127.0.0.1:listen_port -> target_port. `cut()` drops every connection and refuses new ones
    until `restore()`: the RPC endpoint 'goes away'."""

    def __init__(self, target_port: int, listen_port: int) -> None:
        self.target_port = target_port
        self.port = listen_port
        self._up = threading.Event()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "TcpProxy":
        self._up.set()
        self._open()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def _open(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self._listener = s

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            if not self._up.is_set() or self._listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self._up.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._conns.clear()

    def restore(self) -> None:
        self._open()
        self._up.set()

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        if self._thread:
            self._thread.join(timeout=2)


class OracleProcess:
    """`python -m oracle serve` in a subprocess with its own keystore, store and port."""

    def __init__(self, index: int, workdir: Path, env: dict) -> None:
        self.index = index
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / f"node{index}.log"
        self.port = int(env["ORACLE_HTTP_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0

    def start(self) -> "OracleProcess":
        assert self.proc is None or self.proc.poll() is not None
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "oracle", "serve"], env=self.env,
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                requests.get(self.url + "/healthz", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise TimeoutError(f"node {self.index} not ready:\n" + self.log_tail())

    def healthz(self) -> tuple[int, dict]:
        r = requests.get(self.url + "/healthz", timeout=3)
        return r.status_code, r.json()

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_lines(self) -> list[dict]:
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return out

    def log_tail(self, n: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text().splitlines()[-n:])


def base_env(**kw: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORACLE_")}
    env.update({k: str(v) for k, v in kw.items()})
    extra = os.environ.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + extra if extra else "")
    return env
