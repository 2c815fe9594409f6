"""Ablation studies of the seed's neural methods (issue 14), on the shared CV folds with
fold-paired differences (``python -m models ablation STUDY DATASET`` ->
reports/models/<study>_ablation_<dataset>.{json,md}). The holdout is not used: these are CV
comparisons, like every other row of the tables.

* ``dbn`` (seed 001): the DBN pre-trained vs the same network randomly initialised, beside the
  plain MLP.
* ``atriplet`` (seed 004 §3.2): each head (logistic regression, HGB, MLP) alone vs on the A-Triplet
  embedding, and adaptive vs uniform negative sampling. Every arm trains on the same capped rows
  (the embedding's cap), and HGB alone without the schema's monotone constraints, which the
  embedding's HGB cannot take: the difference measured is the embedding's, nothing else.
"""
from __future__ import annotations

import json

import numpy as np

from .cv import cv_oof, summarise
from .families import MAX_TRAIN_ROWS
from .selection_rule import paired

_CAP = MAX_TRAIN_ROWS["atriplet"]
_HEADS = {"logreg": "logistic regression", "hgb": "HGB", "mlp": "MLP"}

# name: (family, params, cv_oof options)
STUDIES = {
    "dbn": {
        "arms": {
            "dbn pre-trained + fine-tuned": ("dbn", {"pretrain": True}, {}),
            "dbn random init (same network)": ("dbn", {"pretrain": False}, {}),
            "mlp (family default)": ("mlp", {}, {}),
        },
        "pairs": [("dbn pre-trained + fine-tuned", "dbn random init (same network)"),
                  ("dbn pre-trained + fine-tuned", "mlp (family default)")],
        "about": "training rows capped as for every DBN/MLP row (models.families.MAX_TRAIN_ROWS)",
    },
    "atriplet": {
        "arms": {
            **{f"{text} alone": (head, {}, {"max_train_rows": _CAP, "monotone": False})
               for head, text in _HEADS.items()},
            **{f"A-Triplet + {text}": ("atriplet", {"head": head}, {})
               for head, text in _HEADS.items()},
            "triplet, uniform negatives + logistic regression":
                ("atriplet", {"head": "logreg", "adaptive": False}, {}),
        },
        "pairs": [*((f"A-Triplet + {t}", f"{t} alone") for t in _HEADS.values()),
                  ("A-Triplet + logistic regression",
                   "triplet, uniform negatives + logistic regression")],
        "about": f"every arm on the same stratified {_CAP:,} training rows per fold; HGB alone "
                 "unconstrained, like the HGB on the embedding",
    },
}


def save(reports, stem: str, out: dict, markdown: str) -> None:
    """A study's record and its table: reports/<stem>.json and reports/<stem>.md."""
    (reports / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")
    (reports / f"{stem}.md").write_text(markdown)


def run(ds, sp, reports, study: str = "dbn", seed: int = 0) -> dict:
    spec = STUDIES[study]
    ytr = ds.y[sp.train_idx]
    rows = {}
    for name, (fam, params, opts) in spec["arms"].items():
        rows[name] = {"family": fam, "params": params,
                      **summarise(ytr, cv_oof(ds, sp, fam, params, "none", seed, **opts))}
    pairs = []
    for a, b in spec["pairs"]:
        mean, se = paired(rows[b]["fold_auc"], rows[a]["fold_auc"])
        won = int((np.array(rows[a]["fold_auc"]) > np.array(rows[b]["fold_auc"])).sum())
        pairs.append({"arm": a, "minus": b, "mean": mean, "se": se, "folds_won": won})
    out = {"study": study, "dataset": ds.name, "folds": len(sp.folds), "resampler": "none",
           "arms": rows, "pairs": pairs}
    lines = [f"# {study} ablation: {ds.name}", "",
             f"{len(sp.folds)}-fold CV on the shared folds, no resampling; {spec['about']}. "
             f"`python -m models ablation {study} {ds.name}`.", "",
             "| arm | AUC mean ± sd | Brier raw | seconds |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['auc_mean']:.4f} ± {r['auc_sd']:.4f} | {r['brier_raw']:.4f} | "
              f"{r['seconds']:.0f} |" for name, r in rows.items()]
    lines += ["", "| difference (fold-paired AUC) | mean ± SE | folds won |", "|---|---|---|"]
    lines += [f"| {p['arm']} − {p['minus']} | {p['mean']:+.4f} ± {p['se']:.4f} | "
              f"{p['folds_won']}/{len(sp.folds)} |" for p in pairs]
    save(reports, f"{study}_ablation_{ds.name}", out, "\n".join(lines) + "\n")
    return out
