"""C-NAS, the cost-aware architecture search of VeriCred (seed 004 §3.3, Algorithms 4 and 5),
over the cell networks of :mod:`models.cnas` (``python -m models cnas DATASET`` ->
reports/models/cnas_<dataset>.{json,md}).

Each round samples ``per_round`` architectures, every hyper-parameter from the seed's cost-aware
categorical distribution (its Equation 2): ``P(v) ~ exp(-lam * c(v) / c_ref)``, ``c(v)`` the FLOPs
of a reference architecture with that hyper-parameter set to ``v`` and ``c_ref`` the reference's
own. Each is trained (epoch budget, early convergence stop: models.cnas) and scored on the
validation part of the first shared fold. A random-forest meta-model of validation AUC on the
hyper-parameters then ranks their importance (impurity, i.e. variance, reduction: the seed's
importance score), and the least important one still free is fixed to its cheapest value for the
rounds that follow. The search stops after ``rounds`` rounds, or earlier when the best AUC has
not improved by ``eps`` for ``patience`` rounds. The top ``top`` architectures of the archive are
then cross-validated on all the shared folds, like every other row of the tables.

Recorded: every architecture tried (its hyper-parameters, FLOPs, single-row onnxruntime latency
of the whole exported pipeline, validation AUC, epochs and seconds), the prunings and the
importances behind them, the accuracy-cost Pareto fronts (AUC against FLOPs and against latency)
and the search's own cost.
"""
from __future__ import annotations

import json
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from . import metrics as M
from .cnas import OPS, CellNetClassifier, flops
from .cv import cv_oof, summarise
from .families import MAX_TRAIN_ROWS, Subsample
from .preprocess import TabularPrep

# Values in order of cost where cost depends on them (cheapest first).
SPACE = {
    "stages": [1, 2],
    "cells": [1, 2],
    "nodes": [1, 2, 3, 4],
    **{f"op{j + 1}": ["skip", "dense", "mix", "attention"] for j in range(4)},
    "dim": [8, 16, 32],
    "reduce": ["mean", "dense"],
    "learning_rate": [1e-3, 3e-3],
}
assert all(set(SPACE[f"op{j + 1}"]) == set(OPS) for j in range(4))
# The reference architecture the per-value costs are measured on: every node in use, so that each
# op slot has a cost of its own.
REFERENCE = {"stages": 1, "cells": 1, "nodes": 4, "op1": "dense", "op2": "dense",
             "op3": "dense", "op4": "dense", "dim": 16, "reduce": "mean",
             "learning_rate": 1e-3}


def genome(hp: dict) -> dict:
    """The cnas family's parameters (models.families) from a point of the search space."""
    return {"stages": int(hp["stages"]), "cells": int(hp["cells"]), "nodes": int(hp["nodes"]),
            "ops": [hp[f"op{j + 1}"] for j in range(4)], "dim": int(hp["dim"]),
            "reduce": hp["reduce"], "learning_rate": float(hp["learning_rate"])}


def _flops(n_features: int, hp: dict) -> int:
    g = genome(hp)
    return flops(n_features, **{k: g[k] for k in ("stages", "cells", "nodes", "dim", "reduce")},
                 ops=g["ops"])


def value_costs(n_features: int) -> dict[str, dict]:
    return {h: {v: _flops(n_features, {**REFERENCE, h: v}) for v in vals}
            for h, vals in SPACE.items()}


def sampling_probs(costs: dict, c_ref: float, lam: float) -> dict[str, np.ndarray]:
    out = {}
    for h, vals in SPACE.items():
        c = np.array([costs[h][v] for v in vals], dtype=float)
        w = np.exp(-lam * (c - c.min()) / c_ref)
        out[h] = w / w.sum()
    return out


def pareto(points: list[dict], cost: str) -> list[dict]:
    """Non-dominated points: no other has at most the cost and a higher AUC."""
    front, best = [], -np.inf
    for p in sorted(points, key=lambda p: (p[cost], -p["auc"])):
        if p["auc"] > best:
            front.append(p)
            best = p["auc"]
    return front


def _latency_ms(prep, scale, net, n_features: int, row: np.ndarray) -> float:
    """Single-row latency of the whole exported pipeline (preprocessing included)."""
    from .onnx_export import single_row_latency_ms, to_onnx
    onx = to_onnx(Pipeline([("prep", prep), ("scale", scale), ("clf", net)]), n_features)
    return single_row_latency_ms(onx, row)


def search(ds, sp, *, rounds: int = 5, per_round: int = 6, lam: float = 1.0, top: int = 3,
           eps: float = 0.001, patience: int = 2, max_epochs: int = 20, seed: int = 0,
           budget: float | None = None, cv_top: bool = True, progress=None) -> dict:
    """``budget``: seconds after which no new architecture is started (the first always is; the
    top architectures' cross-validation comes after it). ``progress``: a callable for one-line messages; by default
    a progress bar over the architectures, with the messages above it."""
    from tqdm import tqdm
    bar = tqdm(total=rounds * per_round, desc=f"C-NAS {ds.name}", unit="arch",
               disable=progress is not None)
    progress = progress or bar.write
    t_start = time.time()
    rng = np.random.default_rng(seed)
    Xall, yall = ds.X[sp.train_idx], ds.y[sp.train_idx]
    tr, va = sp.folds[0]
    Xtr, ytr = Subsample(MAX_TRAIN_ROWS["cnas"], random_state=seed).fit_resample(Xall[tr],
                                                                                 yall[tr])
    prep = TabularPrep.from_schema(ds.schema, one_hot=True, clip=True, log=True)
    scale = StandardScaler()
    Ztr = scale.fit_transform(prep.fit_transform(Xtr))
    Zva = scale.transform(prep.transform(Xall[va]))
    n_tokens = Ztr.shape[1]
    costs = value_costs(n_tokens)
    c_ref = _flops(n_tokens, REFERENCE)
    probs = sampling_probs(costs, c_ref, lam)
    fixed: dict = {}
    history, prunings, seen = [], [], set()
    best_by_round, stale, over_budget = [], 0, False
    for r in range(rounds):
        for _ in range(per_round):
            if budget is not None and history and time.time() - t_start > budget:
                over_budget = True
                break
            for _attempt in range(50):  # a new architecture, not one already trained
                hp = {h: (fixed[h] if h in fixed else
                          SPACE[h][rng.choice(len(SPACE[h]), p=probs[h])]) for h in SPACE}
                g = genome(hp)
                key = json.dumps({**g, "ops": g["ops"][:g["nodes"]]}, sort_keys=True)
                if key not in seen:
                    break
            seen.add(key)
            t0 = time.time()
            net = CellNetClassifier(**{**g, "ops": tuple(g["ops"])}, max_epochs=max_epochs,
                                    random_state=seed).fit(Ztr, ytr)
            seconds = time.time() - t0
            auc = M.auc(yall[va], net.predict_proba(Zva)[:, 1])
            lat = _latency_ms(prep, scale, net, Xall.shape[1], Xall[va][0])
            history.append({"round": r, "hp": {h: hp[h] for h in SPACE}, "genome": g,
                            "auc": auc, "flops": net.flops_, "latency_ms": lat,
                            "epochs": net.epochs_run_, "train_seconds": seconds})
            progress(f"round {r} arch {len(history)}: AUC {auc:.4f}, {net.flops_:,} FLOPs, "
                     f"{lat:.3f} ms, {net.epochs_run_} epochs, {seconds:.0f} s")
            bar.update(1)
        if over_budget:
            break
        best = max(h["auc"] for h in history)
        stale = stale + 1 if best_by_round and best < best_by_round[-1] + eps else 0
        best_by_round.append(best)
        if stale >= patience:
            break
        free = [h for h in SPACE if h not in fixed]
        if r < rounds - 1 and len(free) > 1:
            imp = importances(history, seed)
            h = min(free, key=lambda k: imp[k])
            fixed[h] = min(SPACE[h], key=lambda v: costs[h][v])
            prunings.append({"after_round": r, "fixed": h, "value": fixed[h],
                             "importances": imp})
            progress(f"pruned {h} -> {fixed[h]} (importance {imp[h]:.3f})")
    bar.close()
    search_seconds = time.time() - t_start
    ranked = sorted(history, key=lambda h: -h["auc"])[:top]
    out = {"dataset": ds.name, "validation": "fold 0 of the shared folds",
           "train_rows": int(len(ytr)), "validation_rows": int(len(va)), "tokens": n_tokens,
           "lam": lam, "rounds_run": len(best_by_round), "per_round": per_round,
           "budget_seconds": budget, "stopped_by_budget": over_budget,
           "max_epochs": max_epochs, "value_costs": {h: {str(v): c for v, c in cs.items()}
                                                     for h, cs in costs.items()},
           "history": history, "prunings": prunings, "best_by_round": best_by_round,
           "pareto_flops": pareto(history, "flops"), "pareto_latency": pareto(history,
                                                                               "latency_ms"),
           "cost": {"seconds": search_seconds, "architectures": len(history),
                    "epochs": int(sum(h["epochs"] for h in history))},
           "top": []}
    for h in ranked:
        row = {"genome": h["genome"], "validation_auc": h["auc"], "flops": h["flops"],
               "latency_ms": h["latency_ms"]}
        if cv_top:
            t0 = time.time()
            row["cv"] = summarise(yall, cv_oof(ds, sp, "cnas", h["genome"], "none", seed))
            progress(f"top {len(out['top']) + 1}: CV AUC {row['cv']['auc_mean']:.4f} "
                     f"({time.time() - t0:.0f} s)")
        out["top"].append(row)
    out["cost"]["seconds_with_cv"] = time.time() - t_start
    return out


def importances(history: list[dict], seed: int = 0) -> dict[str, float]:
    """Random-forest (impurity) importance of each hyper-parameter for validation AUC, values
    coded by their position in SPACE (ordered by cost)."""
    X = np.array([[SPACE[h].index(rec["hp"][h]) for h in SPACE] for rec in history], float)
    y = np.array([rec["auc"] for rec in history])
    rf = RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=seed)
    rf.fit(X, y)
    return dict(zip(SPACE, (float(v) for v in rf.feature_importances_)))


def markdown(out: dict) -> str:
    ds = out["dataset"]
    c = out["cost"]
    cmd = f"python -m models cnas {ds}" + (" --lam 0" if out["lam"] == 0 else "")
    lines = [f"# C-NAS search: {ds}" + (" (no cost term: the ablation)" if out["lam"] == 0
                                        else ""), "",
             f"`{cmd}` (models/cnas_search.py). Each architecture trained on "
             f"{out['train_rows']:,} rows of the first shared fold's training part and scored on "
             f"its {out['validation_rows']:,} validation rows; {out['tokens']} input tokens; "
             f"cost sensitivity lam = {out['lam']}; at most {out['max_epochs']} epochs with an "
             "early stop. The holdout is not used.", "",
             f"Search cost: {c['architectures']} architectures, {c['epochs']} epochs, "
             f"{c['seconds']:.0f} s ({c.get('seconds_with_cv', c['seconds']):.0f} s with the "
             f"top architectures' cross-validation), {out['rounds_run']} rounds"
             + (f"; stopped by the {out['budget_seconds']:.0f} s budget" if
                out.get("stopped_by_budget") else "") + ".", "",
             "## Top architectures, cross-validated on the shared folds", "",
             "| rank | architecture | FLOPs | latency ms | validation AUC | CV AUC mean ± sd |",
             "|---|---|---|---|---|---|"]
    for i, t in enumerate(out["top"], 1):
        cv = t.get("cv")
        lines.append(f"| {i} | {describe(t['genome'])} | {t['flops']:,} | "
                     f"{t['latency_ms']:.3f} | {t['validation_auc']:.4f} | "
                     + (f"{cv['auc_mean']:.4f} ± {cv['auc_sd']:.4f}" if cv else "—") + " |")
    for cost, title in (("flops", "FLOPs"), ("latency_ms", "single-row latency, ms")):
        lines += ["", f"## Pareto front: validation AUC against {title}", "",
                  f"| {title} | AUC | architecture |", "|---|---|---|"]
        lines += [f"| {p[cost]:,.3f} | {p['auc']:.4f} | {describe(p['genome'])} |"
                  if cost == "latency_ms" else
                  f"| {p[cost]:,} | {p['auc']:.4f} | {describe(p['genome'])} |"
                  for p in out[f"pareto_{'flops' if cost == 'flops' else 'latency'}"]]
    lines += ["", "## Pruning (least important hyper-parameter fixed to its cheapest value)", "",
              "| after round | fixed | value | its importance |", "|---|---|---|---|"]
    lines += [f"| {p['after_round']} | {p['fixed']} | {p['value']} | "
              f"{p['importances'][p['fixed']]:.3f} |" for p in out["prunings"]]
    lines += ["", "## Every architecture tried", "",
              "| round | architecture | FLOPs | latency ms | AUC | epochs | seconds |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {h['round']} | {describe(h['genome'])} | {h['flops']:,} | "
              f"{h['latency_ms']:.3f} | {h['auc']:.4f} | {h['epochs']} | "
              f"{h['train_seconds']:.0f} |" for h in out["history"]]
    return "\n".join(lines) + "\n"


def describe(g: dict) -> str:
    return (f"{g['stages']}x({g['cells']} cell{'s' if g['cells'] > 1 else ''}: "
            f"{'/'.join(g['ops'][:g['nodes']])}; reduce {g['reduce']}), dim {g['dim']}, "
            f"lr {g['learning_rate']:g}")
