"""The federation's model (logistic, or the booster) as a bundle like every other (issue 15):
ONNX with the parity check, reason codes from the schema, the fair-lending gates, a manifest (the
bundle id), so the oracle serves it unchanged. What a bundle otherwise reads from pooled training
rows (the reasons' reference row, the elderly grid, the monitoring reference) comes from the
lenders' answers over the federation, while they are still connected (:mod:`.reference`): each
lender's rows are only ever summarised where they lie. Parity and the gates run on the
aggregator's holdout. The card says which federation, rounds and lenders made it, in the shape
registration reads (oracle.provenance).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from .. import metrics as M
from ..train import export_bundle
from . import reference
from .boosting import booster
from .protocol import params_sha256


def federated_pipeline(run: dict) -> Pipeline:
    """The federation's model with its preprocessing, as scikit-learn pipelines export (the
    booster wrapped in the classifier onnxmltools converts)."""
    if run["model"] == "xgb":
        from xgboost import XGBClassifier
        bst = booster({}, run["final"].tensors[0])
        clf = XGBClassifier(n_estimators=bst.num_boosted_rounds())
        clf._Booster, clf.n_classes_ = bst, 2
        return Pipeline([("prep", run["prep"]), ("clf", clf)])
    w, b = run["params"]
    clf = LogisticRegression()
    clf.coef_ = np.asarray(w, dtype=np.float64).reshape(1, -1)
    clf.intercept_ = np.asarray(b, dtype=np.float64).reshape(1)
    clf.classes_ = np.array([0, 1])
    clf.n_features_in_ = clf.coef_.shape[1]
    return Pipeline([("prep", run["prep"]), ("scale", run["scaler"]), ("clf", clf)])


def _files(bundle_dir: Path) -> dict:
    return {f.name: f.read_bytes().hex() for f in sorted(Path(bundle_dir).iterdir())
            if f.is_file()}


def export_run(run: dict, ds, sp, outdir: Path, ask) -> dict:
    """``ask(phase, request)``: the lenders' answers (the federation's, before it closes)."""
    sketches = [json.loads(b) for b in run["statistics"]["sent"]["sketch"].values()]
    total = sum(s["rows"] for s in sketches)
    model = federated_pipeline(run)
    if run["model"] == "xgb":  # the final model as the lenders score with it
        final = {"kind": "xgb", "booster": run["final"].tensors[0].hex()}
    else:
        w, b = run["params"]
        final = {"kind": "logistic", "w": np.asarray(w, dtype=np.float64), "b": float(b[0])}
    refs = {
        "reason": lambda m, cutoff: reference.cutoff_reference(ds.schema, ask, final, cutoff),
        "elderly_rule": reference.elderly_rule(ds.schema, run["prep"], sketches),
        "monitoring": lambda served: reference.monitoring_reference(
            ds.schema, ask, _files(outdir), total),
    }
    cfg = {"family": f"federated-{run['model']}", "version": "1", "calibration": "none",
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
    card_out = {**card, "bundle_dir": str(outdir)}
    (Path(outdir) / "model_card.json").write_text(json.dumps(card, indent=1, default=float)
                                                  + "\n")
    return card_out
