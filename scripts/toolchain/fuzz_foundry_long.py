"""Foundry's long invariant profile (foundry.toml [profile.long]: 20,000 runs of 512 calls,
10,240,000 calls per invariant), in shards that can run on different days.

A run of an invariant campaign starts from the test's fresh set-up and draws its own call
sequence, so the 20,000 runs split into ``--of`` shards of 20,000 / of runs, each with its own
fixed seed (``forge test --fuzz-seed``; a shard reruns identically). What differs from one
20,000-run campaign: forge's value dictionary and corpus are learnt within a shard only.

    .venv/bin/python scripts/toolchain/fuzz_foundry_long.py --shard 3     # one shard, both invariants
    .venv/bin/python scripts/toolchain/fuzz_foundry_long.py               # every shard not yet recorded

Each finished shard is recorded in reports/fuzz_foundry_long.json (seed, runs, calls, reverts,
result and time per invariant, the commit it ran on); a failing shard is recorded too and makes
the command exit 1, with forge's counterexample in its output.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "reports" / "fuzz_foundry_long.json"
TOTAL_RUNS, DEPTH = 20_000, 512  # foundry.toml [profile.long.invariant]
SEED_BASE = 0x5C0C0000
RESULT = re.compile(r"\[(PASS|FAIL)[^\]]*\]\s+(invariant_\w+)\(\)\s+\(runs: (\d+), calls: (\d+), "
                    r"reverts: (\d+)\)")


def _commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                         text=True)
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def run_shard(shard: int, of: int) -> dict:
    runs = TOTAL_RUNS // of
    seed = SEED_BASE + shard
    env = {**os.environ, "FOUNDRY_PROFILE": "long", "FOUNDRY_INVARIANT_RUNS": str(runs),
           "FOUNDRY_INVARIANT_DEPTH": str(DEPTH)}
    t0 = time.time()
    proc = subprocess.run(["bash", str(ROOT / "scripts/toolchain/forge.sh"), "test",
                           "--match-test", "^invariant_", "--fuzz-seed", hex(seed)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.time() - t0
    sys.stdout.write(proc.stdout[-4000:])
    sys.stderr.write(proc.stderr[-4000:])
    invariants = {name: {"passed": status == "PASS", "runs": int(runs), "calls": int(calls),
                         "reverts": int(reverts)}
                  for status, name, runs, calls, reverts in RESULT.findall(proc.stdout)}
    if not invariants:
        raise SystemExit(f"shard {shard}: forge reported no invariant result (exit "
                         f"{proc.returncode})")
    return {"shard": shard, "of": of, "seed": hex(seed), "runs": runs, "depth": DEPTH,
            "invariants": invariants, "exit_code": proc.returncode,
            "seconds": round(seconds, 1), "commit": _commit(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _load() -> dict:
    if RECORD.exists():
        return json.loads(RECORD.read_text())
    return {"profile": {"runs": TOTAL_RUNS, "depth": DEPTH,
                        "calls_per_invariant": TOTAL_RUNS * DEPTH},
            "how": __doc__.split("\n\n")[1].replace("\n", " "), "shards": {}}


def summary(record: dict) -> dict:
    totals: dict[str, dict] = {}
    for s in record["shards"].values():
        for name, r in s["invariants"].items():
            t = totals.setdefault(name, {"calls": 0, "runs": 0, "failed_shards": []})
            t["calls"] += r["calls"]
            t["runs"] += r["runs"]
            if not r["passed"]:
                t["failed_shards"].append(s["shard"])
    return totals


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))
    from models import add_version_argument
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_version_argument(ap, "fuzz_foundry_long")
    ap.add_argument("--shard", type=int, default=None, help="run this shard (0-based)")
    ap.add_argument("--of", type=int, default=8, help="number of shards (20,000 runs split)")
    a = ap.parse_args(argv)
    if a.of < 1 or TOTAL_RUNS % a.of:
        ap.error(f"--of must divide {TOTAL_RUNS}")
    if a.shard is not None and not 0 <= a.shard < a.of:
        ap.error(f"--shard must be 0..{a.of - 1}")
    record = _load()
    # shard k of any split starts from seed k: runs of two splits would overlap, not add up
    splits = {s["of"] for s in record["shards"].values()}
    if splits and splits != {a.of}:
        ap.error(f"{RECORD.name} holds shards of a {splits.pop()}-way split; use --of with it")
    todo = [a.shard] if a.shard is not None else [
        k for k in range(a.of) if f"{k}/{a.of}" not in record["shards"]]
    status = 0
    for k in todo:
        print(f"shard {k} of {a.of}: {TOTAL_RUNS // a.of} runs x {DEPTH} calls per invariant",
              flush=True)
        result = run_shard(k, a.of)
        record["shards"][f"{k}/{a.of}"] = result
        record["totals"] = summary(record)
        RECORD.write_text(json.dumps(record, indent=1) + "\n")  # after each: nothing lost
        if result["exit_code"] != 0 or not all(r["passed"]
                                               for r in result["invariants"].values()):
            status = 1
    for name, t in record.get("totals", {}).items():
        print(f"{name}: {t['calls']:,} calls recorded of {TOTAL_RUNS * DEPTH:,}"
              + (f"; FAILED in shards {t['failed_shards']}" if t["failed_shards"] else ""))
    return status


if __name__ == "__main__":
    sys.exit(main())
