"""The federation's logistic model as a bundle like every other (issue 15): ONNX with the parity
check, reason codes from the schema, the fair-lending gates, a manifest (the bundle id), so the
oracle serves it unchanged. What a bundle otherwise reads from pooled training rows (the reasons'
reference row, the elderly grid, the monitoring reference) comes from the lenders' statistics
(:mod:`.reference`): each lender's rows are only ever summarised where they lie. The card says
which federation, rounds and lenders made it, in the shape registration reads (oracle.provenance).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .. import metrics as M
from ..monitoring import REFERENCE_ROWS
from ..train import export_bundle, served_scores
from . import reference
from .partition import partition
from .protocol import params_sha256


def federated_pipeline(run: dict) -> Pipeline:
    if run["model"] != "logistic":
        raise ValueError("only the federated logistic model exports as a bundle so far")
    w, b = run["params"]
    clf = LogisticRegression()
    clf.coef_ = np.asarray(w, dtype=np.float64).reshape(1, -1)
    clf.intercept_ = np.asarray(b, dtype=np.float64).reshape(1)
    clf.classes_ = np.array([0, 1])
    clf.n_features_in_ = clf.coef_.shape[1]
    return Pipeline([("prep", run["prep"]), ("scale", run["scaler"]), ("clf", clf)])


def _evenly(X: np.ndarray, n: int) -> np.ndarray:
    return X[np.unique(np.linspace(0, len(X) - 1, num=min(n, len(X))).astype(int))]


def export_run(run: dict, ds, sp, outdir: Path) -> dict:
    # each used only lender-side; the run's own split (its number of lenders)
    parts = [ds.X[i.idx] for i in partition(ds, sp, len(run["institutions"]))]
    total = sum(len(X) for X in parts)
    model = federated_pipeline(run)
    refs = {
        "reason": lambda m, cutoff: reference.cutoff_reference(
            ds.schema, parts, [m.predict_proba(X)[:, 1] for X in parts], cutoff),
        "elderly_rule": reference.elderly_rule(ds.schema, parts),
        # the pooled reference scores up to REFERENCE_ROWS rows: each lender its share of them
        "monitoring": lambda served: reference.monitoring_reference(
            ds.schema, [_evenly(X, -(-REFERENCE_ROWS * len(X) // total)) for X in parts],
            [served_scores(served, _evenly(X, -(-REFERENCE_ROWS * len(X) // total)))
             for X in parts]),
    }
    cfg = {"family": "federated-logistic", "version": "1", "calibration": "none",
           "federation": run["federation"]}
    export = export_bundle(model, ds, sp, cfg, Path(outdir), references=refs)
    yh = ds.y[sp.holdout_idx]
    ph = model.predict_proba(ds.X[sp.holdout_idx])[:, 1]
    metrics = M.all_metrics(yh, ph, n_boot=200)
    # model_card.json in the shape oracle.provenance reads for registration: the training data is
    # the federation (its rounds give the data root, oracle.provenance.federation_root)
    card = {"model_id": export["model_sha256"], "bundle_id": export["bundle_id"],
            "version": cfg["version"], "name": f"{ds.name}-{cfg['family']}",
            "details": {"family": cfg["family"], "strategy": run["strategy"],
                        "rounds": run["rounds"]},
            "training_data": {
                "dataset": ds.name,
                "pooled": False,
                "how": "never pooled: preprocessing, reasons' reference, elderly grid and "
                       "monitoring reference from the lenders' statistics "
                       "(models.federated.stats, models.federated.reference)",
                "federation": {"id": run["federation"], "lenders": run["institutions"],
                               "members": run["members"],
                               "final_aggregate_sha256": params_sha256(run["final"]),
                               "round_aggregates": [r.aggregate_sha256 for r in run["records"]]}},
            "evaluation": {"holdout_rows": int(len(yh)),
                           **{k: metrics[k] for k in ("auc", "auc_ci95", "brier", "h_measure",
                                                      "ks") if k in metrics}},
            "gates": export["gates"], "parity_max_abs_diff": export["parity_max_abs_diff"]}
    (Path(outdir) / "model_card.json").write_text(json.dumps(card, indent=1, default=float)
                                                  + "\n")
    return card
