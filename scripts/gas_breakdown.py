"""Where the loan lifecycle's gas goes: fresh storage slots and cold reads per step, per contract.

Run:  .venv/bin/python scripts/gas_breakdown.py [--network anvil-8604]

Starts its own anvil with step tracing (`--steps-tracing`, which brownie's launcher cannot pass) on
the port of the brownie network named (any local anvil network of `make setup`; brownie attaches),
deploys the system with scripts/bench_gas.py's own helpers, runs the same lifecycles (a new borrower's first
loan in a market that already had one, then a returning borrower with a repeat lender) and traces
every transaction (debug_traceTransaction): zero-to-non-zero SSTOREs (22,100 each with the cold
surcharge) and cold SLOADs (2,100 each), attributed to the contract whose storage they touch.
Writes reports/gas_breakdown.json and prints a table. Not part of `make bench`: it explains
reports/gas.json, whose figures bench_gas.py measures on its own.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTRINSIC = 21_000


def _trace(web3, txid: str, receiver: str, names: dict[str, str]) -> dict:
    """Fresh slots and cold reads of one transaction, by contract name."""
    res = web3.provider.make_request("debug_traceTransaction", [txid, {"enableMemory": False, "disableStorage": True}])
    steps = res["result"]["structLogs"]
    if not steps:
        raise SystemExit("the node returned no steps: is anvil running with --steps-tracing?")
    fresh: collections.Counter = collections.Counter()
    cold: collections.Counter = collections.Counter()
    callees = [receiver.lower()]
    pending = None
    for s in steps:
        depth = s["depth"]
        del callees[depth:]
        if pending is not None and depth == len(callees) + 1:
            callees.append(pending)
        pending = None
        op = s["op"]
        if op in ("CALL", "STATICCALL"):
            pending = "0x" + s["stack"][-2][2:].rjust(40, "0")[-40:]
        elif op == "DELEGATECALL":
            pending = callees[-1]
        who = names.get(callees[-1], callees[-1])
        if op == "SSTORE" and s["gasCost"] >= 20_000:
            fresh[who] += 1
        elif op == "SLOAD" and s["gasCost"] >= 2_100:
            cold[who] += 1
    return {"fresh_slots": dict(fresh), "cold_sloads": dict(cold)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import add_version_argument
    add_version_argument(ap, "gas_breakdown")
    ap.add_argument("--network", default="anvil-8604")
    args = ap.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    from brownie import network, project
    from brownie._config import CONFIG

    from scripts import brownie_rpc_quirks

    args.port = CONFIG.networks[args.network]["cmd_settings"]["port"]
    anvil = subprocess.Popen(
        [str(ROOT / "node_modules/.bin/anvil"), "--accounts", "10", "--block-base-fee-per-gas", "0",
         "--gas-limit", "12000000", "--port", str(args.port), "--steps-tracing"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        p = project.load(str(ROOT), name="ScorechainGas")
        p.load_config()
        p._add_to_main_namespace()
        network.connect(args.network)  # attaches: a node already listens on its port
        brownie_rpc_quirks.install()
        from brownie import web3

        report = _run(web3)
    finally:
        anvil.terminate()
    out = ROOT / "reports" / "gas_breakdown.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    for name, steps in report["lifecycles"].items():
        print(f"\n{name}: {steps['total']:,} gas")
        for step, row in steps["steps"].items():
            print(f"  {step:8} {row['gas']:>8,}  fresh {row['fresh_slots']}  cold {row['cold_sloads']}")
        print(f"  fresh slots {steps['fresh_slots']} (x 22,100), cold SLOADs {steps['cold_sloads']} (x 2,100), "
              f"intrinsic {steps['intrinsic']:,}")


def _run(web3) -> dict:
    from brownie import accounts, chain

    from scripts.bench_gas import FixedAccounts, deploy, lifecycle, open_market

    admin, approver = accounts[0], accounts[1]
    system, oracle = deploy(FixedAccounts(), admin, approver, 3, 5)
    open_market(system, admin)
    names = {str(getattr(system, k).address).lower(): k for k in
             ("loan_manager", "borrower_registry", "compliance", "score_registry", "model_registry", "token")}

    def traced(borrower, lender):
        txs = lifecycle(system, oracle, admin, borrower, lender)
        steps = {k: {"gas": tx.gas_used, **_trace(web3, tx.txid, str(tx.receiver), names)} for k, tx in txs.items()}
        return {"total": sum(s["gas"] for s in steps.values()), "intrinsic": INTRINSIC * len(steps),
                "fresh_slots": sum(sum(s["fresh_slots"].values()) for s in steps.values()),
                "cold_sloads": sum(sum(s["cold_sloads"].values()) for s in steps.values()), "steps": steps}

    # As scripts/bench_gas.py: the deployment's first loan, then the two measured ones.
    lifecycle(system, oracle, admin, accounts[5], accounts[7])
    return {"chain_id": chain.id, "lifecycles": {
        "loan_full_lifecycle": traced(accounts[6], accounts[8]),
        "loan_full_lifecycle_returning": traced(accounts[5], accounts[7]),
    }}


if __name__ == "__main__":
    main()
