"""End-to-end training run for one data set (``python -m models train DATASET``).

1. compare the families x {none, smote, nia} on the shared 5 folds (default parameters; the
   scorecard only without resampling);
2. Optuna TPE search for the requested families (with their best resampler), then full 5-fold CV
   of each tuned configuration;
3. select by the one-standard-error rule on fold-paired CV AUC (:mod:`models.selection_rule`:
   the simplest monotone configuration the folds cannot tell from the best); choose its
   calibration (none, sigmoid, isotonic) by the lowest cross-fitted CV Brier;
4. fit on the training split, export to ONNX (parity-checked), evaluate on the frozen holdout,
   write the model card; for ``gmsc`` the bundle goes to ``models/default/``;
5. update ``reports/models/summary.json`` (with the untuned HGB holdout baseline and the paired
   goals of :mod:`models.goals`);
6. acceptance, champion against challenger: the holdout goals (non-inferiority, calibration) are
   acceptance checks, read once per candidate. A new model that fails one the served model
   (the summary's entry, its bundle still in place) meets is not served: the served bundle is
   put back, and the challenger, its goals and why are recorded under ``challengers``. Nothing
   else is tried on the holdout: selection stays on CV alone.

:func:`train_dataset` runs the same steps on any encoded data set, its splits and a reports
directory (``python -m models train --csv``, :mod:`models.owncsv`).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from . import metrics as M
from .cv import compare, comparison_markdown, constraints, cv_oof, optuna_search, summarise
from .data import load_dataset, make_splits
from .derived import used_by
from .families import FAMILIES, RESAMPLERS, untuned_hgb_pipeline
from .goals import N_BOOT as GOALS_N_BOOT
from .goals import measure as measure_goals
from .selection_rule import choose as choose_by_one_se
from .train import (DEFAULT_DIR, PARITY_TOL, REPORTS, ROOT, ExportRefused, GateFailure,
                    ParityFailure, train_and_export)
from .evaluate import write_json

log = logging.getLogger(__name__)

# A scorecard is served as its logistic model: a calibration map on top would make its points
# stop adding up to the score (and WoE + logistic regression is fitted on the log-odds already).
UNCALIBRATED = {"scorecard": "none: a scorecard's points must add up to its score, so no "
                             "calibration map is put on its logistic model"}


def untuned_hgb(ds, sp):
    """Untuned HistGradientBoosting (sklearn defaults, no resampling, no calibration) fitted on
    the training split: the baseline of every paired goal."""
    pipe = untuned_hgb_pipeline(ds.schema)
    return pipe.fit(ds.X[sp.train_idx], ds.y[sp.train_idx])


def holdout_baseline(ds, sp) -> dict:
    pipe = untuned_hgb(ds, sp)
    yh = ds.y[sp.holdout_idx]
    p = pipe.predict_proba(ds.X[sp.holdout_idx])[:, 1]
    return {"auc": M.auc(yh, p), "brier": M.brier(yh, p), "ks": M.ks_statistic(yh, p),
            "h_measure": M.h_measure(yh, p)}


def run_training(dataset: str, search_families=("hgb",), n_trials: int = 10,
                 search_folds: int = 3, version: str = "1", seed: int = 0) -> dict:
    ds = load_dataset(dataset)
    sp = make_splits(ds.y, ds.X)
    outdir = DEFAULT_DIR if dataset == "gmsc" else None
    command = f"python -m models train {dataset}" + (
        " (then: python -m models train-default)" if dataset == "gmsc" else "")
    cfg, summary = train_dataset(ds, sp, search_families=search_families, n_trials=n_trials,
                                 search_folds=search_folds, version=version, seed=seed,
                                 outdir=outdir, command=command)
    if dataset == "gmsc":
        write_json(DEFAULT_DIR / "train_config.json",
                   {k: v for k, v in cfg.items() if k != "command"})
    return summary


def train_dataset(ds, sp, *, search_families=("hgb",), n_trials: int = 10,
                  search_folds: int = 3, version: str = "1", seed: int = 0,
                  outdir=None, command: str = "", reports=REPORTS, families=FAMILIES,
                  resamplers=RESAMPLERS, n_boot: int = 1000, extra_cfg: dict | None = None):
    """Steps 1-5 for an encoded data set and its splits (a registered one or a user's CSV):
    results in ``reports`` (comparison, searches, per-model card and plots, summary.json), the
    bundle in ``outdir`` (None: next to its report). Returns (selected config, summary entry)."""
    dataset = ds.name
    cmp_json = reports / f"comparison_{dataset}.json"
    results = compare(ds, sp, cmp_json, families=families, resamplers=resamplers, seed=seed)
    ytr = ds.y[sp.train_idx]
    for fam in search_families:
        rows = {k: r for k, r in results.items() if r["family"] == fam and not r["params"]}
        rs = max(rows.values(), key=lambda r: r["auc_mean"])["resampler"] if rows else "none"
        key = f"{fam}/{rs}/tuned"
        search_json = reports / f"search_{dataset}_{fam}.json"
        if search_json.exists() and json.loads(search_json.read_text()).get(
                "n_trials_requested") == n_trials and key in results and results[key].get(
                "monotone") == constraints(fam, ds.schema) and results[key].get(
                "derived") == used_by(fam, ds.schema):
            continue
        s = optuna_search(ds, sp, fam, n_trials, rs, seed, folds=list(range(search_folds)))
        s["n_trials_requested"] = n_trials
        write_json(search_json, s)
        res = cv_oof(ds, sp, fam, s["best_params"], rs, seed)
        results[key] = {"family": fam, "resampler": rs, "params": s["best_params"],
                        "monotone": constraints(fam, ds.schema), "train_rows_cap": None,
                        **({"derived": used_by(fam, ds.schema)} if used_by(fam, ds.schema)
                           else {}),
                        **summarise(ytr, res)}
        cmp_json.write_text(json.dumps(results, indent=1) + "\n")
    (reports / f"comparison_{dataset}.md").write_text(comparison_markdown(ds, sp, results))

    _, choice = choose_by_one_se(results)
    summ_path = reports / "summary.json"
    summary = json.loads(summ_path.read_text()) if summ_path.exists() else {}
    champion = _champion(summary.get(dataset), outdir, reports)
    kw = {"outdir": outdir, "ds": ds, "splits": sp, "reports": reports, "n_boot": n_boot}
    refused = []
    # Only a model that passes the fair-lending gates and the parity check may be served (issue
    # 13): the configurations the folds cannot tell apart are tried in the rule's order, then, if
    # none passes, the others from the highest mean CV AUC down.
    for key in serving_order(results, choice):
        best = results[key]
        cfg = _config(dataset, key, best, choice, sp, seed, version, extra_cfg, command, refused)
        log.info("exporting %s (calibration %s)", key, cfg["calibration"])
        try:
            run = _export(cfg, kw)
            break
        except ExportRefused as e:
            refused.append({"configuration": key, "calibration": cfg["calibration"],
                            "failures": e.failures})
            log.warning("%s may not be served (%s); next configuration", key, e)
    else:
        raise GateFailure(f"{dataset}: no compared configuration passes the fair-lending gates "
                          "and the parity check (" + "; ".join(
                              f"{r['configuration']}: {', '.join(r['failures'])}"
                              for r in refused) + ")", [])
    base = holdout_baseline(ds, sp)
    e = run["evaluation"]
    entry = {
        "model_id": run["card"]["model_id"], "family": cfg["family"],
        "resampler": cfg["resampler"], "calibration": cfg["calibration"],
        "auc": e["auc"], "auc_ci95": e["auc_ci95"], "brier": e["brier"], "ks": e["ks"],
        "h_measure": e["h_measure"], "ece": e["ece"],
        "cv_auc_mean": best["auc_mean"],
        "untuned_hgb_holdout": base,
        "paired_goals": measure_goals(outdir or reports / run["card"]["model_id"], dataset,
                                      ds=ds, sp=sp, cfg=cfg, n_boot=max(n_boot, GOALS_N_BOOT)),
        "brier_not_worse_than_untuned_hgb": bool(e["brier"] <= base["brier"]),
        "report_dir": _shown(reports / run["card"]["model_id"]),
    }
    kept = _accept(champion, entry, cfg, outdir, reports)
    if kept is None:
        summary[dataset] = entry
    else:
        cfg, summary[dataset] = kept
    if champion is not None:
        shutil.rmtree(champion["backup"], ignore_errors=True)
    write_json(summ_path, summary)
    return cfg, summary[dataset]


ACCEPTANCE = ("holdout_noninferiority", "calibration")


def _champion(entry: dict | None, outdir, reports: Path) -> dict | None:
    """The served model a challenger must not fall short of: the summary's entry, if its bundle
    is still where it was served from. An export replaces ``outdir``, so a copy is kept beside
    it until the acceptance step; a copy left by a run that stopped in between is put back
    first."""
    if not entry or "paired_goals" not in entry:
        return None
    from .manifest import bundle_id

    def served_id(d: Path) -> str | None:
        m = d / "manifest.json"
        return bundle_id(m.read_bytes()) if m.is_file() else None

    want = entry["paired_goals"].get("bundle_id")
    where = Path(outdir) if outdir else reports / entry["model_id"]
    backup = where.parent / f".{where.name}.champion"
    if outdir and backup.is_dir() and served_id(backup) == want != served_id(where):
        log.warning("putting back the served bundle %s: a run stopped before its acceptance "
                    "step", want[:16])
        shutil.rmtree(where, ignore_errors=True)
        shutil.copytree(backup, where)
    shutil.rmtree(backup, ignore_errors=True)
    if served_id(where) != want or not (where / "train_config.json").is_file():
        return None  # the summary's bundle is no longer there: nothing to put back
    if outdir:
        shutil.copytree(where, backup)
    return {"entry": entry, "where": where, "backup": backup,
            "cfg": json.loads((where / "train_config.json").read_text())}


NOT_SERVED = "> **Not served.**"


def mark_not_served(card_dir: Path, why: str, served: str) -> None:
    """Say in a challenger's model card (its text at the top, its JSON as ``not_served``) that it
    is not served, and why. Marking a card twice changes nothing."""
    card, data = card_dir / "model_card.md", card_dir / "model_card.json"
    if card.exists() and NOT_SERVED not in card.read_text():
        title, rest = card.read_text().split("\n", 1)
        card.write_text(f"{title}\n\n{NOT_SERVED} This model {why}; `{served[:16]}…` stays "
                        "(reports/models/summary.json, `challengers`).\n" + rest)
    if data.exists():
        doc = json.loads(data.read_text())
        doc["not_served"] = {"why": why, "served_model_id": served}
        write_json(data, doc)


def _accept(champion: dict | None, entry: dict, cfg: dict, outdir,
            reports: Path) -> tuple | None:
    """None: the challenger is served. Otherwise (champion's cfg, its summary entry with the
    challenger recorded), the champion's bundle put back where it was."""
    if champion is None or champion["entry"]["model_id"] == entry["model_id"]:
        return None
    mine = entry["paired_goals"].get("goals", {})
    theirs = champion["entry"]["paired_goals"].get("goals", {})
    short = [g for g in ACCEPTANCE if g in mine and not mine[g]["met"]
             and theirs.get(g, {}).get("met")]
    if not short:
        return None
    g = entry["paired_goals"]
    why = ("fails the holdout acceptance the served model meets: " + ", ".join(
        f"{k} ({mine[k]['target']}; slope {g['calibration_slope']:.3f}, intercept "
        f"{g['calibration_intercept']:+.3f})" if k == "calibration" else
        f"{k} ({mine[k]['target']}; CI95 {g['holdout_delta_auc_ci95'][0]:+.4f})" for k in short))
    log.warning("%s (%s) not served: %s; %s stays", entry["model_id"][:16],
                cfg["selected_from"], why, champion["entry"]["model_id"][:16])
    if outdir:
        shutil.rmtree(champion["where"], ignore_errors=True)
        shutil.copytree(champion["backup"], champion["where"])
    mark_not_served(reports / entry["model_id"], why, champion["entry"]["model_id"])
    kept = {k: v for k, v in champion["entry"].items() if k != "challengers"}
    kept["challengers"] = [c for c in champion["entry"].get("challengers", [])
                           if c["model_id"] != entry["model_id"]] + [{
        **{k: entry[k] for k in ("model_id", "family", "resampler", "calibration", "auc",
                                 "cv_auc_mean", "paired_goals", "report_dir")},
        "configuration": cfg["selected_from"], "not_served": why}]
    return champion["cfg"], kept


def serving_order(results: dict, choice: dict) -> list[str]:
    """The one-SE configurations in the rule's order, then the rest by mean CV AUC."""
    rest = sorted((k for k in results if k not in choice["eligible"]),
                  key=lambda k: -results[k]["auc_mean"])
    return list(choice["eligible"]) + rest


def _config(dataset, key, best, choice, sp, seed, version, extra_cfg, command, refused) -> dict:
    cfg = {"dataset": dataset, "family": best["family"], "params": best["params"],
           "resampler": best["resampler"], "calibration": best["best_calibration"],
           "calibration_rule": "lowest cross-fitted CV Brier among none/sigmoid/isotonic "
                               f"({json.dumps({k: round(v, 6) for k, v in best['brier_crossfit'].items()})})",
           "selected_from": key,
           "selection_rule": f"{len(sp.folds)}-fold CV, {choice['rule']}; the first of them in "
                             "that order whose export passes the fair-lending gates and the ONNX "
                             "parity check (if none does, the others by mean CV AUC)",
           "selection": {"reference": choice["reference"], "eligible": choice["eligible"],
                         "paired_vs_reference": {k: choice["paired"][k] for k in choice["eligible"]},
                         **({"refused": list(refused)} if refused else {}),
                         **({"outside_one_se": True} if key not in choice["eligible"] else {})},
           "seed": seed, "version": version, **(extra_cfg or {}),
           "command": command or f"python -m models train {dataset}",
           "cv": {"auc_mean": best["auc_mean"], "auc_sd": best["auc_sd"],
                  "brier_crossfit": best["brier_crossfit"]}}
    if best["family"] in UNCALIBRATED:
        cfg["calibration"], cfg["calibration_rule"] = "none", UNCALIBRATED[best["family"]]
    return cfg


def _export(cfg: dict, kw: dict) -> dict:
    try:
        return train_and_export(cfg, cv=cfg["cv"], **kw)
    except RuntimeError as e:
        # isotonic can fail the ONNX parity check, or the reason-stability gate (its steps make
        # the top reason flip): the best calibration that passes is then sigmoid (a file too
        # large stays too large)
        if cfg["calibration"] != "isotonic" or not isinstance(e, (GateFailure, ParityFailure)):
            raise
        log.warning("isotonic export failed (%s); falling back to sigmoid", e)
        cfg["calibration"] = "sigmoid"
        why = ("the fair-lending gates: " + str(e).split("gates: ", 1)[-1]
               if isinstance(e, GateFailure) else f"the {PARITY_TOL} ONNX parity check")
        cfg["calibration_rule"] += f"; isotonic failed {why}, fell back to sigmoid"
        return train_and_export(cfg, cv=cfg["cv"], **kw)


def train_family(ds, sp, family: str, *, outdir, reports, params: dict | None = None,
                 n_boot: int = 1000, seed: int = 0, version: str = "1", command: str = "") -> dict:
    """Export ``family`` as the bundle whatever family would win (a lender's choice, e.g. the
    scorecard for its transparency): CV on the shared folds (recorded in the card beside the
    holdout figures), its calibration chosen as in :func:`train_dataset`, fit, export with
    parity, card. Returns :func:`models.train.train_and_export`'s result."""
    res = cv_oof(ds, sp, family, params or {}, "none", seed)
    s = summarise(ds.y[sp.train_idx], res)
    cfg = {"dataset": ds.name, "family": family, "params": params or {}, "resampler": "none",
           "calibration": s["best_calibration"],
           "calibration_rule": "lowest cross-fitted CV Brier among none/sigmoid/isotonic",
           "selected_from": f"{family}/none (chosen by the lender, not by the comparison)",
           "selection_rule": "family given on the command line", "seed": seed,
           "version": version, "command": command or f"python -m models train {ds.name} "
                                                     f"--family {family}",
           "cv": {"auc_mean": s["auc_mean"], "auc_sd": s["auc_sd"],
                  "fold_auc": s["fold_auc"], "brier_crossfit": s["brier_crossfit"]}}
    if family in UNCALIBRATED:
        cfg["calibration"], cfg["calibration_rule"] = "none", UNCALIBRATED[family]
    return train_and_export(cfg, outdir=outdir, cv=cfg["cv"], ds=ds, splits=sp,
                            reports=reports, n_boot=n_boot)


def _shown(path) -> str:
    """A report path as the summary shows it: relative to the checkout when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
