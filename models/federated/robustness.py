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
from .run import LOCAL, coefficient_signs, run_federation
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


def study(ds, sp, reports, rounds: int = 20, progress=print) -> dict:
    t0 = time.time()
    inst = partition(ds, sp)
    attacker = max(inst, key=lambda i: len(i.idx)).name
    rows = []
    for strategy in STRATEGIES:
        for attack in ATTACKS:
            run = run_federation(ds, sp, strategy=strategy, rounds=rounds,
                                 poison=None if attack == "none" else {attacker: attack})
            refused = sum(len(r.refused) for r in run["records"])
            rows.append({"strategy": strategy, "attack": attack,
                         "holdout_auc": run["holdout_auc_by_round"][-1],
                         "auc_by_round": run["holdout_auc_by_round"], "refused": refused,
                         "seconds": run["seconds"]})
            progress(f"{strategy} / {attack}: holdout AUC {rows[-1]['holdout_auc']:.4f}")
    clean = {r["strategy"]: r["holdout_auc"] for r in rows if r["attack"] == "none"}
    for r in rows:
        r["damage"] = clean[r["strategy"]] - r["holdout_auc"]
        r["damage_vs_clean_fedavg"] = clean["fedavg"] - r["holdout_auc"]
    out = {"dataset": ds.name, "rounds": rounds, "local": LOCAL, "attacker": attacker,
           "institutions": [i.summary(ds.y) for i in inst],
           "pooled_reference_auc": pooled_reference(ds, sp, rounds), "runs": rows,
           "seconds": time.time() - t0}
    (reports / f"federated_{ds.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    (reports / f"federated_{ds.name}.md").write_text(markdown(out))
    return out


def markdown(out: dict) -> str:
    ds = out["dataset"]
    clean = next(r for r in out["runs"] if r["strategy"] == "fedavg" and r["attack"] == "none")
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
    lines += ["", f"FedAvg without an attacker: holdout AUC {clean['holdout_auc']:.4f}; the same "
              f"model trained on pooled rows with the same step budget: "
              f"{out['pooled_reference_auc']:.4f}.", "",
              f"## One poisoned lender ({out['attacker']}, the largest)", "",
              "| strategy | attack | holdout AUC | damage vs the same strategy clean | "
              "vs clean FedAvg | updates refused |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['strategy']} | {r['attack']} | {r['holdout_auc']:.4f} | "
              f"{r['damage']:+.4f} | {r['damage_vs_clean_fedavg']:+.4f} | {r['refused']} |"
              for r in out["runs"]]
    n = len(out["institutions"])
    lines += ["", "Damage is AUC lost (positive = worse). Every update was signed by its "
              "lender's registered key, the attacker's included: signatures say who sent an "
              "update, robust aggregation limits what a dishonest one does."
              + f" FedTrimmedAvg cuts one lender at each end: with {n} lenders "
              + ("it averages the middle two, which is FedMedian." if n == 4 else
                 "it keeps the middle one, which is FedMedian." if n == 3 else
                 f"it averages the middle {n - 2}.")
              + " Krum keeps the one update closest to the others: with lenders this different "
              "it serves one lender's model to everybody, attacked or not."]
    return "\n".join(lines) + "\n"
