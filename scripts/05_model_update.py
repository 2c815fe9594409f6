"""05 — the model update loop: a second model version goes live without stopping the oracle, and
the first is revoked.

    brownie run scripts/05_model_update.py --network development     # registers + approves v2
    SCORECHAIN_MODEL_DIR=path/to/bundle SCORECHAIN_REVOKE=0x<v1 id> brownie run ...

Roll-over, as an operator does it: every node's ORACLE_MODEL_PATH is a symlink to a bundle
directory; the operator points it at the new bundle and sends SIGHUP. A node then loads the new
bundle, checks on chain that its SHA-256 is an approved model and only then swaps it in (otherwise
it keeps serving the old one and logs why). `make demo` runs the whole loop and also `audit_one`,
the auditor's check of a recorded score.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from brownie import chain

from .network_context import deployed, tx_params
from .progress import run_with_progress

ROOT = Path(__file__).resolve().parents[1]
#: seconds between "training model v2: N s elapsed" lines while v2 trains (about 90 s)
PROGRESS_EVERY_S = 15.0
#: Revocation reason codes (ModelRegistry.revoke's uint8), documented for auditors.
REVOKE_SUPERSEDED = 1


# --- the model symlink the nodes read -------------------------------------------------------------
def model_link(workdir: Path) -> Path:
    return Path(workdir) / "model-current"


def point_model_link(workdir: Path, bundle_dir: Path) -> Path:
    """Atomically re-point the nodes' model symlink at `bundle_dir`."""
    link = model_link(workdir)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(Path(bundle_dir).resolve(), target_is_directory=True)
    os.replace(tmp, link)
    return link


# --- a second model version -----------------------------------------------------------------------
def export_command(config_path: Path, out_dir: Path) -> list[str]:
    """`python -m models export` of the v2 recipe into `out_dir`."""
    return [sys.executable, "-m", "models", "export", str(config_path), "--out", str(out_dir),
            "--n-boot", "200"]


def train_second_version(out_dir: Path) -> Path:
    """Retrain the default model's recipe as version 2 (a different seed) and export it; reuses
    an earlier export of the same recipe. Training takes about 90 s: progress is printed meanwhile
    (elapsed time every PROGRESS_EVERY_S and the trainer's own log lines, which are also kept in
    <out_dir>/../gmsc-v2-train.log)."""
    out_dir = Path(out_dir)
    config = json.loads((ROOT / "models/default/train_config.json").read_text())
    config.update({"version": "2", "seed": int(config.get("seed", 0)) + 1})
    marker = out_dir / "train_config.json"
    if marker.exists() and json.loads(marker.read_text()) == config and (out_dir / "reference.json").exists():
        print(f"model v2: reusing the earlier export in {out_dir}", flush=True)
        if not (out_dir / "manifest.json").exists():  # exported before bundles had manifests
            from models.manifest import write as write_manifest
            write_manifest(out_dir)
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = out_dir.parent / "gmsc-v2-config.json"
    config_path.write_text(json.dumps(config, indent=1))
    rc, tail = run_with_progress(export_command(config_path, out_dir), "training model v2",
                                 cwd=ROOT, timeout=1800, every=PROGRESS_EVERY_S,
                                 log_path=out_dir.parent / "gmsc-v2-train.log")
    if rc != 0:
        raise RuntimeError("training model v2 failed:\n" + "\n".join(tail[-60:]))
    marker.write_text(json.dumps(config, indent=1))
    return out_dir


def _node_model_ids(cluster) -> list[str | None]:
    import requests

    ids = []
    for node in cluster.nodes:
        try:
            ids.append(requests.get(node.admin_url + "/healthz", timeout=2).json().get("model_id"))
        except Exception:  # noqa: BLE001 - a node that does not answer has no model id to report
            ids.append(None)
    return ids


def roll_over(system, cluster, workdir: Path, records, v1, *, timeout_s: float = 180,
              mine_blocks: bool = False) -> dict:
    """Train/load v2, register + approve it, roll every node over, revoke v1, and show that v1
    scores no longer approve loans while new v2 scores do."""
    governance = _import("02_register_model")
    loans = _import("04_run_loans")

    v2_dir = train_second_version(ROOT / ".scorechain" / "models" / "gmsc-v2")
    v2 = governance.register_model(system, v2_dir)
    governance.approve_model(system, v2_dir)
    v2_hex = "0x" + v2.model_id.hex()

    started = time.time()
    point_model_link(workdir, v2_dir)
    for i in range(len(cluster.nodes)):
        cluster.reload(i)
    while time.time() - started < timeout_s:
        if all(mid == v2_hex for mid in _node_model_ids(cluster)):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"nodes did not roll over to {v2_hex}: {_node_model_ids(cluster)}")
    rollover_seconds = round(time.time() - started, 2)
    if not all(node.alive() for node in cluster.nodes):
        raise RuntimeError("a node stopped during the roll-over")

    governance.revoke_model(system, v1.model_id, REVOKE_SUPERSEDED)
    # A borrower whose latest score came from v1: compliance now refuses that score.
    v1_scored = next(r for r in records if r.jurisdiction != "US"
                     and _fresh_score_from(system, r.address, v1.model_id))
    ok, reason, _ = system.compliance.check(v1_scored.address, 1_000 * 10**6, 1_000, 90 * 86400,
                                            (0, 0, 0, False))
    if ok:
        raise AssertionError("a revoked model's score still passed compliance")

    # New requests are scored by v2 and can be approved again.
    candidates = [r for r in records if r.holdout_label == 0 and r.jurisdiction != "US"][:3]
    runs = [loans.request_loan(system.loan_manager, r, 1_000 * 10**6, 1_200, 180 * 86400, 6)
            for r in candidates]
    late = loans.wait_for_scores(system.score_registry, runs, timeout_s=timeout_s,
                                 mine_blocks=mine_blocks)
    if late:
        raise RuntimeError(f"{len(late)} post-update requests were not scored")
    if any(run.score["modelId"] != v2_hex for run in runs):
        raise AssertionError("a post-update score was not made by model v2")
    for run in runs:
        loans.decide(system.loan_manager, run)
    return {
        "model_v2": v2_hex,
        "rollover_seconds": rollover_seconds,
        "v1_check_reason": loans.REASONS[reason],
        "requested_after": len(runs),
        "approved_after": sum(run.decision == "approved" for run in runs),
        "post_update_loans": [{"loan_id": r.loan_id, "pd_bps": r.score["pdBps"],
                               "decision": r.decision, "reason": r.reason} for r in runs],
    }


def _fresh_score_from(system, borrower: str, model_id: bytes) -> bool:
    record = system.score_registry.latestScore(borrower)
    return bytes(record["modelId"]) == model_id and record["validUntil"] > chain.time()


def audit_one(system, cluster, records, runs, tree, batch_id) -> dict:
    """An auditor's check of one recorded score, twice: `oracle verify <tx>` on a node (its own
    store), and `oracle verify --disclosure` as an outsider holding only the borrower's disclosure
    (exported by the node, with the data provider's anchor proof), the RPC and the bundle."""
    from oracle import batch_doc
    from oracle import disclosure as disc

    run = next(r for r in runs if r.decision == "approved")
    events = system.score_registry.events.get_sequence(
        from_block=run.request_block, event_type="ScoreRecorded")
    event = next(e for e in events if e.args.borrower == run.record.address)
    tx_hash = event.transactionHash.hex()
    tx_hash = tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash
    node_env = cluster.env(cluster.nodes[1])
    done = _cli(["verify", tx_hash], node_env)
    verdict = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"ok": False}
    index = [r.address for r in records].index(run.record.address)
    anchored = system.data_anchor.verifyRecord(batch_id, tree.proof(index), run.record.address,
                                               bytes(event.args.featuresHash))
    # the outsider's audit: the node exports the disclosure, the data provider adds the proof
    path = cluster.workdir / "audit" / "disclosure.json"
    exported = _cli(["disclose", run.record.address, "--out", str(path), "--tx", tx_hash],
                    node_env)
    outsider = {"ok": False, "exit_code": exported.returncode}
    if exported.returncode == 0:
        d = disc.read(path)
        proof = disc.AnchorProof(tree.root, tuple(tree.proof(index)), batch_id,
                                 system.data_anchor.address)
        disc.write(disc.Disclosure(d.borrower, d.schema_hash, d.salt, d.features, d.tx_hash,
                                   proof), path)
        env = {k: v for k, v in node_env.items() if not k.startswith("ORACLE_")}
        env.update({k: node_env[k] for k in ("ORACLE_RPC_URL", "ORACLE_REGISTRY_ADDRESS",
                                              "ORACLE_MODEL_PATH")})
        env["ORACLE_STORE_PATH"] = str(cluster.workdir / "audit" / "no-store.db")  # never opened
        # the batch's public document (what its ipfs:// URI addresses), as 03 published it
        document = cluster.workdir / "audit" / "batch-public.json"
        document.write_bytes(batch_doc.build(tree))
        checked = _cli(["verify", "--disclosure", str(path), "--batch-doc", str(document)], env)
        outsider = json.loads(checked.stdout) if checked.stdout.strip().startswith("{") else {}
        info = outsider.get("info", {})
        outsider = {"ok": bool(outsider.get("ok")), "exit_code": checked.returncode,
                    "failed": [k for k, v in outsider.get("checks", {}).items() if v != "pass"],
                    "model_cid": info.get("model_cid"), "batch_cid": info.get("batch_cid")}
    return {"loan_id": run.loan_id, "tx_hash": tx_hash,
            "verified": bool(verdict.get("ok")) and outsider["ok"],
            "verify_exit_code": done.returncode, "anchored": bool(anchored), "batch_id": batch_id,
            "disclosure_verify": outsider}


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _import(name: str):
    import importlib

    return importlib.import_module(f"scripts.{name}")


def main():
    """Register and approve the bundle in SCORECHAIN_MODEL_DIR (default: a retrained v2);
    revoke SCORECHAIN_REVOKE if given. Nodes then roll over with a symlink flip and SIGHUP."""
    governance = _import("02_register_model")
    system = deployed()
    bundle = Path(os.environ.get("SCORECHAIN_MODEL_DIR") or train_second_version(
        ROOT / ".scorechain" / "models" / "gmsc-v2"))
    commitments = governance.register_model(system, bundle)
    governance.approve_model(system, bundle)
    print(f"model 0x{commitments.model_id.hex()} v{commitments.version} registered and approved")
    old = os.environ.get("SCORECHAIN_REVOKE")
    if old:
        system.model_registry.revoke(old, REVOKE_SUPERSEDED, tx_params("model_approver"))
        print(f"model {old} revoked")
    print(f"now point each node's ORACLE_MODEL_PATH at {bundle} and send it SIGHUP "
          f"(block {chain.height})")
    return commitments
