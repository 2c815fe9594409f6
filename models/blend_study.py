"""Blends as challengers (issue 13): ``python -m models ablation blend DATASET`` ->
reports/models/blend_ablation_<dataset>.{json,md}.

Would averaging the boosting families beat the best single one? For each tree family the
comparison table (comparison_<dataset>.json) holds, its best row without resampling (tuned or
default parameters) is cross-validated again on the shared folds under the schema's monotone
directions; every blend of two or more of them averages their out-of-fold PDs (a mean of
monotone models is monotone, so a blend could be served under the same gates). Each arm is
fold-paired against untuned HGB (the goals' baseline) and against the best single member. The
holdout is not used.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from . import metrics as M
from .ablation import save
from .cv import cv_oof, untuned_hgb_oof
from .selection_rule import paired

FAMILIES = ("lgbm", "xgb", "catboost", "hgb")


def members(comparison: dict) -> dict[str, dict]:
    """The best comparison row without resampling of each family in FAMILIES (by CV AUC)."""
    out = {}
    for fam in FAMILIES:
        rows = {k: r for k, r in comparison.items()
                if r.get("family") == fam and r.get("resampler") == "none"}
        if rows:
            key = max(rows, key=lambda k: rows[k]["auc_mean"])
            out[key] = rows[key]
    return out


def run(ds, sp, reports: Path, seed: int = 0) -> dict:
    path = reports / f"comparison_{ds.name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: run `python -m models compare {ds.name}` first")
    chosen = members(json.loads(path.read_text()))
    if len(chosen) < 2:
        raise ValueError(f"{path}: a blend needs rows of two of {FAMILIES}, found {list(chosen)}")
    ytr = ds.y[sp.train_idx]
    folds = [va for _, va in sp.folds]
    base = untuned_hgb_oof(ds, sp, seed)["fold_auc"]
    oof = {key: cv_oof(ds, sp, r["family"], r.get("params") or {}, "none", seed)["oof"]
           for key, r in chosen.items()}
    arms = {}
    for n in range(1, len(oof) + 1):
        for combo in itertools.combinations(oof, n):
            p = np.mean([oof[k] for k in combo], axis=0)
            fold_auc = [M.auc(ytr[va], p[va]) for va in folds]
            mean, se = paired(base, fold_auc)
            arms[" + ".join(combo)] = {"members": list(combo), "fold_auc": fold_auc,
                                       "auc_mean": float(np.mean(fold_auc)),
                                       "brier": M.brier(ytr, p),
                                       "delta_auc_vs_untuned_hgb": {"mean": mean, "se": se}}
    best = max(chosen, key=lambda k: arms[k]["auc_mean"])
    for arm in arms.values():
        mean, se = paired(arms[best]["fold_auc"], arm["fold_auc"])
        arm["delta_auc_vs_best_member"] = {"mean": mean, "se": se}
    out = {"study": "blend", "dataset": ds.name, "folds": len(sp.folds),
           "baseline": "untuned HGB on the raw features", "baseline_fold_auc": base,
           "members": {k: {"family": r["family"], "params": r.get("params") or {}}
                       for k, r in chosen.items()},
           "best_member": best, "arms": arms}
    save(reports, f"blend_ablation_{ds.name}", out, markdown(out))
    return out


def markdown(out: dict) -> str:
    lines = [f"# Blends of the boosting families: {out['dataset']}", "",
             f"{out['folds']}-fold CV on the shared folds, no resampling, the schema's monotone "
             "directions and derived features. Members: each family's best row of "
             f"comparison_{out['dataset']}.json; a blend averages the members' out-of-fold PDs "
             "(no calibration: AUC does not see it). ΔAUC is fold-paired (± SE) against untuned "
             f"HGB on the raw features (the goals' baseline) and against the best member alone "
             f"({out['best_member']}). `python -m models ablation blend {out['dataset']}`.", "",
             "| arm | CV AUC | ΔAUC vs untuned HGB | ΔAUC vs best member | Brier (OOF) |",
             "|---|---|---|---|---|"]
    for name, a in out["arms"].items():
        d, b = a["delta_auc_vs_untuned_hgb"], a["delta_auc_vs_best_member"]
        lines.append(f"| {name} | {a['auc_mean']:.4f} | {d['mean']:+.4f} ± {d['se']:.4f} | "
                     f"{b['mean']:+.4f} ± {b['se']:.4f} | {a['brier']:.5f} |")
    return "\n".join(lines) + "\n"
