"""Reliability report -> reports/reliability.{md,json}. Every figure comes from this command's run
(or, for the stateful fuzz records, from the files the fuzz runs wrote, with their timestamps).

    make reliability                 # = python bench/reliability.py --network development
    python bench/reliability.py --network anvil-d --only faults,outage

Parts:

  fuzz      runs the state machine's ci profile (which writes reports/fuzz_steps_ci.json), then
            reads reports/fuzz_steps_full.json and reports/fuzz_steps_ci.json (steps run per rule),
            lists the invariants the lifecycle state machine checks (its invariant_* methods and
            the allowed state edges), read from tests/contracts/test_lifecycle_state_machine.py
  faults    brownie test tests/oracle/integration/test_faults.py with SCORECHAIN_RELIABILITY_DIR:
            kill -9 mid-batch, RPC outage, peer down, disagreeing peer, k unreachable; each test
            writes what it saw (requested, recorded once, lost, duplicated, restarts)
  outage    RPC-outage recovery time, measured here: a 3-node k=2 cluster behind a TCP proxy; the
            proxy is cut, a loan is requested, the proxy is restored after the outage; the time
            from the restore until every node's /healthz is 200 again and until the pending
            request's score is on chain (polled every 0.1 s), for a few outage lengths
  badinput  brownie test tests/oracle/integration/test_bad_inputs.py: the corpus per category,
            from the test parametrization, and each case's outcome
  attacks   brownie test test_attestation_properties.py + test_credit_score_registry.py with
            --hypothesis-show-statistics: per attack class, the tests, their outcome and the
            number of generated examples that ran
  listener_attacks
            brownie test tests/oracle/integration/test_http_attacks.py with
            SCORECHAIN_RELIABILITY_DIR: attacks on a running node's listeners (pulls without or
            with someone else's signature, expired, replayed; forged and unregistered peers;
            oversize bodies; a pull flood), each test's outcome and what it measured
  oracle_attacks
            attacks on the oracle node itself: per attack, the tests that try it and their
            outcome (reorgs: test_reorgs.py on anvil, each depth writing what it saw; an RPC
            answering garbage: the chain client's unit tests)

Environment: SCORECHAIN_BENCH_NETWORK (default network), SCORECHAIN_TEST_PORTS (oracle HTTP and
proxy port ranges, see scripts/oracle_testbed.py).
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT, LoadProbe, brownie_cmd, describe_load, hypothesis_examples, install_sigterm, junit_cases,
    load_json, machine_facts, run_step, write_report)

OUT_DIR = ROOT / "build" / "reliability"
PARTS = ["fuzz", "faults", "outage", "badinput", "attacks", "oracle_attacks", "listener_attacks",
         "soak"]

# oracle-level attack -> (test path, test functions); each run writes its outcome per function
ORACLE_ATTACKS = {
    "reorg 1-5 blocks deep just after a batch landed (anvil_reorg; removed requests replayed in "
    "reverse order, so loan ids change hands), and once by evm_snapshot/evm_revert": (
        "tests/oracle/integration/test_reorgs.py",
        ["test_reorg_mid_batch_loses_nothing_and_records_nothing_twice",
         "test_reorg_by_snapshot_and_revert_loses_nothing_and_records_nothing_twice"]),
    "RPC returning garbage (logs that are not a list, a block without hashes, 5xx, 429 or "
    "non-JSON answers to a send)": (
        "tests/oracle/unit/test_reorg.py tests/oracle/unit/test_send_errors.py",
        ["test_rpc_garbage_instead_of_logs_is_an_error_not_an_empty_range",
         "test_removed_logs_are_not_events", "test_send_error_message_is_classified",
         "test_broadcast_retries_transient_errors_only_and_reports_the_class"]),
}
STATE_MACHINE = ROOT / "tests" / "contracts" / "test_lifecycle_state_machine.py"

# attack class -> test functions (in test_attestation_properties.py / test_credit_score_registry.py)
ATTACKS = {
    "replay (nonce already used)": ["test_replayed_nonce_is_rejected", "test_replayed_nonce_reverts"],
    "nonce skipped / changed": ["test_skipped_nonce_reverts", "test_modelid_or_nonce_change_is_rejected"],
    "cross-chain and cross-contract (signature for another EIP-712 domain)":
        ["test_signature_for_another_domain_is_rejected"],
    "expired or stale (validUntil passed, issuedAt not newer, issuedAt in the future)":
        ["test_expired_attestation_is_rejected", "test_expired_attestation_reverts",
         "test_older_issued_at_is_rejected", "test_older_or_equal_issued_at_reverts",
         "test_future_issued_at_reverts"],
    "revoked or unapproved model": ["test_revoked_model_attestation_is_rejected", "test_revoked_model_reverts",
                                    "test_unapproved_model_reverts"],
    "unknown signer (non-signer in any position, removed signer)":
        ["test_non_signer_in_any_position_is_rejected", "test_non_signer_signature_reverts",
         "test_removed_signer_no_longer_counts"],
    "duplicate signer": ["test_duplicated_signer_is_rejected", "test_duplicated_signer_reverts"],
    "below threshold": ["test_fewer_than_k_signatures_are_rejected", "test_fewer_than_threshold_signatures_reverts"],
    "tampered fields (any signed field changed, modelId changed)":
        ["test_changing_any_single_field_breaks_the_signatures", "test_modelid_or_nonce_change_is_rejected"],
    "malformed or high-s (malleable) signature": ["test_malformed_or_high_s_signature_reverts"],
    "out-of-range fields (pdBps > 10000, zero borrower)": ["test_pd_above_10000_bps_reverts",
                                                           "test_zero_borrower_reverts"],
    "bad entries inside a batch are skipped, good ones recorded":
        ["test_batch_records_good_entries_and_skips_bad_ones_with_their_error"],
}

# oracle-level attack -> its test in tests/oracle/integration/test_http_attacks.py
LISTENER_ATTACKS = {
    "unauthenticated pull (GET, or POST without a signature)": "test_unauthenticated_pull_is_refused",
    "someone else's pull (another borrower's or a stranger's signature)":
        "test_someone_elses_pull_is_refused",
    "delegated pull: allowed with the borrower's grant, refused once it expired":
        "test_a_delegate_pulls_with_the_borrowers_grant_and_not_after_it_expires",
    "expired or too long-lived pull request": "test_expired_pull_request_is_refused",
    "replayed pull request": "test_replayed_pull_request_is_refused",
    "pull or co-sign for a borrower without an open loan request (never requested, or recorded)":
        "test_no_score_is_signed_without_an_open_loan_request",
    "repeat pull served from the (borrower, nonce) cache, not re-gathered":
        "test_pull_results_are_cached_per_borrower_nonce",
    "forged peer request (unsigned, signed by another key, body altered)":
        "test_forged_peer_request_is_refused",
    "unregistered peer key": "test_unregistered_peer_key_is_refused",
    "stale or replayed peer request": "test_stale_or_replayed_peer_request_is_refused",
    "route on the wrong listener (sign on public, score on peer, either on admin)":
        "test_each_listener_serves_only_its_own_routes",
    "oversize body (public > 16 KiB, peer > 1 MiB)": "test_oversize_body_is_refused",
    "secrets in /healthz": "test_health_shows_no_rpc_url_or_secret",
    "flood of pulls while loans are requested": "test_a_flood_of_pulls_is_rate_limited_and_the_daemon_still_posts",
}

BAD_INPUT_CATEGORIES = {
    "test_malformed_address_is_422": "malformed borrower address, pull mode -> 422",
    "test_unknown_borrower_is_404": "unknown borrower -> 404",
    "test_malformed_sign_body_is_422": "malformed POST /v1/sign body -> 422",
    "test_peer_refuses_a_wrong_attestation": "attestation a peer must refuse (nothing signed)",
    "test_the_unmutated_attestation_is_signed": "control: the unmutated attestation is signed",
    "test_bad_feature_row_is_rejected_and_not_stored": "bad feature row at import (not stored)",
    "test_cli_import_reports_bad_rows_with_line_numbers": "CLI import reports bad rows with line numbers",
    "test_unapproved_model_signs_nothing": "unapproved model -> signs nothing",
    "test_tampered_model_file_is_refused": "tampered model file -> refused",
    "test_edited_reference_values_are_refused_by_the_node":
        "edited reference.json (bundle manifest mismatch) -> refused",
    "test_wrong_keystore_password_is_a_clear_error": "wrong keystore password -> clear error",
    "test_revoked_model_stops_signing_and_nothing_was_posted": "revoked model -> stops signing, nothing posted",
    "test_corpus_size": "corpus size check (>= 50)",
}


# ------------------------------------------------------------------------------------------ fuzz

def state_machine_facts() -> dict:
    tree = ast.parse(STATE_MACHINE.read_text())
    src = STATE_MACHINE.read_text()
    invariants, rules, edges = [], [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "LendingMachine":
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name.startswith("invariant_"):
                    checks = [ast.get_source_segment(src, n.test) for n in ast.walk(fn) if isinstance(n, ast.Assert)]
                    invariants.append({"name": fn.name, "asserts": len(checks), "checks": checks})
                elif isinstance(fn, ast.FunctionDef) and fn.name.startswith("rule_"):
                    rules.append(fn.name)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ALLOWED_EDGES" for t in node.targets):
            edges = [ast.get_source_segment(src, e) for e in node.value.elts]
    return {"invariants": invariants, "rules": rules, "allowed_state_edges": edges,
            "in_rule_checks": "every rule asserts the contract's answer (return values, events, typed "
                              "reverts) against the ghost model; _move asserts each state change is an "
                              "allowed edge"}


def fuzz_part(network: str, run_ci: bool) -> dict:
    out = {"state_machine": state_machine_facts(), "records": {}}
    if run_ci:  # a fresh ci-profile record; the full profile (~1 h) is `make fuzz-full`'s job
        env = dict(SCORECHAIN_FUZZ_PROFILE="ci", SCORECHAIN_FUZZ_STEPS="", SCORECHAIN_FUZZ_REPORT=str(ROOT / "reports" / "fuzz_steps_ci.json"))
        r = run_step("fuzz_ci", brownie_cmd("test", str(STATE_MACHINE.relative_to(ROOT)), "--network", network,
                                            "-q"), OUT_DIR / "logs", 1800, **env)
        out["ci_run"] = r
    for profile in ("full", "ci"):
        path = ROOT / "reports" / f"fuzz_steps_{profile}.json"
        rec = load_json(path)
        if rec is None:
            out["records"][profile] = {"available": False, "path": str(path.relative_to(ROOT))}
            continue
        rec = dict(rec, available=True, path=str(path.relative_to(ROOT)),
                   file_modified_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(path.stat().st_mtime)),
                   min_steps_met=rec["steps"] >= rec["settings"]["min_steps"])
        out["records"][profile] = rec
    return out


def soak_part() -> dict:
    """The last `make soak` run's record (an hour: not re-run here), read from the file it wrote."""
    path = ROOT / "reports" / "soak.json"
    rec = load_json(path)
    if rec is None:
        return {"available": False, "path": str(path.relative_to(ROOT))}
    return dict(rec, available=True, path=str(path.relative_to(ROOT)))


# ------------------------------------------------------------------------------------------ tests

def brownie_test(name: str, paths: list[str], network: str, extra: list[str] | None = None,
                 timeout: float = 1800, **env) -> dict:
    xml = OUT_DIR / f"{name}.xml"
    xml.unlink(missing_ok=True)
    cmd = brownie_cmd("test", *paths, "--network", network, f"--junitxml={xml}",
                      "-rA", *(extra or []))
    r = run_step(name, cmd, OUT_DIR / "logs", timeout, **env)
    r["cases"] = junit_cases(xml)
    r["passed"] = sum(1 for c in r["cases"] if c["outcome"] == "passed")
    r["failed"] = sum(1 for c in r["cases"] if c["outcome"] in ("failed", "error"))
    r["skipped"] = sum(1 for c in r["cases"] if c["outcome"] == "skipped")
    return r


def faults_part(network: str) -> dict:
    rec_dir = OUT_DIR / "faults"
    shutil.rmtree(rec_dir, ignore_errors=True)
    r = brownie_test("faults", ["tests/oracle/integration/test_faults.py"], network,
                     SCORECHAIN_RELIABILITY_DIR=OUT_DIR)
    r["observations"] = {p.stem: load_json(p) for p in sorted(rec_dir.glob("*.json"))}
    obs = [o for o in r["observations"].values() if o]
    r["totals"] = {"requested": sum(o["requested"] for o in obs), "recorded_once": sum(o["recorded_once"] for o in obs),
                   "lost": sum(o["lost"] for o in obs), "duplicated": sum(o["duplicated"] for o in obs),
                   "kill9": sum(o.get("kills", 0) for o in obs),
                   "node_restarts": sum(sum(s - 1 for s in o["node_starts"] if s > 1) for o in obs)}
    return r


def oracle_attacks_part(network: str) -> dict:
    rec_dir = OUT_DIR / "faults"
    for old in rec_dir.glob("reorg_*.json"):
        old.unlink()
    paths = sorted({p for path, _ in ORACLE_ATTACKS.values() for p in path.split()})
    r = brownie_test("oracle_attacks", paths, network, SCORECHAIN_RELIABILITY_DIR=OUT_DIR)
    r["reorgs"] = [load_json(p) for p in sorted(rec_dir.glob("reorg_*.json"))]
    r["attacks"] = []
    for what, (_, functions) in ORACLE_ATTACKS.items():
        cases = [c for c in r["cases"] if c["function"] in functions]
        r["attacks"].append({"attack": what, "tests": len(cases),
                             "passed": sum(1 for c in cases if c["outcome"] == "passed"),
                             "functions": functions})
    return r


def badinput_part(network: str) -> dict:
    r = brownie_test("bad_inputs", ["tests/oracle/integration/test_bad_inputs.py"], network)
    cats = {}
    for c in r["cases"]:
        d = cats.setdefault(c["function"], {"what": BAD_INPUT_CATEGORIES.get(c["function"], c["function"]),
                                            "cases": 0, "passed": 0, "failed": 0, "skipped": 0, "ids": []})
        d["cases"] += 1
        d["passed" if c["outcome"] == "passed" else "skipped" if c["outcome"] == "skipped" else "failed"] += 1
        if c["param"]:
            d["ids"].append(c["param"])
    r["categories"] = cats
    bad = [f for f in cats if f not in ("test_the_unmutated_attestation_is_signed", "test_corpus_size")]
    r["corpus_cases"] = sum(cats[f]["cases"] for f in bad)
    r["corpus_rejected_as_expected"] = sum(cats[f]["passed"] for f in bad)
    return r


def attacks_part(network: str) -> dict:
    r = brownie_test("attacks", ["tests/contracts/test_attestation_properties.py",
                                 "tests/contracts/test_credit_score_registry.py"], network,
                     extra=["--hypothesis-show-statistics"])
    examples = hypothesis_examples(ROOT / r["log"])
    by_fn = {}
    for c in r["cases"]:
        by_fn.setdefault(c["function"], []).append(c)
    classes = []
    for what, fns in ATTACKS.items():
        tests = []
        for fn in fns:
            cases = by_fn.get(fn, [])
            outcome = ("not run" if not cases else "passed" if all(c["outcome"] == "passed" for c in cases)
                       else "FAILED")
            tests.append({"test": fn, "outcome": outcome, "hypothesis_examples": examples.get(fn),
                          "file": cases[0]["file"] if cases else None})
        classes.append({"attack": what, "tests": tests,
                        "all_rejected": all(t["outcome"] == "passed" for t in tests),
                        "attempts": sum(t["hypothesis_examples"] or 1 for t in tests if t["outcome"] != "not run")})
    r["classes"] = classes
    r["hypothesis_examples"] = examples
    return r


def listener_attacks_part(network: str) -> dict:
    rec_dir = OUT_DIR / "oracle_attacks"  # where test_http_attacks.py writes
    shutil.rmtree(rec_dir, ignore_errors=True)
    r = brownie_test("listener_attacks", ["tests/oracle/integration/test_http_attacks.py"], network,
                     SCORECHAIN_RELIABILITY_DIR=OUT_DIR)
    by_fn = {c["function"]: c for c in r["cases"]}
    rows = []
    for what, fn in LISTENER_ATTACKS.items():
        case = by_fn.get(fn)
        observed = load_json(rec_dir / f"{fn}.json") or {}
        observed.pop("test", None)
        rows.append({"attack": what, "test": fn,
                     "outcome": "not run" if case is None else case["outcome"],
                     "measured": observed})
    r["rows"] = rows
    return r


# ------------------------------------------------------------------------------------------ outage

def outage_part(network: str, lengths: list[float]) -> dict:
    """In-process (brownie connected here): recovery time after an RPC outage, per outage length."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_oracle import ChainSession  # noqa: E402
    import requests

    settings_note = {}
    session = ChainSession(network)
    trials = []
    try:
        c = session.cluster(3, 2, len(lengths) + 1, 50, proxy=True)
        settings_note = {k: c.nodes[0].env[k] for k in (
            "ORACLE_POLL_INTERVAL_S", "ORACLE_RPC_TIMEOUT_S", "ORACLE_BREAKER_COOLDOWN_S",
            "ORACLE_FAILOVER_BLOCKS", "ORACLE_CONFIRMATIONS")}
        try:
            c.start()
            c.request_loan(c.borrowers[0])
            c.wait_recorded(c.borrowers[:1], timeout=60)

            def health():
                out = []
                for n in c.nodes:
                    try:
                        out.append(requests.get(n.admin_url + "/healthz", timeout=1).status_code)
                    except requests.RequestException:
                        out.append(None)
                return out

            for i, length in enumerate(lengths, start=1):
                b = c.borrowers[i]
                c.proxy.cut()
                t_cut = time.time()
                c.request_loan(b)  # straight to anvil; the nodes cannot see it
                degraded_at = None
                while time.time() - t_cut < length:
                    if degraded_at is None and any(s == 503 for s in health()):
                        degraded_at = time.time() - t_cut
                    time.sleep(0.1)
                during = health()
                recorded_during = any(x == b.address for x, _ in c.recorded())
                c.proxy.restore()
                t0 = time.time()
                t_health = t_rec = None
                while time.time() - t0 < 120 and (t_health is None or t_rec is None):
                    if t_health is None and all(s == 200 for s in health()):
                        t_health = time.time() - t0
                    if t_rec is None and any(x == b.address for x, _ in c.recorded()):
                        t_rec = time.time() - t0
                    time.sleep(0.1)
                counts = {}
                for x, _ in c.recorded():
                    counts[x] = counts.get(x, 0) + 1
                trials.append({
                    "outage_seconds": length,
                    "seconds_until_first_503": round(degraded_at, 2) if degraded_at is not None else None,
                    "health_at_end_of_outage": during, "recorded_during_outage": recorded_during,
                    "seconds_restore_to_all_healthy": round(t_health, 2) if t_health is not None else None,
                    "seconds_restore_to_recorded": round(t_rec, 2) if t_rec is not None else None,
                    "seconds_restore_to_recovered": (round(max(t_health, t_rec), 2)
                                                     if t_health is not None and t_rec is not None else None),
                    "records_for_borrower": counts.get(b.address, 0),
                    "nodes_alive": [n.alive() for n in c.nodes],
                })
                print(f"outage {length}s: {trials[-1]}", flush=True)
            total_counts = {}
            for x, _ in c.recorded():
                total_counts[x] = total_counts.get(x, 0) + 1
            duplicates = sum(v - 1 for v in total_counts.values() if v > 1)
            lost = sum(1 for b in c.borrowers if b.address not in total_counts)
        finally:
            session.stop(c)
    finally:
        session.close()
    rec = [t["seconds_restore_to_recovered"] for t in trials if t["seconds_restore_to_recovered"] is not None]
    return {"trials": trials, "node_settings": settings_note, "nodes": 3, "threshold": 2,
            "poll_seconds": 0.1, "max_seconds_restore_to_recovered": max(rec) if rec else None,
            "lost": lost, "duplicated": duplicates, "requests": len(lengths) + 1}


# ------------------------------------------------------------------------------------------ report

def _ok(b):
    return "yes" if b else "**NO**"


def write_markdown(doc: dict, path: Path) -> None:
    m = doc["machine"]
    L = ["# Scorechain reliability report", "",
         f"Generated by `{doc['command']}` on {doc['finished_at']} ({doc['duration_seconds']:.0f} s); network "
         f"`{doc['network']}`; {m.get('cpu_count')} cores, load average at start {m['load_average']}, at end "
         f"{doc['machine_after']['load_average']}. Every figure comes from this run, except the stateful-fuzz "
         "records, which are read from the files the fuzz runs wrote (timestamps given).", "",
         describe_load(doc.get("load")), ""]
    P = doc["parts"]
    stamps = {k: v.get("generated_at") for k, v in P.items()}
    if len(set(stamps.values())) > 1:
        L += ["Parts merged from earlier runs (`--merge`), generated at: "
              + ", ".join(f"{k} {v}" for k, v in stamps.items()) + ".", ""]
    # summary
    L += ["## Summary", "", "| what | figure | expected | ok |", "|---|---|---|:-:|"]
    fz = P.get("fuzz")
    if fz:
        for prof in ("full", "ci"):
            r = fz["records"][prof]
            if r["available"]:
                L.append(f"| stateful fuzz steps, `{prof}` profile ({r['file_modified_at']}) | {r['steps']:,} steps in "
                         f"{r['runs']:,} runs, {r['seconds']:,.0f} s | ≥ {r['settings']['min_steps']:,}, every "
                         f"invariant held | {_ok(r['min_steps_met'])} |")
            else:
                L.append(f"| stateful fuzz steps, `{prof}` profile | not available: `{r['path']}` not written yet | "
                         f"— | — |")
    fa = P.get("faults")
    if fa:
        t = fa["totals"]
        L.append(f"| crash / restart / fault runs (test_faults.py) | {fa['passed']} of {len(fa['cases'])} tests passed; "
                 f"{t['kill9']} kill -9, {t['node_restarts']} restarts; {t['requested']} requests: {t['recorded_once']} "
                 f"recorded once, {t['lost']} lost, {t['duplicated']} duplicated | nothing lost or duplicated | "
                 f"{_ok(fa['failed'] == 0 and t['lost'] == 0 and t['duplicated'] == 0)} |")
    sk = P.get("soak")
    if sk and sk.get("available"):
        lat = sk["latency_s"]
        L.append(f"| soak: {sk['minutes']:.0f} min, {sk['nodes']} nodes (k = {sk['threshold']}), RPC "
                 f"cuts, a kill -9, reorgs ({sk['generated_at']}) | {sk['requests_recorded']:,} of "
                 f"{sk['requests_sent']:,} requests recorded, {sk['requests_never_recorded']} missed, "
                 f"{sk['records_beyond_one_per_request']} duplicates, {sk['score_skipped_events']} "
                 f"ScoreSkipped; latency p50 {lat['p50']} s, p95 {lat['p95']} s, max {lat['max']} s | "
                 "≥ 60 min, none missed or duplicated | "
                 f"{_ok(sk['minutes'] >= 60 and sk['requests_never_recorded'] == 0 and sk['records_beyond_one_per_request'] == 0)} |")
    ou = P.get("outage")
    if ou and "error" not in ou:
        L.append(f"| RPC-outage recovery (restore → all nodes healthy and pending score on chain) | max "
                 f"{ou['max_seconds_restore_to_recovered']} s over {len(ou['trials'])} outages; {ou['lost']} lost, "
                 f"{ou['duplicated']} duplicated | recovers without intervention | "
                 f"{_ok(ou['max_seconds_restore_to_recovered'] is not None and ou['lost'] == 0 and ou['duplicated'] == 0)} |")
    bi = P.get("badinput")
    if bi:
        L.append(f"| bad-input corpus (test_bad_inputs.py) | {bi['corpus_cases']} cases, {bi['corpus_rejected_as_expected']} "
                 f"rejected as expected; {bi['passed']} of {len(bi['cases'])} tests passed | every case rejected, "
                 f"nothing signed or posted | {_ok(bi['failed'] == 0 and bi['corpus_cases'] == bi['corpus_rejected_as_expected'])} |")
    at = P.get("attacks")
    if at:
        n_ok = sum(1 for c in at["classes"] if c["all_rejected"])
        uniq = {t["test"]: t for c in at["classes"] for t in c["tests"] if t["outcome"] != "not run"}
        n_prop = sum(1 for t in uniq.values() if t["hypothesis_examples"])
        n_ex = sum(t["hypothesis_examples"] or 0 for t in uniq.values())
        L.append(f"| attacks on attestations | {n_ok} of {len(at['classes'])} attack classes rejected in every "
                 f"attempt: {len(uniq)} tests, {n_prop} of them property tests with {n_ex:,} generated examples | "
                 f"all rejected | {_ok(n_ok == len(at['classes']))} |")
    oa = P.get("listener_attacks")
    if oa:
        n_ok = sum(1 for row in oa["rows"] if row["outcome"] == "passed")
        L.append(f"| attacks on the oracle node's listeners (test_http_attacks.py) | {n_ok} of "
                 f"{len(oa['rows'])} held: unauthenticated, someone else's, expired and replayed pulls, "
                 "pulls and co-signing without an open loan request, forged, unregistered and "
                 "replayed peers refused; oversize bodies 413; a flood rate-limited while the daemon "
                 "posted | all refused, nothing signed for the attacker | "
                 f"{_ok(n_ok == len(oa['rows']))} |")
    oa = P.get("oracle_attacks")
    if oa:
        n_ok = sum(1 for a in oa["attacks"] if a["tests"] and a["passed"] == a["tests"])
        L.append(f"| attacks on the oracle node | {n_ok} of {len(oa['attacks'])} attacks met with the "
                 f"expected outcome in every test ({oa['passed']} of {len(oa['cases'])} tests passed) | "
                 f"every attack handled | {_ok(n_ok == len(oa['attacks']) and oa['failed'] == 0)} |")
    # fuzz detail
    if fz:
        sm = fz["state_machine"]
        L += ["", "## Stateful fuzzing of the loan lifecycle", "",
              "`tests/contracts/test_lifecycle_state_machine.py`: a brownie state machine with "
              f"{len(sm['rules'])} rules ({', '.join(r[5:] for r in sm['rules'])}) against a Python ghost model. "
              "Invariants, checked after every step:", ""]
        for inv in sm["invariants"]:
            L.append(f"- `{inv['name']}` ({inv['asserts']} assertions): " + "; ".join(f"`{c}`" for c in inv["checks"]))
        L += [f"- state edges: only {len(sm['allowed_state_edges'])} allowed transitions "
              f"({', '.join(sm['allowed_state_edges'])}); {sm['in_rule_checks']}.", ""]
        for prof in ("full", "ci"):
            r = fz["records"][prof]
            if not r["available"]:
                L.append(f"`{prof}` profile: `{r['path']}` is not there yet (a run writes it when it finishes).")
                continue
            rules = ", ".join(f"{k} {v:,}" for k, v in sorted(r["rules"].items(), key=lambda kv: -kv[1]))
            L.append(f"`{prof}` profile ({r['path']}, written {r['file_modified_at']}): {r['steps']:,} steps, "
                     f"{r['runs']:,} runs, {r['rounds']} rounds, {r['seconds']:,} s; min_steps "
                     f"{r['settings']['min_steps']:,} {'met' if r['min_steps_met'] else 'NOT met'}. Steps per rule: "
                     f"{rules}. The test writes this file only after every step's invariants held.")
            L.append("")
    if fa:
        L += ["", "## Crashes, restarts and faults (oracle cluster)", "",
              f"`brownie test tests/oracle/integration/test_faults.py` ({fa['seconds']} s, exit {fa['rc']}); "
              "each test writes what it saw before asserting.", "",
              "| test | outcome | s | nodes/k | requested | recorded once | lost | duplicated | detail |",
              "|---|---|---:|---|---:|---:|---:|---:|---|"]
        obs_for = {"test_kill9_mid_batch_loses_nothing_and_posts_nothing_twice": "kill9_mid_batch",
                   "test_rpc_outage_is_survived_without_intervention": "rpc_outage",
                   "test_one_peer_down_the_other_two_still_reach_k": "one_peer_down",
                   "test_a_disagreeing_peer_is_outvoted_by_two_agreeing_nodes": "disagreeing_peer",
                   "test_nothing_is_posted_when_k_cannot_be_reached": "k_unreachable"}
        skip = {"test", "nodes", "threshold", "requested", "recorded_once", "lost", "duplicated"}
        for c in fa["cases"]:
            key = obs_for.get(c["function"], "")
            if c["function"] == "test_kill9_at_each_write_ahead_edge_loses_nothing_and_submits_once":
                key = f"kill9_at_{c['param']}"
            o = fa["observations"].get(key, None)
            if o:
                detail = "; ".join(f"{k} {v}" for k, v in o.items() if k not in skip)
                L.append(f"| `{c['function']}` | {c['outcome']} | {c['seconds']} | {o['nodes']}/{o['threshold']} | "
                         f"{o['requested']} | {o['recorded_once']} | {o['lost']} | {o['duplicated']} | {detail} |")
            else:
                L.append(f"| `{c['function']}` | {c['outcome']} | {c['seconds']} | — | — | — | — | — | no record |")
    if ou:
        L += ["", "## RPC outage recovery", ""]
        if "error" in ou:
            L.append(f"Not measured: {ou['error']}")
        else:
            L += [f"3 nodes, k=2, behind a TCP proxy that is cut (every connection dropped, new ones refused); a "
                  "loan is requested directly on the chain during the outage; the proxy is restored; /healthz of "
                  f"every node and the chain are polled every {ou['poll_seconds']} s. Node settings (the integration "
                  f"tests'): {ou['node_settings']}. With the production default ORACLE_BREAKER_COOLDOWN_S=30 "
                  "recovery can take up to the cooldown longer.", "",
                  "| outage s | first 503 after s | health at end of outage | recorded during outage | restore → all healthy s | restore → score on chain s | recovered s | records for the request |",
                  "|---:|---:|---|:-:|---:|---:|---:|---:|"]
            for t in ou["trials"]:
                L.append(f"| {t['outage_seconds']} | {t['seconds_until_first_503']} | {t['health_at_end_of_outage']} | "
                         f"{t['recorded_during_outage']} | {t['seconds_restore_to_all_healthy']} | "
                         f"{t['seconds_restore_to_recorded']} | {t['seconds_restore_to_recovered']} | "
                         f"{t['records_for_borrower']} |")
            L += ["", f"Over the whole run: {ou['requests']} requests, {ou['lost']} lost, {ou['duplicated']} duplicated."]
    if bi:
        L += ["", "## Bad-input corpus", "",
              f"`brownie test tests/oracle/integration/test_bad_inputs.py` ({bi['seconds']} s, exit {bi['rc']}): "
              f"{bi['corpus_cases']} bad-input cases (from the tests' parametrization), "
              f"{bi['corpus_rejected_as_expected']} rejected as expected.", "",
              "| category | cases | passed | failed | skipped | cases tried |", "|---|---:|---:|---:|---:|---|"]
        for d in bi["categories"].values():
            ids = ", ".join(f"`{i}`" for i in d["ids"]) if d["ids"] else "—"
            L.append(f"| {d['what']} | {d['cases']} | {d['passed']} | {d['failed']} | {d['skipped']} | {ids} |")
    if at:
        L += ["", "## Attacks on attestations", "",
              f"`brownie test tests/contracts/test_attestation_properties.py tests/contracts/test_credit_score_registry.py "
              f"--hypothesis-show-statistics` ({at['seconds']} s, exit {at['rc']}; {at['passed']} passed, "
              f"{at['failed']} failed of {len(at['cases'])}). A passing test means the contract rejected the attack "
              "with the expected typed error (and, for the property tests, that the genuine attestation was "
              "accepted where the test checks it). Examples = hypothesis examples run in this pass.", "",
              "| attack | test | outcome | examples |", "|---|---|---|---:|"]
        for cl in at["classes"]:
            for i, t in enumerate(cl["tests"]):
                L.append(f"| {cl['attack'] if i == 0 else ''} | `{t['test']}` | {t['outcome']} | "
                         f"{t['hypothesis_examples'] if t['hypothesis_examples'] is not None else 'fixed test'} |")
    oa = P.get("listener_attacks")
    if oa:
        L += ["", "## Attacks on the oracle node's listeners", "",
              f"`brownie test tests/oracle/integration/test_http_attacks.py` ({oa['seconds']} s, exit "
              f"{oa['rc']}; {oa['passed']} passed, {oa['failed']} failed of {len(oa['cases'])}): a running "
              "2-node, k=2 cluster's public, peer and admin listeners (oracle/http.py, oracle/auth.py). A "
              "passing test means the request was refused with the status and reason shown and no score "
              "or signature in the answer (or, for the delegate, cache and flood rows, that the allowed "
              "path worked). Measured = what the test recorded in this run.", "",
              "| attack | test | outcome | measured |", "|---|---|---|---|"]
        for row in oa["rows"]:
            measured = "; ".join(f"{k} {v}" for k, v in row["measured"].items()) or "—"
            L.append(f"| {row['attack']} | `{row['test']}` | {row['outcome']} | "
                     f"{measured.replace('|', '/')} |")
    oa = P.get("oracle_attacks")
    if oa:
        L += ["", "## Attacks on the oracle node: reorgs and a lying RPC", "",
              f"`brownie test {' '.join(sorted({p for v in ORACLE_ATTACKS.values() for p in v[0].split()}))}` "
              f"({oa['seconds']} s, exit {oa['rc']}; {oa['passed']} passed, {oa['failed']} failed of "
              f"{len(oa['cases'])}).", "",
              "| attack | tests | passed | outcome |", "|---|---:|---:|---|"]
        for a in oa["attacks"]:
            if a["attack"].startswith("reorg") and oa["reorgs"]:
                rs = [r for r in oa["reorgs"] if r]
                outcome = (
                    "depths " + ", ".join(f"{r['depth']}" + (" by revert" if r["test"] ==
                                          "reorg_snapshot_revert" else "") for r in rs) + ": "
                    f"{sum(r['removed_records'] for r in rs)} records and "
                    f"{sum(r['removed_requests'] for r in rs)} requests taken back, "
                    f"{sum(r['loan_ids_moved_to_another_request'] for r in rs)} loan ids moved to another "
                    f"request; afterwards every borrower recorded exactly once "
                    f"({sum(1 for r in rs if set(r['records_per_borrower']) == {1})} of {len(rs)} runs), "
                    f"{sum(r['node_scan_rewinds'] for r in rs)} scan rewinds, "
                    f"{sum(r['node_tx_back_in_flight'] for r in rs)} confirmed transactions back in flight "
                    f"({sum(r.get('node_stale_resends_cancelled', 0) for r in rs)} of them stale, their nonce "
                    f"spent on a cancel), every checkpoint settled; duplicates ended as ScoreSkipped: "
                    f"{', '.join(str(r['score_skipped']) for r in rs)} (wasted gas, nothing recorded twice"
                    + (f"; why: {', '.join(sorted({w for r in rs for w in r.get('skipped_why', [])}))}"
                       if any(r.get('skipped_why') for r in rs) else "") + ")")
            else:
                outcome = ("eth_getLogs answering something that is not a list of logs, or a block "
                           "without hashes, is a ChainError (retried, then the step fails), never an "
                           "empty range; logs flagged removed are dropped; a 5xx, 429 or non-JSON "
                           "answer to a send is classified transient and the same bytes are retried"
                           if a["passed"] == a["tests"] else "see the test log")
            L.append(f"| {a['attack']} | {a['tests']} | {a['passed']} | {outcome} |")
    if sk and sk.get("available"):
        L += ["", "## Soak (`make soak`)", "",
              f"Read from `{sk['path']}` (generated {sk['generated_at']}; `reports/soak.md` lists the "
              "chaos schedule).", "",
              "| node | peak MiB | first-quarter mean MiB | last-quarter mean MiB |",
              "|---|---:|---:|---:|"]
        L += [f"| {n} | {m['peak_mib']} | {m['first_quarter_mean_mib']} | {m['last_quarter_mean_mib']} |"
              for n, m in sorted(sk["memory"].items())]
    L += ["", "Logs and JUnit XML: `build/reliability/`.", ""]
    path.write_text("\n".join(L))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Reliability report -> reports/reliability.{md,json}")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import add_version_argument
    add_version_argument(ap, "reliability")
    ap.add_argument("--network", default=os.environ.get("SCORECHAIN_BENCH_NETWORK", "development"))
    ap.add_argument("--only", default=",".join(PARTS), help=f"comma list of parts ({','.join(PARTS)})")
    ap.add_argument("--no-ci-fuzz", action="store_true",
                    help="only read reports/fuzz_steps_ci.json instead of running the ci profile first")
    ap.add_argument("--outages", default="2,5,10", help="outage lengths in seconds (comma list)")
    ap.add_argument("--out", default=str(ROOT / "reports" / "reliability"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the parts not in --only from the existing <out>.json (each part keeps its "
                         "own generated_at), e.g. --only fuzz --no-ci-fuzz --merge once the full fuzz run is done")
    args = ap.parse_args(argv)
    install_sigterm()
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.time()
    probe = LoadProbe()
    machine = machine_facts()
    parts: dict = {}
    if "fuzz" in only:
        parts["fuzz"] = fuzz_part(args.network, run_ci=not args.no_ci_fuzz)
    if "faults" in only:
        parts["faults"] = faults_part(args.network)
    if "badinput" in only:
        parts["badinput"] = badinput_part(args.network)
    if "attacks" in only:
        parts["attacks"] = attacks_part(args.network)
    if "listener_attacks" in only:
        parts["listener_attacks"] = listener_attacks_part(args.network)
    if "oracle_attacks" in only:
        parts["oracle_attacks"] = oracle_attacks_part(args.network)
    if "soak" in only:
        parts["soak"] = soak_part()
    if "outage" in only:  # last: it connects brownie in this process
        try:
            parts["outage"] = outage_part(args.network, [float(x) for x in args.outages.split(",")])
        except Exception as exc:  # reported, and the command fails
            parts["outage"] = {"error": f"{type(exc).__name__}: {exc}"}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for v in parts.values():
        v.setdefault("generated_at", now)
    out = Path(args.out)
    previous = load_json(out.with_suffix(".json")) if args.merge else None
    if previous:
        for k, v in previous.get("parts", {}).items():
            if k not in parts:
                v.setdefault("generated_at", previous.get("finished_at"))
                parts[k] = v
        parts = {k: parts[k] for k in PARTS if k in parts}
    doc = {"command": "python bench/reliability.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "network": args.network,
           "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "duration_seconds": round(time.time() - started, 1),
           "machine": machine, "machine_after": {"load_average": [round(x, 2) for x in os.getloadavg()]},
           "load": probe.stop(), "parts": parts}
    write_report(doc, out, write_markdown)
    failed = [k for k, v in parts.items() if isinstance(v, dict) and (v.get("rc") not in (None, 0) or "error" in v)]
    if failed:
        print(f"failed parts: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
