"""Which compared configuration is served: a one-standard-error rule on fold-paired CV AUC.

The configuration with the highest mean CV AUC is the reference. Every configuration is compared
with it fold by fold on the same folds (paired differences d_f = AUC_f - AUC_ref,f); one whose
mean difference is within one standard error of that difference (mean(d) + sd(d)/sqrt(k) >= 0)
is as good as the reference as far as the folds can tell. Among those, the rule prefers what a
model-risk review prefers (SR 11-7: the simplest model that does the job): a family trained under
the schema's monotone directions, then the simpler family, then no resampling, then default
parameters over tuned ones, and only then the higher mean AUC. The holdout plays no part.
"""
from __future__ import annotations

import math

from .families import MONOTONE_FAMILIES

# Simplest first: a points scorecard, a linear model, boosted and bagged trees, then the neural
# and kernel families whose reasons can only be read through a surrogate.
SIMPLICITY = ("scorecard", "logreg", "hgb", "lgbm", "xgb", "catboost", "rf", "mlp", "svm", "dbn",
              "atriplet")
RULE = ("one-standard-error rule on fold-paired CV AUC against the best mean; among the "
        "configurations within one SE: monotone families first, then the simpler family "
        f"({' < '.join(SIMPLICITY)}), no resampling, default parameters, higher mean AUC")


def paired(ref: list[float], other: list[float]) -> tuple[float, float]:
    """Mean and standard error of the fold-paired differences other - ref."""
    if len(ref) != len(other) or len(ref) < 2:
        raise ValueError("paired differences need the same folds, at least two")
    d = [o - r for o, r in zip(other, ref)]
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
    return mean, sd / math.sqrt(len(d))


def choose(results: dict[str, dict]) -> tuple[str, dict]:
    """The key of the configuration to serve, and the record of the choice (reference, each
    configuration's paired difference and SE, which were eligible, the rule)."""
    if not results:
        raise ValueError("no compared configurations to choose from")
    ref = max(results, key=lambda k: results[k]["auc_mean"])
    rows = {}
    for key, r in results.items():
        mean, se = (0.0, 0.0) if key == ref else paired(results[ref]["fold_auc"], r["fold_auc"])
        rows[key] = {"delta_auc_mean": mean, "delta_auc_se": se,
                     "within_one_se": key == ref or mean + se >= 0}
    eligible = [k for k in results if rows[k]["within_one_se"]]

    def preference(key: str):
        r = results[key]
        fam = r["family"]
        return (fam not in MONOTONE_FAMILIES,
                SIMPLICITY.index(fam) if fam in SIMPLICITY else len(SIMPLICITY),
                r["resampler"] != "none", bool(r.get("params")), -r["auc_mean"])

    chosen = min(eligible, key=preference)
    return chosen, {"rule": RULE, "reference": ref, "chosen": chosen,
                    "eligible": sorted(eligible, key=preference), "paired": rows}
