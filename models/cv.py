"""Cross-validated comparison of families x resamplers on the shared folds, and Optuna search."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics as M
from .calibration import crossfit_brier
from .data import Dataset, Splits
from .derived import used_by
from .families import (FAMILIES, MAX_TRAIN_ROWS, MONOTONE_FAMILIES, REVISION, RESAMPLE_RATIO, RESAMPLERS, build_pipeline,
                       supports)

log = logging.getLogger(__name__)


def cv_oof(ds: Dataset, splits: Splits, family: str, params: dict | None = None,
           resampler: str = "none", seed: int = 0, folds: list[int] | None = None,
           monotone: bool = True, max_train_rows: int | None = -1, domain: bool = True) -> dict:
    """Out-of-fold PDs on the training split (only the listed folds are filled).
    ``max_train_rows=-1``: the family's own cap."""
    Xtr, ytr = ds.X[splits.train_idx], ds.y[splits.train_idx]
    oof = np.full(len(ytr), np.nan)
    fold_auc, t0 = [], time.time()
    for k, (tr, va) in enumerate(splits.folds):
        if folds is not None and k not in folds:
            continue
        pipe = build_pipeline(family, ds.schema, params, resampler, seed=seed,
                              max_train_rows=max_train_rows, monotone=monotone, domain=domain)
        pipe.fit(Xtr[tr], ytr[tr])
        oof[va] = pipe.predict_proba(Xtr[va])[:, 1]
        fold_auc.append(M.auc(ytr[va], oof[va]))
    return {"oof": oof, "fold_auc": fold_auc, "seconds": time.time() - t0}


def untuned_hgb_oof(ds: Dataset, splits: Splits, seed: int = 0) -> dict:
    """:func:`cv_oof` of the goals' baseline: untuned HGB without the schema's monotone directions
    or derived features (the CV twin of families.untuned_hgb_pipeline)."""
    return cv_oof(ds, splits, "hgb", {}, "none", seed, monotone=False, domain=False)


def summarise(y: np.ndarray, res: dict) -> dict:
    m = ~np.isnan(res["oof"])
    p, yy = res["oof"][m], y[m]
    cal = crossfit_brier(p, yy)
    best = min(cal, key=cal.get)
    return {"auc_mean": float(np.mean(res["fold_auc"])), "auc_sd": float(np.std(res["fold_auc"])),
            "fold_auc": res["fold_auc"], "oof_auc": M.auc(yy, p), "h_measure": M.h_measure(yy, p),
            "ks": M.ks_statistic(yy, p), "brier_raw": M.brier(yy, p),
            "brier_crossfit": cal, "best_calibration": best, "seconds": res["seconds"]}


def compare(ds: Dataset, splits: Splits, out_json: Path, families=FAMILIES,
            resamplers=RESAMPLERS, params_by_family: dict | None = None, seed: int = 0) -> dict:
    results = json.loads(out_json.read_text()) if out_json.exists() else {}
    ytr = ds.y[splits.train_idx]
    combos = [(f, r) for f in families for r in resamplers if supports(f, r)]
    for fam, rs in tqdm(combos, desc=f"compare {ds.name}"):
        key = f"{fam}/{rs}"
        params = (params_by_family or {}).get(fam, {})
        mono = constraints(fam, ds.schema)
        revision = REVISION.get(fam, 1)
        if (key in results and results[key].get("params") == params
                and results[key].get("monotone") == mono
                and results[key].get("derived") == used_by(fam, ds.schema)
                and results[key].get("revision", 1) == revision):
            continue
        res = cv_oof(ds, splits, fam, params, rs, seed)
        results[key] = {"family": fam, "resampler": rs, "params": params, "monotone": mono,
                        **({"derived": used_by(fam, ds.schema)} if used_by(fam, ds.schema) else {}),
                        **({"revision": revision} if revision != 1 else {}),
                        "train_rows_cap": MAX_TRAIN_ROWS.get(fam), **summarise(ytr, res)}
        log.info("%s %s: AUC %.4f", ds.name, key, results[key]["auc_mean"])
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(results, indent=1) + "\n")
    return results


def constraints(family: str, schema: dict) -> dict[str, str] | None:
    """The monotone directions a family is trained under ({feature: direction}), None for a
    family that takes none. Part of a comparison row: a row computed under other constraints
    (or none, before issue 13) is computed again, not reused."""
    if family not in MONOTONE_FAMILIES:
        return None
    return {f["name"]: f["monotone"] for f in schema["features"] if f.get("monotone")}


def comparison_markdown(ds: Dataset, splits: Splits, results: dict) -> str:
    lines = [f"# Model comparison: {ds.name}", "",
             f"5-fold stratified CV on the training split ({len(splits.train_idx)} rows; frozen "
             f"20% holdout of {len(splits.holdout_idx)} rows untouched; holdout fingerprint "
             f"`{splits.fingerprint()[:16]}`). Same folds for every row of the table.",
             f"Resamplers bring the minority/majority ratio of each training fold to "
             f"{RESAMPLE_RATIO}: `smote` = imbalanced-learn SMOTE (k=5) on standardised "
             "features, `nia` = neighbourhood interpolation augmentation (VeriCred Algorithm 1, "
             "k=5, per-feature interpolation factors, Gaussian noise 0.01 s.d.).",
             "Slow families are trained on a stratified subsample of each training fold: "
             + ", ".join(f"{k} {v} rows" for k, v in MAX_TRAIN_ROWS.items())
             + "; validation always uses the whole validation fold.",
             "Brier (raw) is the uncalibrated fold-model PD; Brier (cal) is after the best of "
             "none/sigmoid/isotonic calibration cross-fitted on the out-of-fold scores.",
             *(["The scorecard (optbinning WoE bins + sign-constrained logistic regression) "
                "takes no resampler and is exported uncalibrated, so its points add up to its "
                "score."] if any(r["family"] == "scorecard" for r in results.values()) else []),
             "",
             "Monotone: the family is trained under the schema's declared directions "
             "(" + ", ".join(sorted(MONOTONE_FAMILIES)) + "); the others cannot be constrained.",
             "",
             "| family | resampler | params | AUC mean ± sd | OOF AUC | H | KS | Brier raw | "
             "Brier cal (method) | seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results.values(), key=lambda r: -r["auc_mean"]):
        bc = r["brier_crossfit"][r["best_calibration"]]
        lines.append(f"| {r['family']}{' (monotone)' if r.get('monotone') else ''} | "
                     f"{r['resampler']} | {'tuned' if r['params'] else 'default'}"
                     f" | {r['auc_mean']:.4f} ± {r['auc_sd']:.4f} | {r['oof_auc']:.4f} | "
                     f"{r['h_measure']:.4f} | {r['ks']:.4f} | {r['brier_raw']:.4f} | {bc:.4f} "
                     f"({r['best_calibration']}) | {r['seconds']:.0f} |")
    # resampling effect per family
    lines += ["", "## Effect of resampling (AUC mean difference vs none, same folds)", "",
              "| family | smote - none | nia - none | nia - smote |", "|---|---|---|---|"]
    fams = sorted({r["family"] for r in results.values()})
    for f in fams:
        # default-parameter rows only: a tuned row of the same family and resampler would
        # otherwise overwrite its default row and compare tuned with default
        g = {r["resampler"]: r for r in results.values() if r["family"] == f and not r["params"]}
        if all(k in g for k in ("none", "smote", "nia")):
            d1 = np.array(g["smote"]["fold_auc"]) - np.array(g["none"]["fold_auc"])
            d2 = np.array(g["nia"]["fold_auc"]) - np.array(g["none"]["fold_auc"])
            d3 = np.array(g["nia"]["fold_auc"]) - np.array(g["smote"]["fold_auc"])
            fmt = lambda d: f"{d.mean():+.4f} (folds won {int((d > 0).sum())}/{len(d)})"  # noqa
            lines.append(f"| {f} | {fmt(d1)} | {fmt(d2)} | {fmt(d3)} |")
    return "\n".join(lines) + "\n"


def optuna_search(ds: Dataset, splits: Splits, family: str, n_trials: int, resampler="none",
                  seed: int = 0, folds: list[int] | None = None, timeout: float | None = None):
    """TPE search (seeded) maximising mean CV AUC on the shared folds; tqdm progress bar."""
    import optuna

    from .families import suggest_params
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ytr = ds.y[splits.train_idx]

    def objective(trial):
        params = suggest_params(trial, family)
        res = cv_oof(ds, splits, family, params, resampler, seed, folds=folds)
        m = ~np.isnan(res["oof"])
        trial.set_user_attr("brier_raw", M.brier(ytr[m], res["oof"][m]))
        return float(np.mean(res["fold_auc"]))

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                study_name=f"{ds.name}-{family}")
    study.optimize(objective, n_trials=n_trials, timeout=timeout, show_progress_bar=True)
    trials = [{"number": t.number, "value": t.value, "params": t.params,
               "brier_raw": t.user_attrs.get("brier_raw")} for t in study.trials
              if t.value is not None]
    best = study.best_trial
    from .families import DEFAULTS
    params = {**DEFAULTS[family], **best.params}
    return {"family": family, "resampler": resampler, "n_trials": len(trials),
            "folds": folds if folds is not None else list(range(len(splits.folds))),
            "best_value": best.value, "best_params": params, "trials": trials}
