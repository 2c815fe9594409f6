"""The federation measured (``python -m models federated study DATASET`` ->
reports/models/federated_<dataset>.{json,md}): the lenders, what federating costs against the same
model trained on pooled rows, and what one poisoned lender does to each of Flower's strategies.

The attacker is the largest lender (the most weight under FedAvg): it trains on flipped labels
(``flip``) or sends ten times its honest change (``scale``), signed with its real key.
"""
from __future__ import annotations

import json
import time

import numpy as np

from .. import metrics as M
from .client import sgd_logistic
from .client import coefficient_signs
from .run import LOCAL, run_federation
from .stats import federated_preprocessing
from .partition import partition
from .strategy import STRATEGIES

ATTACKS = ("none", "flip", "scale")


def pooled_reference(ds, sp, rounds: int) -> float:
    """The same model, preprocessing and step budget, trained on pooled rows: what federating
    costs (a reference only: pooling is what the consortium does not do)."""
    inst = partition(ds, sp)
    prep, scaler = federated_preprocessing(ds.schema, [ds.X[i.idx] for i in inst])
    Z = scaler.transform(prep.transform(ds.X[sp.train_idx]))
    w, b = sgd_logistic(np.zeros(Z.shape[1]), 0.0, Z, ds.y[sp.train_idx].astype(float),
                        steps=rounds * LOCAL["local_steps"], lr=LOCAL["lr"], l2=LOCAL["l2"],
                        mu=0.0, signs=coefficient_signs(prep, ds.schema))
    Zh = scaler.transform(prep.transform(ds.X[sp.holdout_idx]))
    return M.auc(ds.y[sp.holdout_idx], Zh @ w + b)


def pooled_boosting_reference(ds, sp, rounds: int, lenders: int) -> float:
    """The federated booster's size (one tree per lender and round) grown on pooled rows."""
    import xgboost as xgb

    from ..families import monotonic_cst
    from .boosting import PARAMS
    from .lender import prep_for
    from .stats import merge_sketches, sketch
    inst = partition(ds, sp)
    prep = prep_for("xgb", ds.schema)  # the federation's tree layout, from the same statistics
    prep.fit_from_statistics(merge_sketches(prep, [sketch(prep, ds.X[i.idx]) for i in inst]))
    y = ds.y[sp.train_idx]
    params = {**PARAMS, "base_score": float(y.mean()), "monotone_constraints":
              "(" + ",".join(str(m) for m in monotonic_cst(ds.schema)) + ")"}
    bst = xgb.train(params, xgb.DMatrix(prep.transform(ds.X[sp.train_idx]), label=y),
                    num_boost_round=rounds * lenders)
    return M.auc(ds.y[sp.holdout_idx],
                 bst.predict(xgb.DMatrix(prep.transform(ds.X[sp.holdout_idx]))))


def study(ds, sp, reports, rounds: int = 20, progress=print) -> dict:
    t0 = time.time()
    inst = partition(ds, sp)
    attacker = max(inst, key=lambda i: len(i.idx)).name
    rows = []
    plan = [("logistic", s, a) for s in STRATEGIES if s != "xgb_bagging" for a in ATTACKS]
    plan += [("xgb", "xgb_bagging", a) for a in ("none", "flip")]  # trees take no "scale"
    for model, strategy, attack in plan:
        run = run_federation(ds, sp, model=model, strategy=strategy, rounds=rounds,
                             poison=None if attack == "none" else {attacker: attack})
        refused = sum(len(r.refused) for r in run["records"])
        rows.append({"model": model, "strategy": strategy, "attack": attack,
                     "holdout_auc": run["holdout_auc_by_round"][-1],
                     "auc_by_round": run["holdout_auc_by_round"], "refused": refused,
                     "seconds": run["seconds"]})
        progress(f"{model} {strategy} / {attack}: holdout AUC {rows[-1]['holdout_auc']:.4f}")
    clean = {r["strategy"]: r["holdout_auc"] for r in rows if r["attack"] == "none"}
    for r in rows:
        r["damage"] = clean[r["strategy"]] - r["holdout_auc"]
        r["damage_vs_clean_fedavg"] = clean["fedavg"] - r["holdout_auc"]
    out = {"dataset": ds.name, "rounds": rounds, "local": LOCAL, "attacker": attacker,
           "institutions": [i.summary(ds.y) for i in inst],
           "pooled_reference_auc": pooled_reference(ds, sp, rounds),
           "pooled_boosting_reference_auc": pooled_boosting_reference(ds, sp, rounds, len(inst)),
           "runs": rows,
           "seconds": time.time() - t0}
    (reports / f"federated_{ds.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (reports / f"federated_{ds.name}.md").write_text(markdown(out))
    return out


def markdown(out: dict) -> str:
    ds = out["dataset"]
    clean = next(r for r in out["runs"] if r["strategy"] == "fedavg" and r["attack"] == "none")
    boost = next(r for r in out["runs"] if r["strategy"] == "xgb_bagging"
                 and r["attack"] == "none")
    lines = [f"# Federated training: {ds}", "",
             f"`python -m models federated study {ds}` (models/federated/). A real Flower "
             "federation on this machine (server and one client per lender over gRPC on "
             f"127.0.0.1), {out['rounds']} rounds of {out['local']['local_steps']} local "
             "gradient steps of a logistic model whose coefficients keep the schema's declared "
             "signs; preprocessing from aggregated statistics only. Holdout AUC after the last "
             "round; the holdout belongs to no lender.", "",
             "## Lenders (by age band: deliberately non-IID)", "",
             "| lender | band | rows | default rate |", "|---|---|---|---|"]
    lines += [f"| {i['name']} | {i['band']} | {i['rows']:,} | {i['default_rate']:.2%} |"
              for i in out["institutions"]]
    better = "boosting" if boost["holdout_auc"] > clean["holdout_auc"] else "the logistic model"
    lines += ["", "## Which model kind serves better", "",
              "| model | federated (no attacker) | same model on pooled rows |", "|---|---|---|",
              f"| logistic, FedAvg ({out['local']['local_steps']} steps a round) | "
              f"{clean['holdout_auc']:.4f} | {out['pooled_reference_auc']:.4f} (same step budget) |",
              f"| XGBoost, FedXgbBagging (one tree per lender and round) | "
              f"{boost['holdout_auc']:.4f} | {out['pooled_boosting_reference_auc']:.4f} (as many "
              "trees) |", "",
              f"On holdout AUC, {better} serves better here.", "",
              f"## One poisoned lender ({out['attacker']}, the largest)", "",
              "| model | strategy | attack | holdout AUC | damage vs the same strategy clean | "
              "vs clean FedAvg | updates refused |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.get('model', 'logistic')} | {r['strategy']} | {r['attack']} | "
              f"{r['holdout_auc']:.4f} | "
              f"{r['damage']:+.4f} | {r['damage_vs_clean_fedavg']:+.4f} | {r['refused']} |"
              for r in out["runs"]]
    n = len(out["institutions"])
    krum_clean = next(r["holdout_auc"] for r in out["runs"]
                      if r["strategy"] == "krum" and r["attack"] == "none")
    lines += ["", "Damage is AUC lost (positive = worse). Every update was signed by its "
              "lender's registered key, the attacker's included: signatures say who sent an "
              "update, robust aggregation limits what a dishonest one does."
              + f" FedTrimmedAvg cuts one lender at each end: with {n} lenders "
              + ("it averages the middle two, which is FedMedian." if n == 4 else
                 "it keeps the middle one, which is FedMedian." if n == 3 else
                 f"it averages the middle {n - 2}.")
              + (" Krum keeps the one update closest to the others: with lenders this "
                 "different it serves one lender's model to everybody, attacked or not."
                 if krum_clean < clean["holdout_auc"] - 0.05 else "")]
    return "\n".join(lines) + "\n"
