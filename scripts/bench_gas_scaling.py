"""Gas per score against batch size and threshold (a measurement, not a test).

Run:  brownie run scripts/bench_gas_scaling.py --network development
      (or through `make bench` / `python bench/run_all.py`, which passes the network on)

For each signer set (k-of-n: 1-of-1, 2-of-3, 3-of-5) and each batch size B (1, 2, 5, 10, 20, 50),
B fresh borrowers get a first score in one `submitBatch` ("first"), then a second one in another
`submitBatch` ("update"), then a third as one `submitReport` ("report": k signatures over the whole
batch, what the oracle daemon sends when k signers signed it whole). A score is recorded only for an
open loan request, so each borrower's request (advanceNonce, outside the measured transaction) is
opened first; it writes the record slot, so "first" and "update" now differ by little. Gas is the receipt's gasUsed (after refunds, including the 21,000 base cost
and calldata). Also measured per signer set: one `submit` (update) for comparison with a batch of
one. A least-squares line total = fixed + marginal x B is fitted to the update totals, so the
per-score cost's floor (the marginal cost) and the share of the fixed cost can be read off.

Environment:
  SCORECHAIN_BENCH_QUICK=1   batch sizes 1, 5, 20 and signer sets 1-of-1, 2-of-3 only
  SCORECHAIN_BENCH_OUT=PATH  output JSON (default build/bench/gas_scaling.json)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from brownie import accounts, chain, web3

from oracle.chain import SCORE_RECORDED_TOPIC
from scripts.scorechain_deploy import deploy_system
from scripts.scorechain_testkit import MODEL_ID, Account, Oracle, as_tuple, entry_tuple, sign_report

ROOT = Path(__file__).resolve().parents[1]

RECORDED = bytes.fromhex(SCORE_RECORDED_TOPIC[2:])  # the oracle's codec: one definition of the event
FULL_SIZES = [1, 2, 5, 10, 20, 50]
QUICK_SIZES = [1, 5, 20]
FULL_SETS = [(1, 1), (2, 3), (3, 5)]
QUICK_SETS = [(1, 1), (2, 3)]


def _now() -> int:
    return chain[-1].timestamp


def _fit(points: list[tuple[int, int]]) -> dict:
    """Least squares total = fixed + marginal * B over (B, total) points."""
    n = len(points)
    if n < 2:
        return {}
    sx = sum(b for b, _ in points)
    sy = sum(t for _, t in points)
    sxx = sum(b * b for b, _ in points)
    sxy = sum(b * t for b, t in points)
    marginal = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    fixed = (sy - marginal * sx) / n
    worst = max(abs(t - (fixed + marginal * b)) for b, t in points)
    return {"fixed_gas": round(fixed), "marginal_gas_per_score": round(marginal),
            "max_abs_residual_gas": round(worst)}


def main():
    quick = os.environ.get("SCORECHAIN_BENCH_QUICK", "") not in ("", "0")
    sizes = QUICK_SIZES if quick else FULL_SIZES
    sets = QUICK_SETS if quick else FULL_SETS
    admin, approver, relayer = accounts[0], accounts[1], accounts[9]
    batch_gas = min(25_000_000, web3.eth.get_block("latest")["gasLimit"])  # brownie's anvil: 12M

    def deploy(k, n):
        keys = [Account.create() for _ in range(n)]
        system = deploy_system(admin, oracle_signers=[a.address for a in keys], threshold=k,
                               roles={"model_approver": approver})
        system.model_registry.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32,
                                       "ipfs://model", 1, {"from": admin})
        system.model_registry.approve(MODEL_ID, {"from": approver})
        # a score is recorded only for an open request: the benchmark opens them itself
        # (advanceNonce, as LoanManager.request does), outside the measured transactions
        reg = system.score_registry
        reg.grantRole(reg.SCORE_REQUESTER_ROLE(), admin, {"from": admin})
        return Oracle(registry=reg, chain_id=chain.id, keys=keys, requester=admin)

    def open_requests(oracle, who):
        sent = [web3.eth.send_transaction({"from": admin.address, "to": oracle.registry.address,
                                           "data": oracle.registry.advanceNonce.encode_input(b),
                                           "gas": 200_000, "gasPrice": 10**9}) for b in who]
        for h in sent:
            assert web3.eth.wait_for_transaction_receipt(h, timeout=120)["status"] == 1

    def fresh(count):
        return [web3.to_checksum_address(Account.create().address) for _ in range(count)]

    def batch(oracle, who, issued_at, report=False):
        """One submitBatch (k signatures per entry), or with report=True one submitReport (k
        signatures over the whole batch, as the daemon sends it); returns its gasUsed."""
        open_requests(oracle, who)
        atts = [oracle.attestation(b, issued_at=issued_at) for b in who]
        reg = oracle.registry
        if report:
            digest = "0x" + bytes(reg.configDigest()).hex()
            sigs = sign_report(digest, atts, oracle.keys[:reg.threshold()], oracle.chain_id, reg.address)
            data = reg.submitReport.encode_input(digest, [entry_tuple(a) for a in atts], sigs)
        else:
            data = reg.submitBatch.encode_input([as_tuple(a) for a in atts], [oracle.sign(a) for a in atts])
        # sent with plain web3 and an explicit gas limit: brownie's confirmation bookkeeping
        # reported a large batch "dropped" on a loaded machine although anvil mined it
        h = web3.eth.send_transaction({"from": relayer.address, "to": oracle.registry.address,
                                       "data": data, "gas": batch_gas, "gasPrice": 10**9})
        r = web3.eth.wait_for_transaction_receipt(h, timeout=120)
        assert r["status"] == 1, "batch reverted"
        recorded = sum(1 for log in r["logs"] if log["topics"] and bytes(log["topics"][0]) == RECORDED)
        assert recorded == len(who), f"batch entries were skipped: {recorded} of {len(who)} recorded"
        return r["gasUsed"]

    results = []
    for k, n in sets:
        oracle = deploy(k, n)
        # warm-up: the registry's own slots (threshold, signer set) are touched once before
        warm = fresh(1)
        batch(oracle, warm, _now() - 30)
        row = {"k": k, "n": n, "sizes": {}}
        for size in sizes:
            who = fresh(size)
            t = _now()
            first = batch(oracle, who, t - 20)
            update = batch(oracle, who, t - 10)
            report = batch(oracle, who, t - 5, report=True)
            row["sizes"][str(size)] = {
                "first_total": first, "update_total": update, "report_total": report,
                "first_per_score": first // size, "update_per_score": update // size,
                "report_per_score": report // size,
            }
            print(f"{k}-of-{n} B={size:>3}: update {update // size:>7,}/score  first {first // size:>7,}/score"
                  f"  report {report // size:>7,}/score")
        b = fresh(1)[0]
        t = _now()
        oracle.open_request(b)
        oracle.submit(oracle.attestation(b, issued_at=t - 10), sender=relayer)
        oracle.open_request(b)
        row["submit_single_update"] = oracle.submit(oracle.attestation(b, issued_at=t - 5),
                                                    sender=relayer).gas_used
        row["fit_update"] = _fit([(int(s), v["update_total"]) for s, v in row["sizes"].items()])
        row["fit_first"] = _fit([(int(s), v["first_total"]) for s, v in row["sizes"].items()])
        results.append(row)

    out = Path(os.environ.get("SCORECHAIN_BENCH_OUT", ROOT / "build" / "bench" / "gas_scaling.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "network": getattr(web3.provider, "endpoint_uri", str(web3.provider)),
        "chain_id": chain.id, "quick": quick, "batch_sizes": sizes,
        "what": "receipt gasUsed / batch size: submitBatch (first score, update) and submitReport (update)",
        "sets": results,
    }
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {out}")
