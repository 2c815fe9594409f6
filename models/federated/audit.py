"""A federation run on disk, and the consortium member's check of it (issue 15).

A run directory holds ``run.json`` (lenders, their registered addresses, the strategy, every
round's record) and ``updates/round-<r>/<lender>.<i>.bin``: the updates a consortium member
receives, tensor by tensor as Flower sent them (``np.save`` bytes of an array, or an XGBoost
booster's JSON), and ``statistics/<phase>/<lender>.json``: each lender's signed answer to the
statistics rounds the preprocessing was built from.
Updates can leak a lender's data, so they stay within the consortium; the public sees only hashes
(the anchored roots). :func:`verify_run` re-checks, round by round, that each update is the one
its lender signed (signature recovers the registered address), that the file is the update the
record names, and that the strategy's own code recomputes the recorded aggregate from them; and
that each statistics answer is the one its lender signed.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path


from flwr.common import Parameters

from .lender import statistics_round
from .protocol import RoundRecord, UpdateRecord, params_sha256, signer_of
from .strategy import recompute


def save_run(run: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for rnd, by_lender in run["updates"].items():
        d = out / "updates" / f"round-{rnd}"
        d.mkdir(parents=True, exist_ok=True)
        for lender, params in by_lender.items():
            for i, t in enumerate(params.tensors):
                (d / f"{lender}.{i}.bin").write_bytes(t)
    for phase, by_lender in run.get("statistics", {}).get("sent", {}).items():
        d = out / "statistics" / phase
        d.mkdir(parents=True, exist_ok=True)
        for lender, data in by_lender.items():
            (d / f"{lender}.json").write_bytes(data)
    final = run["final"]
    for i, t in enumerate(final.tensors):
        (out / f"model.{i}.bin").write_bytes(t)
    doc = {k: run[k] for k in ("federation", "model", "strategy", "rounds", "institutions",
                               "members", "poison", "holdout_auc_by_round", "seconds", "local")}
    doc["records"] = [r.to_json() for r in run["records"]]
    doc["statistics"] = {phase: [asdict(u) for u in recs]
                         for phase, recs in run.get("statistics", {}).get("records", {}).items()}
    doc["final_sha256"] = params_sha256(final)
    doc["final_tensor_type"] = final.tensor_type
    (out / "run.json").write_text(json.dumps(doc, indent=1) + "\n")
    return out


def _tensors(stem: Path) -> list[bytes]:
    """The files <stem>.0.bin, <stem>.1.bin, ... in order."""
    out, i = [], 0
    while (f := stem.parent / f"{stem.name}.{i}.bin").exists():
        out.append(f.read_bytes())
        i += 1
    return out


def verify_run(run_dir: Path) -> list[dict]:
    """One result per round: ``ok`` and, if not, what failed."""
    doc = json.loads((run_dir / "run.json").read_text())
    members, fed = doc["members"], doc["federation"]
    out, previous = [], None
    for rec in (RoundRecord.from_json(r) for r in doc["records"]):
        problems, updates = [], {}
        for u in rec.updates:
            tensors = _tensors(run_dir / "updates" / f"round-{rec.round}" / u.institution)
            if not tensors:
                problems.append(f"{u.institution}: update file missing")
                continue
            updates[u.institution] = Parameters(tensors=tensors, tensor_type=u.tensor_type)
            if params_sha256(updates[u.institution]) != u.sha256:
                problems.append(f"{u.institution}: update file differs from the recorded update")
            if members.get(u.institution) != u.address or signer_of(
                    u.signature, fed, rec.round, u.institution, u.sha256) != u.address:
                problems.append(f"{u.institution}: signature is not the registered member's")
        if not problems:
            previous, digest = recompute(rec, updates, previous)
            if digest != rec.aggregate_sha256:
                problems.append("the aggregate recomputed from the updates differs from the "
                                "recorded one")
        out.append({"round": rec.round, "ok": not problems, "problems": problems,
                    "updates": len(rec.updates), "refused": len(rec.refused)})
    for phase, recs in doc.get("statistics", {}).items():
        problems = []
        for u in (UpdateRecord(**d) for d in recs):
            f = run_dir / "statistics" / phase / f"{u.institution}.json"
            if not f.exists():
                problems.append(f"{u.institution}: statistics file missing")
                continue
            sent = Parameters(tensors=[f.read_bytes()], tensor_type="")
            if params_sha256(sent) != u.sha256:
                problems.append(f"{u.institution}: statistics file differs from the recorded one")
            if members.get(u.institution) != u.address or signer_of(
                    u.signature, fed, statistics_round(phase), u.institution, u.sha256) != u.address:
                problems.append(f"{u.institution}: signature is not the registered member's")
        if set(members) - {r["institution"] for r in recs}:
            problems.append("a member's statistics answer is missing")
        out.append({"round": statistics_round(phase), "ok": not problems, "problems": problems,
                    "updates": len(recs), "refused": 0})
    final = doc["records"][-1]["aggregate_sha256"] if doc["records"] else None
    model = Parameters(tensors=_tensors(run_dir / "model"),
                       tensor_type=doc.get("final_tensor_type", "numpy.ndarray"))
    if final != doc["final_sha256"] or params_sha256(model) != final:
        out.append({"round": "final", "ok": False, "problems": ["the saved model is not the last "
                                                                "round's aggregate"]})
    return out
