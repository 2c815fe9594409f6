#!/usr/bin/env python3
"""Slither over every contract in contracts/ (offline, through the solc-js shim), with a triage gate.

    .venv/bin/python scripts/toolchain/slither.py            # or: make slither
    .venv/bin/python scripts/toolchain/slither.py --include-test   # also contracts/test/ (not gated)

Writes
  reports/slither.json  every detector result (deduplicated across the per-file runs; source maps
                        trimmed to file and lines), each tagged with its triage key and the triage
                        entry that covers it, plus the gate's verdict;
  build/slither/        Slither's raw JSON, one file per contract (not committed);
  reports/slither.md    a readable summary.

Fails (exit 1) when
  - any High or Medium result is not covered by an entry of reports/slither-triage.json. Entries are
    keyed by detector + contract + function and accept at most `count` results, so a new finding of
    the same kind elsewhere, or one more in the same function, still fails;
  - a triage entry is stale (matches nothing) or matches fewer results than its `count` -- fix the
    entry, or it could hide a future finding;
  - a triage entry's id is not explained in reports/security.md;
  - Slither or the compiler failed on any file (exit 2).
Inline `slither-disable` comments and slither.db.json are ignored (`--show-ignored-findings`), so the
committed triage file is the only way to accept a finding.

contracts/test/ holds test doubles (a deliberately malicious token among them) and is not deployed,
so it is left out unless --include-test is given, and never gated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLC = ROOT / ".solcx" / "solc-v0.8.24"
SLITHER = ROOT / ".venv" / "bin" / "slither"
REMAPS = "@openzeppelin/=node_modules/@openzeppelin/"
TRIAGE = ROOT / "reports" / "slither-triage.json"
SECURITY_MD = ROOT / "reports" / "security.md"
OUT_JSON = ROOT / "reports" / "slither.json"
OUT_MD = ROOT / "reports" / "slither.md"
RAW_DIR = ROOT / "build" / "slither"  # raw Slither JSON per file (build/ is git-ignored)
GATED_IMPACTS = ("High", "Medium")
IMPACT_ORDER = {"High": 0, "Medium": 1, "Low": 2, "Informational": 3, "Optimization": 4}


def targets(include_test: bool) -> list[Path]:
    files = sorted((ROOT / "contracts").glob("*.sol"))
    if include_test:
        files += sorted((ROOT / "contracts" / "test").glob("*.sol"))
    return files


def run_one(path: Path, outdir: Path) -> dict:
    """One Slither run on one file; returns its parsed JSON (or an error record)."""
    rel = path.relative_to(ROOT).as_posix()
    out = outdir / (path.stem + ".json")
    cmd = [str(SLITHER), rel, "--solc", str(SOLC.relative_to(ROOT)), "--solc-remaps", REMAPS,
           "--show-ignored-findings", "--fail-none", "--json", str(out)]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(ROOT / "node_modules" / ".bin"), str(ROOT / ".venv" / "bin"),
                                   env.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if not out.exists():
        return {"target": rel, "success": False, "error": f"no JSON written (exit {proc.returncode})",
                "log": proc.stderr[-4000:], "results": []}
    data = json.loads(out.read_text())
    ok = bool(data.get("success")) and proc.returncode == 0
    return {"target": rel, "success": ok,
            "error": data.get("error") or (None if ok else f"slither exit {proc.returncode}"),
            "log": "" if ok else proc.stderr[-4000:],
            "results": data.get("results", {}).get("detectors", [])}


def _slim(result: dict) -> dict:
    """A result without Slither's nested source maps (the raw per-file JSON stays in build/slither/):
    small enough to commit, and free of machine-specific absolute paths."""
    keep = ("id", "check", "impact", "confidence", "description", "first_markdown_element", "key", "triage")
    out = {k: result.get(k) for k in keep}
    out["where"] = location(result)
    out["elements"] = [{"type": e.get("type"), "name": e.get("name"),
                        "file": e.get("source_mapping", {}).get("filename_relative"),
                        "lines": e.get("source_mapping", {}).get("lines")}
                       for e in result.get("elements", [])]
    return out


def triage_key(result: dict) -> dict:
    """detector + contract + function (signature) of a result, from its first element."""
    el = result["elements"][0] if result.get("elements") else {}
    kind = el.get("type")
    fields = el.get("type_specific_fields", {})
    contract, function = None, None
    if kind == "function":
        contract = fields.get("parent", {}).get("name")
        function = fields.get("signature", el.get("name"))
    elif kind == "node":
        fn = fields.get("parent", {})
        function = fn.get("type_specific_fields", {}).get("signature", fn.get("name"))
        contract = fn.get("type_specific_fields", {}).get("parent", {}).get("name")
    elif kind == "contract":
        contract = el.get("name")
    elif kind in ("variable", "event", "struct", "enum", "modifier", "custom_error"):
        contract = fields.get("parent", {}).get("name")
        function = f"{kind}:{el.get('name')}"
    else:  # pragma and other file-level results
        contract = f"<file {el.get('source_mapping', {}).get('filename_relative', '?')}>"
        function = f"{kind}:{el.get('name')}"
    path = el.get("source_mapping", {}).get("filename_relative", "")
    return {"detector": result["check"], "contract": contract, "function": function, "file": path}


def location(result: dict) -> str:
    el = result["elements"][0] if result.get("elements") else {}
    sm = el.get("source_mapping", {})
    lines = sm.get("lines") or []
    where = f"{sm.get('filename_relative', '?')}"
    if lines:
        where += f"#L{lines[0]}" + (f"-L{lines[-1]}" if len(lines) > 1 else "")
    return where


def is_dependency(result: dict) -> bool:
    return location(result).startswith("node_modules/")


def load_triage() -> list[dict]:
    data = json.loads(TRIAGE.read_text())
    entries = data["triaged"]
    for e in entries:
        missing = {"id", "detector", "contract", "function", "count", "disposition", "reason"} - set(e)
        if missing:
            raise SystemExit(f"slither: triage entry {e.get('id', e)} lacks {sorted(missing)}")
    ids = [e["id"] for e in entries]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        raise SystemExit(f"slither: duplicate triage ids {dup}")
    return entries


def gate(results: list[dict], entries: list[dict], gated_files) -> dict:
    used = Counter()
    untriaged = []
    for r in results:
        r["triage"] = None
        if r["impact"] not in GATED_IMPACTS or not gated_files(r):
            continue
        k = r["key"]
        for e in entries:
            if (e["detector"], e["contract"], e["function"]) == (k["detector"], k["contract"], k["function"]):
                if used[e["id"]] < e["count"]:
                    used[e["id"]] += 1
                    r["triage"] = e["id"]
                break
        if r["triage"] is None:
            untriaged.append(r)
    stale = [e for e in entries if used[e["id"]] == 0]
    short = [e for e in entries if 0 < used[e["id"]] < e["count"]]
    sec = SECURITY_MD.read_text() if SECURITY_MD.exists() else ""
    unexplained = [e for e in entries if e["id"] not in sec]
    return {"untriaged": untriaged, "stale": stale, "fewer_than_count": short, "unexplained": unexplained,
            "used": dict(used)}


def write_reports(runs, results, entries, verdict, passed, args) -> None:
    version = subprocess.run([str(SLITHER), "--version"], capture_output=True, text=True).stdout.strip()
    by_id = {e["id"]: e for e in entries}
    doc = {
        "tool": f"slither {version}",
        "command": f"slither <file> --solc {SOLC.relative_to(ROOT)} --solc-remaps {REMAPS} "
                   "--show-ignored-findings --fail-none --json <out>",
        "targets": [{"target": r["target"], "success": r["success"], "error": r["error"]} for r in runs],
        "gate": {
            "impacts": list(GATED_IMPACTS),
            "passed": passed,
            "triage_file": str(TRIAGE.relative_to(ROOT)),
            "untriaged": [r["key"] | {"id": r["id"], "impact": r["impact"], "where": location(r)}
                          for r in verdict["untriaged"]],
            "stale_triage": [e["id"] for e in verdict["stale"]],
            "triage_count_too_high": [e["id"] for e in verdict["fewer_than_count"]],
            "unexplained_triage": [e["id"] for e in verdict["unexplained"]],
        },
        "counts": {imp: sum(1 for r in results if r["impact"] == imp) for imp in IMPACT_ORDER},
        "raw_output": str(RAW_DIR.relative_to(ROOT)) + "/<Contract>.json (not committed)",
        "results": [_slim(r) for r in results],
    }
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / OUT_JSON.name).write_text(json.dumps(doc, indent=1) + "\n")

    ours = [r for r in results if not is_dependency(r)]
    deps = [r for r in results if is_dependency(r)]
    md = ["# Slither report", "",
          f"Generated by `scripts/toolchain/slither.py` ({doc['tool']}, solc 0.8.24 via the solc-js shim, "
          "offline). One run per file in `contracts/`"
          + (" and `contracts/test/`" if args.include_test else " (test doubles in `contracts/test/` excluded)")
          + "; results deduplicated. Full output: `reports/slither.json`. Triage: "
          "`reports/slither-triage.json`, explained in `reports/security.md`.", "",
          f"**Gate: {'PASSED' if passed else 'FAILED'}** -- no untriaged High/Medium finding"
          if passed else f"**Gate: FAILED** -- {len(verdict['untriaged'])} untriaged High/Medium, "
          f"{len(verdict['stale']) + len(verdict['fewer_than_count'])} stale and "
          f"{len(verdict['unexplained'])} unexplained triage entries", "",
          "| impact | our contracts | OpenZeppelin (node_modules) |", "|---|---:|---:|"]
    for imp in IMPACT_ORDER:
        md.append(f"| {imp} | {sum(r['impact'] == imp for r in ours)} | {sum(r['impact'] == imp for r in deps)} |")
    md += ["", "## High and Medium", "", "| impact | detector | contract.function | where | triage |",
           "|---|---|---|---|---|"]
    for r in results:
        if r["impact"] in GATED_IMPACTS:
            k = r["key"]
            t = r.get("triage")
            tri = f"{t} ({by_id[t]['disposition']})" if t else "**UNTRIAGED**"
            md.append(f"| {r['impact']} | `{k['detector']}` | `{k['contract']}.{k['function']}` | {location(r)} | {tri} |")
    md += ["", "## Low, in our contracts (reported, not gated)", "", "| detector | contract.function | where |",
           "|---|---|---|"]
    for r in ours:
        if r["impact"] == "Low":
            k = r["key"]
            md.append(f"| `{k['detector']}` | `{k['contract']}.{k['function']}` | {location(r)} |")
    info = Counter(r["check"] for r in ours if r["impact"] in ("Informational", "Optimization"))
    dep_low = Counter(r["check"] for r in deps if r["impact"] not in GATED_IMPACTS)
    md += ["", "## Informational and optimization, in our contracts (counts)", ""]
    md += [f"- `{c}`: {n}" for c, n in sorted(info.items())] or ["- none"]
    md += ["", "## Low and below, in OpenZeppelin (counts)", ""]
    md += [f"- `{c}`: {n}" for c, n in sorted(dep_low.items())] or ["- none"]
    (out_dir / OUT_MD.name).write_text("\n".join(md) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--include-test", action="store_true", help="also analyse contracts/test/ (never gated)")
    ap.add_argument("--jobs", type=int, default=min(6, os.cpu_count() or 2))
    # The committed reports change only when `make slither` runs; the test run writes under build/.
    ap.add_argument("--out-dir", default=str(OUT_JSON.parent),
                    help="where slither.json and slither.md go (default reports/)")
    args = ap.parse_args(argv)

    files = targets(args.include_test)
    RAW_DIR.mkdir(parents=True, exist_ok=True)
    for old in RAW_DIR.glob("*.json"):
        old.unlink()
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda p: run_one(p, RAW_DIR), files))
    failed = [r for r in runs if not r["success"]]
    for r in failed:
        print(f"slither: analysis of {r['target']} failed: {r['error']}\n{r['log']}", file=sys.stderr)

    seen: dict[str, dict] = {}
    for run in runs:
        for res in run["results"]:
            seen.setdefault(res["id"], res)
    results = list(seen.values())
    for r in results:
        r["key"] = triage_key(r)
    results.sort(key=lambda r: (IMPACT_ORDER.get(r["impact"], 9), is_dependency(r), r["check"],
                                location(r), r["id"]))

    entries = load_triage()
    test_dir = "contracts/test/"
    verdict = gate(results, entries, lambda r: not location(r).startswith(test_dir))
    passed = not (verdict["untriaged"] or verdict["stale"] or verdict["fewer_than_count"]
                  or verdict["unexplained"] or failed)
    write_reports(runs, results, entries, verdict, passed and not failed, args)

    counts = Counter(r["impact"] for r in results)
    print(f"slither: {len(files)} files, {len(results)} results "
          + ", ".join(f"{imp} {counts.get(imp, 0)}" for imp in IMPACT_ORDER)
          + f" -> {args.out_dir}/{OUT_JSON.name}, {args.out_dir}/{OUT_MD.name}")
    for r in results:
        if r["impact"] in GATED_IMPACTS:
            k = r["key"]
            status = f"triaged {r['triage']}" if r.get("triage") else "UNTRIAGED"
            print(f"  {r['impact']:6} {k['detector']:24} {k['contract']}.{k['function']}  [{status}]")
    for r in verdict["untriaged"]:
        print(f"slither: UNTRIAGED {r['impact']} finding:\n{r['description']}", file=sys.stderr)
    for e in verdict["stale"]:
        print(f"slither: triage entry {e['id']} ({e['detector']} {e['contract']}.{e['function']}) matches no "
              "finding any more -- remove it from reports/slither-triage.json", file=sys.stderr)
    for e in verdict["fewer_than_count"]:
        print(f"slither: triage entry {e['id']} allows {e['count']} results but matched "
              f"{verdict['used'][e['id']]} -- set its count to what it matches", file=sys.stderr)
    for e in verdict["unexplained"]:
        print(f"slither: triage entry {e['id']} is not explained in reports/security.md", file=sys.stderr)
    if failed:
        return 2
    print(f"slither: gate {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
