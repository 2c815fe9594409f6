"""Oracle benchmark (not a test). Writes reports/oracle_bench.json.

    SOLCX_BINARY_PATH=.solcx PATH=node_modules/.bin:.venv/bin:$PATH python bench/bench_oracle.py

Three figures, all measured here on this machine:

* ``score_sign_p50_ms`` — in-process, per borrower: SQLite feature read + ONNX inference (PD and
  the reason-code batch) + PD/score/band + EIP-712 digest + secp256k1 signature. The borrower's
  nonce and the clock are passed in (in the daemon they come from chain reads, which are not part
  of this figure).
* ``attestations_per_s`` — end to end on a local anvil (``--network``, default ``development``):
  the oracle nodes (default three, k=2, batch size B) are started and ready; N pre-signed loan
  requests are then mined at once (automine off while they are sent, then as many blocks as they
  fill) and the figure is N / (wall time from those blocks until the last ScoreRecorded is seen):
  scan, scoring, peer co-signing over HTTP, submitReport (or submitBatch), mining.
* ``request_to_chain_blocks_p95`` — anvil switched to 1-second interval mining; requests are made
  one at a time, each waiting for its score; the figure is the 95th percentile of
  (block of ScoreRecorded − block of ScoreRequested).

``--sweep 1:1,3:1,3:2,...`` adds the throughput figure for each (nodes:threshold) point, each on a
fresh deployment with ``--sweep-requests`` requests. ``SCORECHAIN_TEST_PORTS`` (see
scripts/oracle_testbed.py) moves the nodes' HTTP ports.

The oracle nodes, anvil and the load generator share this machine's cores. The record's ``load``
(and each sweep point's) is what was measured while the figures were taken: load averages before
and after, CPU seconds of this process and of its finished children (the nodes; anvil) against
wall time, and the whole machine's busy cores from /proc/stat (bench/common.py, LoadProbe).

The clusters are scripts.oracle_testbed.OracleTestbed, the integration tests' set-up, with their
nodes run by scripts.oracle_cluster (the demo's supervisor).
"""

from __future__ import annotations

import argparse
import json
import platform
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import LoadProbe  # noqa: E402


def bench_score_sign(n_borrowers: int = 200, iterations: int = 2000) -> dict:
    from oracle import attest, keys, typed_data
    from oracle.scoring import load_model
    from oracle.store import Store
    from scripts.oracle_testbed import random_rows

    model = load_model(ROOT / "models" / "default")
    tmp = Path(tempfile.mkdtemp())
    try:
        store = Store.open(tmp / "bench.db")
        borrowers = ["0x" + secrets.token_hex(20) for _ in range(n_borrowers)]
        for b, row in zip(borrowers, random_rows(model.schema, n_borrowers, seed=3)):
            store.put_features(model.schema, b, row)
        signer = keys.Signer(secrets.token_bytes(32))
        sep = typed_data.domain_separator(31337, "0x" + "12" * 20)
        policy = attest.Policy(86400, 120)
        now = int(time.time())
        times = []
        for i in range(iterations):
            b = borrowers[i % n_borrowers]
            t0 = time.perf_counter()
            f = store.get_features(b)
            p = model.predict(f.vector)
            att = attest.build_attestation(
                borrower=f.address, model_id=model.model_id, features_hash=f.features_hash,
                pd_bps=p.pd_bps, score=p.score, reason_codes=p.reason_codes_packed, nonce=0,
                now=now, policy=policy, config_digest=b"\x00\x01" + b"\x12" * 30)
            signer.sign_digest(typed_data.digest(att, sep))
            times.append(time.perf_counter() - t0)
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ms = np.array(times[min(100, iterations // 10):]) * 1e3  # the first ones are warm-up
    return {"score_sign_p50_ms": round(float(np.percentile(ms, 50)), 4),
            "score_sign_p95_ms": round(float(np.percentile(ms, 95)), 4),
            "score_sign_iterations": len(ms)}


class ChainSession:
    """One brownie connection (project loaded once per process) for any number of clusters."""

    def __init__(self, network_name: str) -> None:
        from brownie import network, project

        import brownie

        self.proj = project.load(str(ROOT), name="ScorechainBench")
        self.proj.load_config()
        for name, container in self.proj.dict().items():  # what `brownie run` does for scripts
            setattr(brownie, name, container)
        network.connect(network_name)
        self.network = network_name

    def close(self) -> None:
        from brownie import network

        network.disconnect()

    def cluster(self, n: int, k: int, n_borrowers: int, batch_size: int, proxy: bool = False,
                settings: dict | None = None):
        from scripts.oracle_testbed import OracleTestbed

        model_dir = ROOT / "models" / "default"
        tmp = Path(tempfile.mkdtemp())
        from oracle.settings import Settings

        # The daemon's default failover window, not the test harness's 3 blocks (which keeps the
        # failover tests short). On automine every posted batch is a block, so a short window
        # hands the lead round the ring during the catch-up itself and nodes redo each other's
        # work (1,000 requests, measured with this file's earlier window, which included node
        # start-up: 172/s with 3 blocks, 181/s with 6, 219/s with 1,000).
        failover = Settings.model_fields["failover_blocks"].default
        c = OracleTestbed(tmp, model_dir, n=n, k=k, n_borrowers=n_borrowers, proxy=proxy,
                          settings={"ORACLE_BATCH_SIZE": batch_size, "ORACLE_PEER_TIMEOUT_S": 20,
                                    "ORACLE_FAILOVER_BLOCKS": failover,
                                    "ORACLE_LOG_LEVEL": "INFO", **(settings or {})})
        c._bench_tmp = tmp
        return c

    @staticmethod
    def stop(cluster) -> None:
        try:
            cluster.stop()
        finally:
            logs = Path(tempfile.gettempdir()) / "oracle_bench_logs"  # for inspection, not kept
            shutil.rmtree(logs, ignore_errors=True)
            logs.mkdir(parents=True)
            for node in cluster.nodes:
                if node.log_path.exists():
                    shutil.copy(node.log_path, logs / f"node{node.index}.log")
            shutil.rmtree(cluster._bench_tmp, ignore_errors=True)


def throughput(cluster, n_requests: int) -> dict:
    """N loan requests land on chain at once, with every node already up; the figure is N / (time
    from the requests' blocks being mined until the last ScoreRecorded is seen).

    The requests are signed beforehand and sent with automine off, so neither the load generator
    nor node start-up (which takes seconds, and during which an early node could already work
    through a waiting backlog unobserved) is inside the window. The window holds scanning,
    scoring, co-signing over HTTP, submitReport (or submitBatch) and mining."""
    from brownie import web3

    backlog = cluster.borrowers[:n_requests]
    t_start0 = time.time()
    cluster.start()
    node_start = time.time() - t_start0
    raw = cluster.sign_requests(backlog)
    web3.provider.make_request("evm_setAutomine", [False])
    try:
        for tx in raw:
            web3.provider.make_request("eth_sendRawTransaction", ["0x" + tx.hex()])
        t0 = time.time()
        request_blocks = 0
        while int(web3.provider.make_request("txpool_status", [])["result"]["pending"], 16):
            web3.provider.make_request("evm_mine", [])
            request_blocks += 1
    finally:
        web3.provider.make_request("evm_setAutomine", [True])
    got = cluster.wait_recorded(backlog, timeout=600, mine=False)
    # block timestamps have 1 s resolution: use wall time when the last score was seen
    elapsed = time.time() - t0
    want = {b.address for b in backlog}
    blocks_used = sorted({blk for k, v in got.items() if k in want for blk in v})
    duplicates = sum(len(v) - 1 for k, v in got.items() if k in want)
    return {"attestations_per_s": round(n_requests / elapsed, 1),
            "throughput_requests": n_requests, "throughput_seconds": round(elapsed, 3),
            "throughput_request_blocks": request_blocks,
            "throughput_node_start_seconds": round(node_start, 3),
            "throughput_transactions": len(blocks_used), "duplicates": duplicates}


def latency(cluster, borrowers) -> dict:
    """1-second interval mining; one request at a time, each waiting for its score."""
    from brownie import web3

    web3.provider.make_request("evm_setIntervalMining", [1])
    web3.provider.make_request("evm_setAutomine", [False])
    lat = []
    try:
        for b in borrowers:
            tx = cluster.system.loan_manager.request(1_000 * 10**6, 1200, 90 * 86400, 3,
                                                     {"from": b, "required_confs": 1})
            req_block = tx.block_number
            rec = cluster.wait_recorded([b], timeout=60, mine=False)
            lat.append(rec[b.address][0] - req_block)
    finally:
        # in this order: on anvil, interval 0 switches mining off, automine then switches it on
        web3.provider.make_request("evm_setIntervalMining", [0])
        web3.provider.make_request("evm_setAutomine", [True])
    return {"request_to_chain_blocks_p95": float(np.percentile(lat, 95)) if lat else None,
            "request_to_chain_blocks_max": max(lat) if lat else None,
            "request_to_chain_blocks_samples": lat}


def bench_chain(n_requests: int, batch_size: int, n_latency: int, network_name: str = "development",
                nodes: int = 3, threshold: int = 2, session: ChainSession | None = None) -> dict:
    own = session is None
    session = session or ChainSession(network_name)
    try:
        cluster = session.cluster(nodes, threshold, n_requests + n_latency, batch_size)
        try:
            out = throughput(cluster, n_requests)
            out.update(batch_size=batch_size, nodes=nodes, threshold=threshold)
            if n_latency:
                out.update(latency(cluster, cluster.borrowers[n_requests:]))
        finally:
            session.stop(cluster)
    finally:
        if own:
            session.close()
    return out


def sweep(points: list[tuple[int, int]], n_requests: int, batch_size: int,
          session: ChainSession) -> list[dict]:
    """Throughput for each (n nodes, k threshold); each point is a fresh deployment and cluster."""
    rows = []
    for n, k in points:
        t0 = time.time()
        probe = LoadProbe()
        errors = []
        for _attempt in range(2):  # brownie's confirmation bookkeeping can report a mined tx as
            try:                   # "dropped" on a loaded machine while a cluster is deployed
                row = bench_chain(n_requests, batch_size, 0, nodes=n, threshold=k, session=session)
                break
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        else:
            rows.append({"nodes": n, "threshold": k, "error": errors})
            print(f"n={n} k={k}: failed twice: {errors}", flush=True)
            continue
        if errors:
            row["retried_after"] = errors
        row["point_wall_seconds"] = round(time.time() - t0, 1)
        row["load"] = probe.stop()
        row["load_average"] = row["load"]["load_average_after"]
        print(f"n={n} k={k}: {row['attestations_per_s']} attestations/s "
              f"({row['throughput_seconds']} s for {n_requests})", flush=True)
        rows.append(row)
    return rows


def parse_points(spec: str) -> list[tuple[int, int]]:
    """"1:1,3:2" -> [(1, 1), (3, 2)] as (nodes, threshold)."""
    out = []
    for part in spec.split(","):
        n, k = (int(x) for x in part.split(":"))
        if not 1 <= k <= n:
            raise SystemExit(f"invalid sweep point {part}: need 1 <= k <= n")
        out.append((n, k))
    return out


def main(argv=None) -> int:
    import os
    import signal

    # a SIGTERM unwinds through the finally blocks, which stop the nodes and the chain
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import add_version_argument
    add_version_argument(ap, "bench_oracle")
    ap.add_argument("--network", default=os.environ.get("SCORECHAIN_BENCH_NETWORK", "development"),
                    help="brownie network the nodes follow (default development, or "
                         "$SCORECHAIN_BENCH_NETWORK)")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=70)  # 80k + 70 x 150k gas fits a 12M-gas block
    ap.add_argument("--latency-samples", type=int, default=20)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--threshold", type=int, default=2)
    ap.add_argument("--score-sign-iterations", type=int, default=2000)
    ap.add_argument("--skip-chain", action="store_true")
    ap.add_argument("--sweep", default="",
                    help="throughput against nodes and threshold, e.g. 1:1,3:1,3:2,5:3 (n:k)")
    ap.add_argument("--sweep-requests", type=int, default=200)
    ap.add_argument("--sweep-batch-size", type=int, default=None,
                    help="batch size of the sweep points (default --batch-size). A single node leads "
                         "every request, and the daemon's gas limit is 80,000 + "
                         "ORACLE_GAS_LIMIT_PER_ATTESTATION (150,000) x entries, so a batch above "
                         "199 entries exceeds anvil's 30M block gas limit and is never mined")
    ap.add_argument("--out", default=str(ROOT / "reports" / "oracle_bench.json"))
    args = ap.parse_args(argv)
    out = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
           "targets": {"score_sign_p50_ms": "<= 1", "attestations_per_s": ">= 200",
                       "request_to_chain_blocks_p95": "<= 2"},
           "network": args.network}
    probe = LoadProbe()
    if args.score_sign_iterations > 0:  # 0 = skip (e.g. one process per sweep point)
        out.update(bench_score_sign(iterations=args.score_sign_iterations))
    print(json.dumps(out, indent=1), flush=True)
    if not args.skip_chain or args.sweep:
        session = ChainSession(args.network)
        try:
            if not args.skip_chain:
                out.update(bench_chain(args.requests, args.batch_size, args.latency_samples,
                                       nodes=args.nodes, threshold=args.threshold, session=session))
            if args.sweep:
                sweep_batch = args.sweep_batch_size or args.batch_size
                out["sweep"] = {"requests_per_point": args.sweep_requests,
                                "batch_size": sweep_batch,
                                "points": sweep(parse_points(args.sweep), args.sweep_requests,
                                                sweep_batch, session)}
        finally:
            session.close()
    # what was measured, not assumed: load averages, this process's and its nodes' CPU time
    # against wall time, and how busy the whole machine was (so what other jobs took)
    out["load"] = probe.stop()
    out["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "sweep"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
