"""Domain features measured before they go into a schema (issue 13):
``python -m models ablation domain DATASET`` -> reports/models/domain_ablation_<dataset>.{json,md}.

For each candidate set of derived features (models/derived.py): fold-paired CV AUC on the shared
folds against untuned HGB on the raw features (the goals' baseline), for HGB and LightGBM under
the schema's monotone directions; the ICE violations of the raw features' declared directions
(models.gates) of LightGBM fitted on the training split; and, for the set that keeps every
direction, whether a LightGBM bundle built on it passes the fair-lending gates. The holdout's
labels are not used (the gates read holdout rows' features only, as at export).

The candidates are a data set's own ``derived`` list, or for GMSC the three the issue names (its
schema declares none: see the report for why).
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from .ablation import save
from .cv import cv_oof, summarise, untuned_hgb_oof
from .derived import without
from .families import build_pipeline
from .gates import ice_violations_of
from .selection_rule import paired

# Candidates measured beside the schema's own derived features, e.g. ones the study refused
# (the schema's definitions are not repeated here, so an edit there reaches the study).
CANDIDATES = {
    "gmsc": [
        # no direction keeps both inputs' (income: decreasing; debt ratio: none): left free; it
        # bends income's direction (ICE gate), so the schema does not declare it
        {"name": "MonthlyDebt", "op": "product", "inputs": ["DebtRatio", "MonthlyIncome"],
         "scale": "log", "label": "Monthly debt payments"},
    ],
}
FAMILIES = ("hgb", "lgbm")
ICE_ROWS = 200


def candidate_sets(ds) -> dict[str, list[dict]]:
    cands = [*ds.schema.get("derived", []), *CANDIDATES.get(ds.name, [])]
    sets = {"raw features": [], "every candidate": cands}
    directed = [c for c in cands if c.get("monotone")]
    if 0 < len(directed) < len(cands):
        sets["candidates with a direction"] = directed
    return sets


def _gates(ds, sp, schema) -> dict:
    from .train import GateFailure, export_bundle, fit_final
    cfg = {"family": "lgbm", "params": {}, "resampler": "none", "calibration": "sigmoid"}
    ds2 = dataclasses.replace(ds, schema=schema)
    model = fit_final(ds2, sp, cfg)
    tmp = Path(tempfile.mkdtemp(prefix="domain-gates-"))
    try:
        out = export_bundle(model, ds2, sp, cfg, tmp / "bundle")
        return {"passed": True, "failures": [],
                "top_reason_flip_at_2pct": out["gates"].get("top_reason_flip_at_2pct")}
    except GateFailure as e:
        return {"passed": False, "failures": e.failures}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(ds, sp, reports: Path, seed: int = 0, gates: bool = True) -> dict:
    raw = without(ds.schema)
    ytr, Xtr = ds.y[sp.train_idx], ds.X[sp.train_idx]
    base = untuned_hgb_oof(ds, sp, seed)
    rows = ds.X[sp.holdout_idx[:ICE_ROWS]]
    arms = {}
    for set_name, feats in candidate_sets(ds).items():
        schema = {**raw, "derived": feats} if feats else raw
        dsx = dataclasses.replace(ds, schema=schema)
        for fam in FAMILIES:
            res = cv_oof(dsx, sp, fam, {}, "none", seed)
            mean, se = paired(base["fold_auc"], res["fold_auc"])
            arm = {"set": set_name, "family": fam, "derived": [f["name"] for f in feats],
                   "delta_auc_vs_untuned_hgb": {"mean": mean, "se": se},
                   **summarise(ytr, res)}
            if fam == "lgbm":
                pipe = build_pipeline(fam, schema, {}, "none", seed=seed).fit(Xtr, ytr)
                arm["ice_violations"] = ice_violations_of(
                    lambda Z, p=pipe: p.predict_proba(Z)[:, 1], schema, rows)
                if gates and feats and sum(arm["ice_violations"].values()) == 0:
                    arm["gates"] = _gates(ds, sp, schema)
            arms[f"{fam} / {set_name}"] = arm
    out = {"study": "domain", "dataset": ds.name, "folds": len(sp.folds),
           "baseline": "untuned HGB on the raw features", "baseline_fold_auc": base["fold_auc"],
           "candidates": candidate_sets(ds)["every candidate"], "arms": arms}
    save(reports, f"domain_ablation_{ds.name}", out, markdown(out))
    return out


def markdown(out: dict) -> str:
    lines = [f"# Domain features: {out['dataset']}", "",
             f"{out['folds']}-fold CV on the shared folds, no resampling, default parameters, "
             "the schema's monotone directions (and each candidate's own). ΔAUC is fold-paired "
             "against untuned HGB on the raw features, the goals' baseline. ICE: rows (of "
             f"{ICE_ROWS} holdout rows) whose PD moves against a raw feature's declared direction, "
             "for LightGBM fitted on the training split; the fair-lending gates refuse any. "
             f"`python -m models ablation domain {out['dataset']}`.", "",
             "| candidate | op | inputs | direction |", "|---|---|---|---|"]
    lines += [f"| {c['name']} | {c['op']} | {', '.join(c['inputs'])} | "
              f"{c.get('monotone', 'free')} |" for c in out["candidates"]]
    lines += ["", "| arm | CV AUC mean ± sd | ΔAUC vs untuned HGB (± SE) | ICE violations | "
              "LightGBM bundle's gates |", "|---|---|---|---|---|"]
    for name, a in out["arms"].items():
        d = a["delta_auc_vs_untuned_hgb"]
        ice = a.get("ice_violations")
        ice_txt = ("—" if ice is None else
                   ", ".join(f"{k} {v}" for k, v in ice.items() if v) or "0")
        g = a.get("gates")
        g_txt = ("—" if g is None else "passed" if g["passed"] else "; ".join(g["failures"]))
        lines.append(f"| {name} | {a['auc_mean']:.4f} ± {a['auc_sd']:.4f} | "
                     f"{d['mean']:+.4f} ± {d['se']:.4f} | {ice_txt} | {g_txt} |")
    return "\n".join(lines) + "\n"
