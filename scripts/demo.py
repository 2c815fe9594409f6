"""Scorechain's main job, end to end on a local chain it starts and stops itself.

    make demo                      # anvil
    make demo CHAIN=ganache        # Ganache 7.9.2
    .venv/bin/python -m scripts.demo --borrowers 36 --chain anvil

1. deploy every contract and wire the roles (scripts/01_deploy.py);
2. register and approve the committed default model, four eyes (02_register_model.py);
3. onboard borrowers whose features are real Give Me Some Credit holdout rows: KYC by
   commitment, each borrower's own consent transaction, features CSV for the oracle, Merkle anchor (03_onboard_borrowers.py);
4. start three oracle nodes (threshold 2), each with its own encrypted key and feature store;
5. borrowers request loans; the nodes score them and post 2-of-3 attestations; compliance
   approves or rejects with a reason; lenders fund; some borrowers repay, the real defaulters
   default and are written off (04_run_loans.py);
6. an auditor re-verifies a recorded score (`oracle verify`) and its anchored features;
7. model update loop: a second model version is trained, registered and approved, the nodes roll
   over to it without stopping, the first version is revoked and its scores stop approving loans
   (05_model_update.py); then the defaults play out (time travel past due dates);
8. a summary on the terminal and in build/demo.md (reports/demo.md: `make demo-report`); every
   process it started is stopped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from brownie import chain, network, project, web3

from models import package_version
from scripts import brownie_rpc_quirks

CHAINS = {"anvil": "development", "ganache": "ganache-cli"}
ROOT = Path(__file__).resolve().parents[1]
USD = 10**6
DAY = 24 * 3600


def _step(module: str):
    """The numbered scripts start with a digit, so they are imported by name."""
    return importlib.import_module(f"scripts.{module}")


def _log(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def loan_terms(rng: np.random.Generator) -> tuple[int, int, int, int]:
    """principal (base units), APR (bps), term (s), installments — a spread that exercises the rules."""
    principal = int(rng.choice([500, 1_000, 1_500, 2_000, 3_000, 5_000, 8_000, 15_000])) * USD
    apr_bps = int(rng.choice([900, 1_200, 1_500, 1_900, 2_400, 2_900, 4_200]))  # 4,200 > the 36 % cap
    term_days, installments = [(90, 3), (180, 6), (365, 12)][int(rng.integers(3))]
    return principal, apr_bps, term_days * DAY, installments


def run(args) -> dict:
    deploy = _step("01_deploy")
    governance = _step("02_register_model")
    onboarding = _step("03_onboard_borrowers")
    loans = _step("04_run_loans")
    update = _step("05_model_update")
    from models.schema import load_schema

    from scripts.network_context import new_local_account, role_account
    from scripts.oracle_cluster import LocalOracleCluster

    rng = np.random.default_rng(args.seed)
    workdir = ROOT / ".scorechain" / f"demo-{args.chain}"
    # A new chain each run: yesterday's oracle checkpoints and keys would point at a dead chain.
    shutil.rmtree(workdir, ignore_errors=True)
    schema = load_schema(ROOT / "models/default/feature_schema.json")
    summary: dict = {"chain": args.chain, "chain_id": chain.id, "gas": {}}

    cluster = LocalOracleCluster(workdir / "oracles", n=3, rpc_url=web3.provider.endpoint_uri,
                                 addresses={}, model_path=str(update.model_link(workdir)))
    update.point_model_link(workdir, ROOT / "models/default")
    try:
        signers = cluster.create_keys()
        deployer = role_account("deployer")
        # the nodes' transmitter keys pay gas for the attestations they post; the signing keys
        # hold no ETH
        for transmitter in cluster.transmitters():
            deployer.transfer(transmitter, "10 ether", silent=True)
        system = deploy.deploy(signers, threshold=2)
        cluster.addresses = system.addresses()
        summary["addresses"] = cluster.addresses
        _log(f"deployed; oracle signers {', '.join(s[:10] for s in signers)} (2-of-3)")

        v1 = governance.register_model(system)
        governance.approve_model(system)
        summary["model_v1"] = "0x" + v1.model_id.hex()
        _log(f"model v1 0x{v1.model_id.hex()[:16]}… registered and approved (four eyes)")

        jurisdictions = ["GB", "DE", "FR", "NL", "GB", "DE", "FR", "US"]  # US is not allowed
        records = onboarding.demo_records(args.borrowers, jurisdictions, seed=args.seed)
        features_csv, batch_id, tree = onboarding.onboard(system, records, schema, workdir)
        imported = cluster.import_features(features_csv)
        _log(f"{len(records)} borrowers registered and consented; features anchored in batch {batch_id} "
             f"(root 0x{tree.root.hex()[:16]}…); imported by {len(imported)} oracle nodes")

        cluster.start()
        cluster.wait_ready()
        _log("3 oracle nodes up")

        token = system.token
        lenders = [new_local_account() for _ in range(2)]
        float_account = new_local_account()  # pays borrowers' interest in this simulation
        for holder in (*lenders, float_account):
            deployer.transfer(holder, "1 ether", silent=True)
            token.mint(holder, 5_000_000 * USD, {"from": deployer})

        runs = []
        for record in records:
            principal, apr, term, n_inst = loan_terms(rng)
            runs.append(loans.request_loan(system.loan_manager, record, principal, apr, term,
                                           n_inst))
        _log(f"{len(runs)} loans requested; waiting for 2-of-3 scores")
        started = time.time()
        late = loans.wait_for_scores(system.score_registry, runs, timeout_s=args.timeout,
                                     mine_blocks=args.chain == "anvil")
        summary["scoring_seconds"] = round(time.time() - started, 1)
        if late:
            raise RuntimeError(f"{len(late)} requests were not scored in {args.timeout} s:\n"
                               + "\n".join(cluster.log_tail(n) for n in cluster.nodes))
        _log(f"all {len(runs)} scored in {summary['scoring_seconds']} s")

        for run_ in runs:
            loans.decide(system.loan_manager, run_)
        approved = [r for r in runs if r.decision == "approved"]
        why = Counter(r.reason for r in runs if r.decision == "rejected")
        _log(f"{len(approved)} approved, {len(runs) - len(approved)} rejected "
             f"({', '.join(f'{k} {v}' for k, v in why.most_common())})")

        for i, run_ in enumerate(approved):
            loans.fund(token, system.loan_manager, run_, lenders[i % len(lenders)])
        repaying = [r for r in approved if r.record.holdout_label == 0]
        defaulting = [r for r in approved if r.record.holdout_label == 1]
        if not (repaying and defaulting and len(approved) < len(runs)):
            # The flow must show every path; a model or rule change that loses one fails loudly.
            raise RuntimeError(f"demo lost a path: {len(repaying)} repaying, {len(defaulting)} "
                               f"defaulting, {len(runs) - len(approved)} rejected; adjust "
                               "--borrowers/--seed or the rules")
        for run_ in repaying:
            loans.repay_in_full(token, system.loan_manager, run_, float_account)
        _log(f"{len(repaying)} repaid in full")
        claimed = [loans.claim(system.loan_manager, lender) for lender in lenders
                   if system.loan_manager.claimable(lender) > 0]
        summary["lender_claims"] = len(claimed)
        _log(f"{len(claimed)} lenders claimed their repayments")

        summary["audit"] = update.audit_one(system, cluster, records, runs, tree, batch_id)
        _log(f"auditor re-verified loan {summary['audit']['loan_id']}'s score: "
             f"{'OK' if summary['audit']['verified'] else 'MISMATCH'}")

        # Before any time travel, so that v1's scores are still fresh when v1 is revoked.
        if not args.skip_model_update:
            _log("model update: training model v2 (about 90 s unless an earlier export is reused; "
                 "progress below), then registering it and rolling the nodes over")
            summary["model_update"] = update.roll_over(system, cluster, workdir, records, v1,
                                                      timeout_s=args.timeout,
                                                      mine_blocks=args.chain == "anvil")
            _log(f"model v2 {summary['model_update']['model_v2'][:18]}… live on every node; "
                 f"v1 revoked; {summary['model_update']['approved_after']} new loan(s) approved "
                 f"on v2 scores")

        for run_ in defaulting:
            loans.default_and_write_off(token, system.loan_manager, run_)
        _log(f"{len(defaulting)} defaulted (missed installments, time travel), written off, "
             "partly recovered")

        summary["loans"] = [_loan_row(r) for r in runs]
        summary["gas"] = _gas_table(runs)
        summary["invariants"] = _check_books(system, runs)
        # Last, while the nodes still run: their counters live in memory and go with them.
        summary["oracle"] = oracle_stats(cluster.scrape_metrics(), cluster.log_events(),
                                         nodes=len(cluster.nodes))
    finally:
        cluster.stop()
    return summary


def _loan_row(r) -> dict:
    s = r.score or {}
    return {"loan_id": r.loan_id, "borrower": r.record.address,
            "jurisdiction": r.record.jurisdiction, "principal_usd": r.principal / USD,
            "apr_bps": r.apr_bps, "term_days": r.term_seconds // DAY,
            "pd_bps": s.get("pdBps"), "score": s.get("score"),
            "reason_codes": s.get("reasonCodes"), "decision": r.decision, "reason": r.reason,
            "outcome": r.outcome or ("—" if r.decision != "approved" else "funded"),
            "real_outcome": "defaulted" if r.record.holdout_label else "repaid"}


def _gas_table(runs) -> dict:
    by_step: dict[str, list[int]] = {}
    for r in runs:
        for step, gas in r.gas.items():
            by_step.setdefault(step, []).append(gas)
    return {step: {"n": len(v), "mean": int(np.mean(v)), "max": int(max(v))}
            for step, v in by_step.items()}


def metric_total(texts, sample: str, **labels: str) -> float:
    """Sum of one Prometheus sample (e.g. ``oracle_tx_sent_total``) over the nodes' /metrics
    texts, keeping only samples whose labels include `labels`."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(s.value for text in texts for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def oracle_stats(metrics_by_node: dict[int, str], events: list[dict], nodes: int) -> dict:
    """The nodes' figures from structured data only: counters from each node's /metrics, error
    lines from the JSON logs' `level` field (no free-text message is matched)."""
    texts = list(metrics_by_node.values())
    return {"nodes": nodes, "nodes_scraped": len(texts),
            "batches_posted": int(metric_total(texts, "oracle_tx_sent_total")),
            "transactions_mined": int(metric_total(texts, "oracle_tx_mined_total",
                                                   status="mined")),
            "failover_stand_downs": int(metric_total(texts, "oracle_failover_stand_downs_total")),
            "loop_errors": int(metric_total(texts, "oracle_loop_errors_total")),
            "errors": sum(1 for e in events if e.get("level") == "error"),
            "log_lines": len(events)}


def oracle_paragraph(o: dict) -> str:
    return (f"{o['batches_posted']} attestation batches posted and {o['transactions_mined']} "
            f"mined, {o['failover_stand_downs']} failover stand-downs (a later leader found the "
            f"score already recorded), {o['loop_errors']} failed daemon steps (counters from "
            f"/metrics of {o['nodes_scraped']} of {o['nodes']} nodes, read before they stopped); "
            f"{o['errors']} error log lines, {o['log_lines']} log lines in all (JSON logs under "
            "`.scorechain/demo-*/oracles/`).")


def _check_books(system, runs) -> dict:
    """The contract's outstanding principal must equal the sum over the demo's loans."""
    on_chain = system.loan_manager.totalOutstandingPrincipal()
    summed = sum(system.loan_manager.outstandingPrincipal(r.loan_id) for r in runs)
    if on_chain != summed:
        raise AssertionError(f"outstanding principal {on_chain} != sum over loans {summed}")
    held = system.token.balanceOf(system.loan_manager)
    if held != system.loan_manager.totalClaimable():
        raise AssertionError(f"LoanManager holds {held}, lenders may claim "
                             f"{system.loan_manager.totalClaimable()}")
    return {"outstanding_principal_usd": on_chain / USD}


def write_report(summary: dict, path: Path) -> None:
    from models.serving import describe_reason_codes

    def reasons(packed):
        return "" if packed is None else "; ".join(describe_reason_codes(packed))

    decisions = Counter(row["decision"] for row in summary["loans"])
    rejections = Counter(row["reason"] for row in summary["loans"] if row["reason"])
    lines = [
        "# Scorechain demo run",
        "",
        f"Written by `make demo` (`scripts/demo.py`) on {summary['chain']} (chain id "
        f"{summary['chain_id']}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Every figure "
        "below was read from the chain or the oracle nodes' metrics and logs during this run.",
        "",
        f"- model v1: bundle id `{summary['model_v1'][:18]}…` (the SHA-256 of "
        "models/default/manifest.json: `sha256sum models/default/manifest.json` prints it whole)",
        f"- loans: {len(summary['loans'])} requested, {decisions['approved']} approved, "
        f"{decisions['rejected']} rejected ({', '.join(f'{k}: {v}' for k, v in rejections.most_common())})",
        f"- scoring: every request scored by a 2-of-3 attestation in {summary['scoring_seconds']} s",
        f"- books: outstanding principal {summary['invariants']['outstanding_principal_usd']:,.2f} "
        "tUSD equals the sum over loans",
        f"- audit: loan {summary['audit']['loan_id']} — `oracle verify` "
        f"{'confirmed' if summary['audit']['verified'] else 'did NOT confirm'} the recorded score "
        f"(PD recomputed from the stored features and model file, commitment, signatures), and the "
        f"features commitment is {'in' if summary['audit']['anchored'] else 'NOT in'} anchored batch "
        f"{summary['audit']['batch_id']}; an outsider's `oracle verify --disclosure` (disclosure, "
        f"RPC and bundle only) "
        f"{'passed every check' if summary['audit']['disclosure_verify']['ok'] else 'FAILED: ' + ', '.join(summary['audit']['disclosure_verify'].get('failed', []))}",
    ]
    if "model_update" in summary:
        mu = summary["model_update"]
        lines += [
            f"- model update: v2 (bundle id `{mu['model_v2'][:18]}…`, the SHA-256 of "
            ".scorechain/models/gmsc-v2/manifest.json) registered and approved; nodes rolled over "
            f"without restarting ({mu['rollover_seconds']} s); v1 revoked; compliance on a v1 score "
            f"now says `{mu['v1_check_reason']}`; {mu['approved_after']} of {mu['requested_after']} "
            "new loans approved on v2 scores",
        ]
    lines += ["", "## Loans", "",
              "| loan | jurisdiction | principal | APR | term | PD | score | reason codes | decision | outcome | real outcome |",
              "|---:|:-:|---:|---:|---:|---:|---:|---|---|---|---|"]
    for row in summary["loans"]:
        pd = f"{row['pd_bps'] / 100:.2f} %" if row["pd_bps"] is not None else ""
        decision = row["decision"] + (f" ({row['reason']})" if row["reason"] else "")
        lines.append(
            f"| {row['loan_id']} | {row['jurisdiction']} | {row['principal_usd']:,.0f} | "
            f"{row['apr_bps'] / 100:.1f} % | {row['term_days']} d | {pd} | {row['score'] or ''} | "
            f"{reasons(row['reason_codes'])} | {decision} | {row['outcome']} | {row['real_outcome']} |")
    lines += ["", "## Gas (receipt gasUsed)", "", "| step | calls | mean | max |", "|---|---:|---:|---:|"]
    for step, g in summary["gas"].items():
        lines.append(f"| {step} | {g['n']} | {g['mean']:,} | {g['max']:,} |")
    lines += ["", "## Oracle nodes", "", oracle_paragraph(summary["oracle"]), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def save_chain(summary: dict) -> Path:
    """anvil's whole state (blocks, receipts and logs included) and the deployment's addresses, so
    `make explorer` can serve this run's chain after the demo's anvil has gone (scripts/explorer_demo)."""
    from scripts.explorer_demo import STATE_FILE

    state = web3.provider.make_request("anvil_dumpState", [])["result"]
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({"chain_id": summary["chain_id"], "addresses": summary["addresses"],
                                      "state": state}))
    return STATE_FILE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"demo {package_version()}")
    parser.add_argument("--chain", choices=sorted(CHAINS), default="anvil")
    parser.add_argument("--borrowers", type=int, default=36)
    parser.add_argument("--seed", type=int, default=8)  # a draw that shows every path under the default model
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for scores")
    parser.add_argument("--skip-model-update", action="store_true")
    # The committed reports/demo.md changes only on purpose (`make demo-report`), never as a
    # side effect of running the demo.
    parser.add_argument("--report", default=str(ROOT / "build/demo.md"),
                        help="where to write the report (reports/demo.md: `make demo-report`)")
    args = parser.parse_args(argv)

    proj = project.load(str(ROOT), name="Scorechain")
    proj.load_config()  # brownie applies brownie-config.yaml only on request when used as a library
    proj._add_to_main_namespace()  # so `from brownie import LoanManager` works, as under `brownie run`
    brownie_rpc_quirks.install()  # before connecting: Ganache's receipt race (oracle.rpc_quirks)
    network.connect(CHAINS[args.chain])
    try:
        summary = run(args)
        if args.chain == "anvil":
            try:
                save_chain(summary)
            except Exception as exc:  # noqa: BLE001 - the explorer's input, not the demo's result
                print(f"could not save the chain for `make explorer`: {exc}", file=sys.stderr)
    finally:
        network.disconnect()
    write_report(summary, Path(args.report))
    decisions = Counter(row["decision"] for row in summary["loans"])
    print(f"\nScorechain demo on {args.chain}: {len(summary['loans'])} loans, "
          f"{decisions['approved']} approved, {decisions['rejected']} rejected; "
          f"audit {'OK' if summary['audit']['verified'] else 'FAILED'}; report: {args.report}")
    return 0 if summary["audit"]["verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
