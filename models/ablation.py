"""The DBN ablation the seed (001) implies (issue 14): the same network pre-trained or randomly
initialised, beside the plain MLP, on the shared CV folds, with fold-paired differences
(``python -m models dbn-ablation DATASET`` -> reports/models/dbn_ablation_<dataset>.{json,md}).
The holdout is not used: the comparison is a CV one, like every other row of the tables."""
from __future__ import annotations

import json

from .cv import cv_oof, summarise
from .selection_rule import paired

ARMS = {
    "dbn pre-trained + fine-tuned": ("dbn", {"pretrain": True}),
    "dbn random init (same network)": ("dbn", {"pretrain": False}),
    "mlp (family default)": ("mlp", {}),
}


def run(ds, sp, reports, seed: int = 0) -> dict:
    ytr = ds.y[sp.train_idx]
    rows = {}
    for name, (fam, params) in ARMS.items():
        rows[name] = {"family": fam, "params": params,
                      **summarise(ytr, cv_oof(ds, sp, fam, params, "none", seed))}
    ref = "dbn pre-trained + fine-tuned"
    for name, r in rows.items():
        if name != ref:
            mean, se = paired(r["fold_auc"], rows[ref]["fold_auc"])
            r["pretrained_minus_this"] = {"mean": mean, "se": se}
    out = {"dataset": ds.name, "folds": len(sp.folds), "resampler": "none", "arms": rows}
    (reports / f"dbn_ablation_{ds.name}.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [f"# DBN ablation: {ds.name}", "",
             f"{len(sp.folds)}-fold CV on the shared folds, no resampling; training rows capped "
             "as for every DBN/MLP row (models.families.MAX_TRAIN_ROWS). "
             "`python -m models dbn-ablation " + ds.name + "`.", "",
             "| arm | AUC mean ± sd | pre-trained − arm (fold-paired, ± SE) | Brier raw | seconds |",
             "|---|---|---|---|---|"]
    for name, r in rows.items():
        d = r.get("pretrained_minus_this")
        lines.append(f"| {name} | {r['auc_mean']:.4f} ± {r['auc_sd']:.4f} | "
                     + (f"{d['mean']:+.4f} ± {d['se']:.4f}" if d else "—")
                     + f" | {r['brier_raw']:.4f} | {r['seconds']:.0f} |")
    (reports / f"dbn_ablation_{ds.name}.md").write_text("\n".join(lines) + "\n")
    return out
