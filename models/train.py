"""Final fit, export and model-card writing (used by ``python -m models train|export|train-default``)."""
from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from . import metrics as M
from .calibration import ScoreCalibrated
from .data import Dataset, Splits, load_dataset, make_splits
from .derived import OP_TEXT, computed_by, used_by, without
from .evaluate import (duplicates_across_split, gains_table, group_metrics,
                       permutation_importance_auc, plots, swap_set, write_json)
from .families import MAX_TRAIN_ROWS, build_pipeline
from .manifest import write as write_manifest
from .reasons import reason_table
from .onnx_export import ML_OPSET, TARGET_OPSET, save_onnx, standard_metadata, to_onnx
from .schema import schema_hash
from .serving import REASON_NEIGHBOURHOOD

log = logging.getLogger(__name__)


class ExportRefused(RuntimeError):
    """An exported model must not be served; ``failures`` says why."""

    def __init__(self, message: str, failures=()):
        super().__init__(message)
        self.failures = list(failures)


class GateFailure(ExportRefused):
    """An exported model failed a fair-lending gate (models.gates)."""


class ParityFailure(ExportRefused):
    """The ONNX file does not reproduce the fitted model's PDs within ``PARITY_TOL``."""


class TooLarge(ExportRefused):
    """The ONNX file is over ``MAX_ONNX_BYTES``: what a bundle may weigh in the repository, on
    IPFS and in every oracle's memory. Selection records it and moves on, as for a gate."""

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports" / "models"
DEFAULT_DIR = Path(__file__).resolve().parent / "default"
# Reasons are measured against applicants at or just above this approval cut-off unless the
# training configuration names another (`reason_cutoff_pd_bps`): scripts/01_deploy.py's maxPdBps.
DEFAULT_CUTOFF_BPS = 2500
CUTOFF_BAND_POINTS = 20
CUTOFF_MIN_ROWS = 500
PARITY_TOL = 1e-5
MAX_ONNX_BYTES = 2_000_000
PARITY_ROWS = 12_000


def library_versions() -> dict:
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn
    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def fit_final(ds: Dataset, splits: Splits, cfg: dict) -> ScoreCalibrated:
    """Fit ``cfg`` (family, params, resampler, calibration, seed) on the training split."""
    pipe = build_pipeline(cfg["family"], ds.schema, cfg.get("params", {}),
                          cfg.get("resampler", "none"), seed=cfg.get("seed", 0),
                          max_train_rows=cfg.get("max_train_rows", -1))
    model = ScoreCalibrated(pipe, method=cfg.get("calibration", "none"), cv=5,
                            random_state=cfg.get("seed", 0))
    # One OpenMP/BLAS thread: HistGradientBoosting histogram sums depend on the thread count, so
    # this is what makes a retrain reproduce the committed file byte for byte.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        return model.fit(ds.X[splits.train_idx], ds.y[splits.train_idx])


def _typical(X: np.ndarray, schema: dict) -> list:
    """Median of observed values per feature (mode for category codes; None if none observed)."""
    out = []
    for j, f in enumerate(schema["features"]):
        col = X[:, j][~np.isnan(X[:, j])].astype(np.float64)
        if not len(col):
            out.append(None)
        elif f["type"] == "category":
            vals, counts = np.unique(col, return_counts=True)
            out.append(float(vals[np.argmax(counts)]))
        else:
            out.append(float(np.float32(np.median(col))))
    return out


def cutoff_reference(pd_train: np.ndarray, ds: Dataset, splits: Splits,
                     cutoff_bps: int) -> tuple[list, dict]:
    """The reasons' reference row: per feature the median (mode) of the training applicants at
    or just above the approval cut-off, i.e. approved with a score within `CUTOFF_BAND_POINTS`
    of the cut-off score (Regulation B commentary 1002.9(b)(2)-5, first method). At least
    `CUTOFF_MIN_ROWS` rows: the nearest approved ones are added if the band holds fewer."""
    from .serving import pd_to_bps, score_from_pd
    scores = np.array([score_from_pd(pd_to_bps(p)) for p in pd_train])
    cut = score_from_pd(cutoff_bps)
    approved = np.flatnonzero(scores >= cut)
    if not len(approved):
        raise ValueError(f"no training applicant is approved at the cut-off PD {cutoff_bps} bps")
    near = approved[np.argsort(scores[approved] - cut, kind="stable")]
    in_band = int(np.sum(scores[approved] <= cut + CUTOFF_BAND_POINTS))
    rows = near[:max(in_band, min(CUTOFF_MIN_ROWS, len(near)))]
    X = ds.X[splits.train_idx][rows]
    return _typical(X, ds.schema), {
        "kind": "median (mode for categories) of the training applicants at or just above the "
                "approval cut-off", "cutoff_pd_bps": cutoff_bps, "cutoff_score": cut,
        "band_points": CUTOFF_BAND_POINTS, "rows": int(len(rows)),
        "score_range": [int(scores[rows].min()), int(scores[rows].max())]}


def elderly_rule(ds: Dataset, splits: Splits) -> dict | None:
    """The schema's elderly rule with its grid: every whole age from the youngest to the oldest
    training applicant."""
    ages = [(j, f) for j, f in enumerate(ds.schema["features"]) if "elderly_from" in f]
    if not ages:
        return None
    j, f = ages[0]
    col = ds.X[splits.train_idx][:, j]
    col = col[~np.isnan(col)]
    return {"feature": f["name"], "from": f["elderly_from"],
            "grid": [float(a) for a in range(int(col.min()), int(col.max()) + 1)]}


def served_scores(bundle, X: np.ndarray) -> np.ndarray:
    """Scores as served (elderly rule applied) for many rows."""
    from .serving import pd_to_bps, score_from_pd, served_pds
    return np.array([score_from_pd(pd_to_bps(p)) for p in served_pds(bundle, X)], dtype=np.float64)


def monitoring_reference(bundle, X_train: np.ndarray, schema: dict) -> dict:
    """models.monitoring's reference distributions on (up to 20,000, evenly spaced) training rows."""
    from . import monitoring
    pick = np.unique(np.linspace(0, len(X_train) - 1,
                                 num=min(monitoring.REFERENCE_ROWS, len(X_train))).astype(int))
    X = X_train[pick]
    return monitoring.reference(X, served_scores(bundle, X), schema)


def export_bundle(model: ScoreCalibrated, ds: Dataset, splits: Splits, cfg: dict,
                  outdir: Path, scorecard: dict | None = None,
                  references: dict | None = None) -> dict:
    """Write ONNX + feature schema + reference.json to ``outdir``; check parity on the holdout.

    A scorecard's points table goes into reference.json (covered by the bundle id), and its
    reference values are training values in each feature's highest-points bin, so the serving
    reason rule ranks features by points below the maximum (:mod:`models.scorecard`).

    ``references`` replaces what is otherwise read from the pooled training rows, for a model
    whose training rows nobody holds (a federation, models.federated.reference): ``reason``
    (model, cut-off bps) -> (values, how), ``elderly_rule`` and ``monitoring`` (served bundle) ->
    dict."""
    import onnxruntime as ort
    outdir.mkdir(parents=True, exist_ok=True)
    # the bundle's schema declares domain features only if its graph computes them
    schema = ds.schema if computed_by(model) else without(ds.schema)
    sha_schema = schema_hash(schema)
    version = str(cfg.get("version", "1"))
    meta = standard_metadata(schema, version=version, family=cfg["family"], schema_sha=sha_schema)
    meta["calibration"] = cfg.get("calibration", "none")
    meta["resampler"] = cfg.get("resampler", "none")
    onx = to_onnx(model, len(schema["features"]), metadata=meta,
                  doc=f"Scorechain PD model {schema['name']} v{version} ({cfg['family']})")
    onnx_name = f"{schema['name']}-v{version}.onnx"
    model_sha = save_onnx(onx, outdir / onnx_name)
    size = (outdir / onnx_name).stat().st_size
    # Parity on (up to 30,000) real holdout rows.
    Xh = ds.X[splits.holdout_idx]
    sess = ort.InferenceSession((outdir / onnx_name).read_bytes(),
                                providers=["CPUExecutionProvider"])
    p_onnx = sess.run(["probabilities"], {"features": Xh})[0][:, 1]
    p_skl = model.predict_proba(Xh)[:, 1]
    parity = float(np.max(np.abs(p_onnx.astype(np.float64) - p_skl)))
    # scikit-learn PDs on the first PARITY_ROWS holdout rows, so tests can check the committed
    # ONNX file against scikit-learn without a pickle (no data stored: holdout positions only).
    n_par = min(PARITY_ROWS, len(Xh))
    np.savez_compressed(outdir / "parity_reference.npz", p_sklearn=p_skl[:n_par],
                        holdout_positions=np.arange(n_par),
                        holdout_fingerprint=np.array(splits.fingerprint()))
    (outdir / "feature_schema.json").write_text(json.dumps(schema, indent=1) + "\n")
    ref = {"onnx_file": onnx_name, "schema_file": "feature_schema.json",
           "model_sha256": model_sha, "feature_schema_sha256": sha_schema,
           "model_version": version, "feature_order": ds.feature_names,
           "reason_codes": reason_table(schema),
           "score_mapping": "score = 600 + 40/ln2 * ln(((10000-pd_bps)/pd_bps)/19), clamp 300..850",
           "onnx_input": "features", "onnx_output": "probabilities[:,1]"}
    cutoff_bps = int(cfg.get("reason_cutoff_pd_bps", DEFAULT_CUTOFF_BPS))
    if scorecard is None:
        values, how = (references["reason"](model, cutoff_bps) if references else
                       cutoff_reference(model.predict_proba(ds.X[splits.train_idx])[:, 1], ds,
                                        splits, cutoff_bps))
        ref["reference_kind"] = how["kind"]
        ref["reference_values"] = values
        ref["reference_rows"] = how
        # (a scorecard's reasons are points below the maximum, exact per bin: no neighbourhood)
        ref["reason_neighbourhood"] = REASON_NEIGHBOURHOOD
    rule = references["elderly_rule"] if references else elderly_rule(ds, splits)
    if rule is not None:
        ref["elderly_rule"] = rule
    if scorecard is not None:
        from .scorecard import best_bin_reference
        ref["reference_kind"] = ("scorecard: a training value in each feature's highest-points "
                                 "bin (null = the missing bin), so reasons rank points below "
                                 "the maximum")
        ref["reference_values"] = best_bin_reference(scorecard, ds.X[splits.train_idx])
        ref["scorecard"] = scorecard
    # The gates run on the bundle as served; their results join reference.json (covered by the
    # bundle id) and a bundle that fails them is refused by models.serving.
    write_json(outdir / "reference.json", {**ref, "gates": {"passed": False, "provisional": True}})
    write_manifest(outdir)
    from . import gates
    from .serving import load_bundle
    served = load_bundle(outdir, ungated=True)
    ref["gates"] = gates.run(served, Xh, cutoff_bps)
    ref["monitoring"] = (references["monitoring"](served) if references else
                         monitoring_reference(served, ds.X[splits.train_idx], schema))
    write_json(outdir / "reference.json", ref)
    bundle_id = write_manifest(outdir)  # after every output-determining file is written
    if not ref["gates"]["passed"]:
        raise GateFailure(f"{outdir}: the model fails its fair-lending gates: "
                          + "; ".join(ref["gates"]["failures"]), ref["gates"]["failures"])
    return {"onnx_file": onnx_name, "model_sha256": model_sha, "bundle_id": bundle_id,
            "gates": ref["gates"], "reason_reference": ref.get("reference_rows"),
            "elderly_rule": {k: v for k, v in ref.get("elderly_rule", {}).items() if k != "grid"},
            "size_bytes": size,
            "parity_max_abs_diff": parity, "parity_rows": int(len(Xh)),
            "feature_schema_sha256": sha_schema, "opset": {"ai.onnx": TARGET_OPSET,
                                                           "ai.onnx.ml": ML_OPSET}}


def evaluate_holdout(model: ScoreCalibrated, ds: Dataset, splits: Splits, outdir: Path,
                     n_boot: int = 1000, cfg: dict | None = None) -> dict:
    cfg = cfg or {}
    Xh, yh = ds.X[splits.holdout_idx], ds.y[splits.holdout_idx]
    ph = model.predict_proba(Xh)[:, 1]
    thr = M.best_f1_threshold(ds.y[splits.train_idx], model.oof_)
    res = M.all_metrics(yh, ph, threshold=thr, n_boot=n_boot)
    res["threshold_rule"] = "max F1 on training out-of-fold PDs"
    groups = ds.groups.iloc[splits.holdout_idx].reset_index(drop=True)
    res["groups"] = group_metrics(yh, ph, groups, thr) if len(groups.columns) else {}
    imp = permutation_importance_auc(lambda X: model.predict_proba(X)[:, 1], Xh, yh,
                                     ds.feature_names)
    res["permutation_importance"] = imp
    res["plots"] = plots(yh, ph, outdir, imp, title=ds.name)
    res["gini"] = 2 * res["auc"] - 1
    res["gains_by_band"] = gains_table(yh, ph)
    # what changes for applicants against untuned HGB (the goals' baseline) at the cut-off
    from .select import untuned_hgb
    base = untuned_hgb(ds, splits).predict_proba(Xh)[:, 1]
    cutoff = int(cfg.get("reason_cutoff_pd_bps", DEFAULT_CUTOFF_BPS)) / 10_000
    res["swap_set_vs_untuned_hgb"] = swap_set(yh, ph, base, cutoff)
    res["holdout_duplicates"] = duplicates_across_split(ds.X[splits.train_idx], Xh)
    return res


def write_card(outdirs: list[Path], ds: Dataset, splits: Splits, cfg: dict, export: dict,
               evaluation: dict, cv: dict | None = None, scorecard: dict | None = None) -> dict:
    fam = cfg["family"]
    sub = cfg.get("max_train_rows", MAX_TRAIN_ROWS.get(fam))
    card = {
        "model_id": export["model_sha256"],
        "model_id_definition": "SHA-256 of the ONNX file bytes (not stored inside the file)",
        "bundle_id": export["bundle_id"],
        "bundle_id_definition": "SHA-256 of manifest.json (ONNX, schema and reference.json "
                                "hashes, serving rules): the modelId registered on chain",
        "name": f"{ds.name}-{fam}", "version": str(cfg.get("version", "1")),
        "details": {"family": fam, "params": cfg.get("params", {}),
                    "resampler": cfg.get("resampler", "none"),
                    "calibration": cfg.get("calibration", "none"),
                    "calibration_rule": cfg.get("calibration_rule",
                                                "configured"),
                    "training_subsample_rows": sub, "seed": cfg.get("seed", 0),
                    "onnx": export, "libraries": library_versions(),
                    "retrain_command": cfg.get("command", "python -m models train")},
        "intended_use": ("Estimate the probability of serious delinquency/default of an "
                         "individual consumer borrower from bureau-style features, to price and "
                         "approve loans in the Scorechain lending pool via the k-of-n oracle, "
                         "together with human-readable reason codes."),
        "out_of_scope": ["Populations, products or periods unlike the training data (the data "
                         "sets are public, old and from one country/market each)",
                         "Business or SME lending", "Decisions without adverse-action review "
                         "and reason codes", "Using the score as a measure of anything other "
                         "than the modelled default outcome",
                         "Fully automated decisions on protected groups without monitoring the "
                         "group metrics below"],
        "training_data": {"dataset": ds.name, "description": ds.schema.get("description"),
                          "source": ds.schema.get("source"), "rows_after_schema_check":
                          int(len(ds.y)), "rows_dropped_by_schema": ds.n_dropped,
                          "drop_reasons": ds.drop_reasons,
                          "train_rows": int(len(splits.train_idx)),
                          "holdout_rows": int(len(splits.holdout_idx)),
                          "default_rate": float(ds.y.mean()),
                          "holdout_fingerprint_sha256": splits.fingerprint(),
                          "split": splits.description,
                          **({"data_file": cfg["data_file"]} if "data_file" in cfg else {}),
                          "feature_schema_sha256": export["feature_schema_sha256"]},
        "evaluation": {"holdout": {k: v for k, v in evaluation.items()
                                   if k not in ("groups", "plots")}, "cv": cv},
        "groups": evaluation.get("groups", {}),
        "risks_and_limits": [
            "Trained on public historical data; PDs are calibrated to that population's "
            "default rate, not to the pool's.",
            "Group columns are reported, not used to correct the model; AUC and approval-rate "
            "gaps by group are listed and must be monitored.",
            "Age is a model feature in the data sets that contain it; check local rules.",
            "Reason codes are one-at-a-time substitutions against the reference row "
            "(applicants at or just above the approval cut-off, a float feature's own PD "
            "averaged over its value +/-5 %; a scorecard: the best bin): they ignore "
            "interactions and are not causal.",
            "Past-due counts of 96/98 in Give Me Some Credit are source codes, kept as values.",
        ] + (["Trained on a stratified subsample of %d training rows." % sub] if sub else []),
        "plots": evaluation.get("plots", []),
        "fair_lending_gates": export.get("gates"),
        "reason_reference": export.get("reason_reference"),
        "elderly_rule": export.get("elderly_rule") or None,
    }
    card["details"]["onnx"] = {k: v for k, v in export.items()
                               if k not in ("gates", "reason_reference", "elderly_rule")}
    if used_by(fam, ds.schema):
        card["derived_features"] = ds.schema["derived"]
    if scorecard is not None:
        card["scorecard"] = scorecard
        card["features"] = [{"name": f["name"], "missing": f.get("missing", "reject")}
                            for f in ds.schema["features"]]
    md = card_markdown(card)
    for d in outdirs:
        write_json(d / "model_card.json", card)
        (d / "model_card.md").write_text(md)
    return card


def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def card_markdown(card: dict) -> str:
    h = card["evaluation"]["holdout"]
    d = card["details"]
    lines = [f"# Model card: {card['name']} v{card['version']}", "",
             f"- **Model id (SHA-256 of ONNX file):** `{card['model_id']}`",
             f"- **Bundle id (SHA-256 of manifest.json; the on-chain modelId):** "
             f"`{card.get('bundle_id', 'none')}`",
             f"- **Feature schema SHA-256:** `{card['training_data']['feature_schema_sha256']}`",
             f"- **Family:** {d['family']}; resampler: {d['resampler']}; calibration: "
             f"{d['calibration']} ({d['calibration_rule']})",
             f"- **Hyper-parameters:** `{json.dumps(d['params'])}`",
             f"- **ONNX:** {d['onnx']['onnx_file']}, {d['onnx']['size_bytes']} bytes, opset "
             f"{d['onnx']['opset']}, parity max |diff| {d['onnx']['parity_max_abs_diff']:.2e} on "
             f"{d['onnx']['parity_rows']} holdout rows",
             f"- **Retrain:** `{d['retrain_command']}`", "",
             "## Intended use", "", card["intended_use"], "", "## Out of scope", ""]
    lines += [f"- {x}" for x in card["out_of_scope"]]
    t = card["training_data"]
    lines += ["", "## Training data", "",
              f"{t['description']}", "",
              f"- rows after schema check {t['rows_after_schema_check']} (dropped "
              f"{t['rows_dropped_by_schema']}: {t['drop_reasons']}); train {t['train_rows']}, "
              f"holdout {t['holdout_rows']}; default rate {t['default_rate']:.4f}",
              f"- split: {t['split']}; holdout fingerprint `{t['holdout_fingerprint_sha256']}`",
              *([f"- data file: {t['data_file']['name']} (SHA-256 "
                 f"`{t['data_file']['sha256']}`, {t['data_file']['rows_read']} rows read)"]
                if "data_file" in t else []),
              "", "## Evaluation (frozen holdout)", "",
              "| metric | value |", "|---|---|"]
    for k in ("auc", "auc_ci95", "gini", "h_measure", "h_measure_hmeasure_default", "brier", "ks",
              "ece"):
        if k not in h:
            continue
        v = h[k]
        label = {"h_measure": f"h_measure, {h.get('h_measure_prior', 'Beta(2, 2)')}",
                 "h_measure_hmeasure_default": "h_measure, "
                 + str(h.get("h_measure_hmeasure_default_prior"))}.get(k, k)
        lines.append(f"| {label} | {_fmt(v) if not isinstance(v, list) else '[' + ', '.join(_fmt(x) for x in v) + ']'} |")
    for key in ("at_0.5", "at_threshold"):
        if key in h:
            c = h[key]
            lines.append(f"| {key} (t={c['threshold']:.4f}) | acc {c['accuracy']:.4f}, prec "
                         f"{c['precision']:.4f}, rec {c['recall']:.4f}, F1 {c['f1']:.4f} |")
    if card["evaluation"].get("cv"):
        lines += ["", f"Cross-validation: `{json.dumps(card['evaluation']['cv'])}`"]
    if h.get("gains_by_band"):
        lines += ["", "## Gains by score band (holdout)", "",
                  "| band | rows | share | bads | bad rate | PD range | bads captured (this band and worse) |",
                  "|---|---|---|---|---|---|---|"]
        for r in h["gains_by_band"]:
            rng = (f"{r['pd_min']:.4f}–{r['pd_max']:.4f}" if r["n"] else "—")
            lines.append(f"| {r['band']} | {r['n']} | {r['share']:.3f} | {r['bads']} | "
                         f"{_fmt(r['bad_rate'])} | {rng} | {r['cumulative_bad_capture']:.3f} |")
    sw = h.get("swap_set_vs_untuned_hgb")
    if sw:
        lines += ["", f"## Swap set against untuned HGB (approve at PD ≤ {sw['cutoff_pd']:.2f})", "",
                  "| | rows | bad rate |", "|---|---|---|"]
        for k, label in (("both_approve", "both approve"), ("swap_in", "this model approves, HGB "
                         "declines"), ("swap_out", "this model declines, HGB approves"),
                         ("both_decline", "both decline")):
            lines.append(f"| {label} | {sw[k]['n']} | {_fmt(sw[k]['bad_rate'])} |")
    lines += ["", "## Groups (holdout; approval = PD below the chosen threshold)", "",
              "Adverse impact ratio: the lowest group approval rate over the highest (0.8 is the "
              "four-fifths rule of thumb). Calibration within a group: mean PD over its observed "
              "default rate (1 = calibrated).", ""]
    for g, info in card["groups"].items():
        lines += [f"### {g}", "", f"AUC gap {_fmt(info['auc_gap'])}, approval-rate gap "
                  f"{_fmt(info['approval_rate_gap'])}, adverse impact ratio "
                  f"{_fmt(info['approval_rate_ratio_min_max'])}", "",
                  "| group | n | default rate | mean PD | calibration | approval rate | AUC |",
                  "|---|---|---|---|---|---|---|"]
        for val, r in info["groups"].items():
            lines.append(f"| {val} | {r['n']} | {r['default_rate']:.4f} | {r['mean_pd']:.4f} | "
                         f"{_fmt(r.get('calibration_ratio'))} | {r['approval_rate']:.4f} | "
                         f"{_fmt(r['auc'])} |")
        lines.append("")
    if card.get("derived_features"):
        ops = dict.fromkeys(f["op"] for f in card["derived_features"])
        lines += ["## Domain features (computed inside the model from the raw features)", "",
                  "; ".join(f"{op}: {OP_TEXT[op]}" for op in ops)
                  + " (models/derived.py). Reasons name the raw features.", "",
                  "| feature | op | inputs | direction | meaning |", "|---|---|---|---|---|"]
        lines += [f"| {f['name']} | {f['op']} | {', '.join(f['inputs'])} | "
                  f"{f.get('monotone', 'free')} | {f.get('label', '')} |"
                  for f in card["derived_features"]] + [""]
    lines += gates_markdown(card)
    if "scorecard" in card:
        lines += scorecard_markdown(card["scorecard"], card.get("features", []))
    lines += sr117_markdown(card)
    lines += ["## Risks and limits", ""] + [f"- {x}" for x in card["risks_and_limits"]]
    if card["plots"]:
        lines += ["", "## Plots", ""] + [f"- {p}" for p in card["plots"]]
    return "\n".join(lines) + "\n"


def sr117_markdown(card: dict) -> list[str]:
    """The model-risk summary a bank's validation team asks for (Federal Reserve SR 11-7)."""
    t, d = card["training_data"], card["details"]
    dup = card["evaluation"]["holdout"].get("holdout_duplicates")
    src = t.get("source") or {}
    lineage = (f"{src.get('package')}:{src.get('path')}" if src.get("package")
               else (t.get("data_file") or {}).get("name", "a user's CSV"))
    lines = ["## Model risk (SR 11-7)", "",
             f"- **Conceptual soundness.** A {d['family']} default-probability model of a booked "
             "population's serious delinquency, chosen on cross-validation against untuned "
             "HistGradientBoosting on shared folds; monotone in the directions the schema "
             "declares; reasons and the elderly rule built into serving and gated "
             "(models/README.md).",
             f"- **Data lineage.** {lineage}, read in place; schema SHA-256 "
             f"`{t['feature_schema_sha256']}`; holdout fingerprint "
             f"`{t['holdout_fingerprint_sha256']}`; rows dropped by the schema: "
             f"{t['rows_dropped_by_schema']}.",
             "- **Booked accounts only.** The data hold the outcomes of loans that were granted; "
             "applicants declined at the time are absent and no reject inference was done, so "
             "the PDs of applicants unlike those booked are extrapolations.",
             *([f"- **Duplicates.** {dup['also_in_training']} of {dup['holdout_rows']} holdout "
                "rows have a feature vector that also occurs in training (public data sets repeat "
                "rows; the holdout figures include them)."] if dup else []),
             "- **Limits.** See below; the model is for the population and period of its data.",
             "- **Monitoring plan.** The oracle computes PSI of the score and CSI per feature "
             "against this bundle's training distributions (warn 0.10, alert 0.25; "
             "oracle/README.md \"Population drift\"); realised default rates per band and group "
             "are to be compared with the tables above as outcomes arrive; a model review on an "
             "alert, a failed gate, or a year in service.", ""]
    return lines


def gates_markdown(card: dict) -> list[str]:
    g = card.get("fair_lending_gates")
    if not g:
        return []
    rule, ref = card.get("elderly_rule"), card.get("reason_reference")
    lines = ["## Fair-lending gates (models.gates; a failing model is not served)", "",
             f"**{'passed' if g['passed'] else 'FAILED: ' + '; '.join(g['failures'])}**", "",
             "| gate | measured | required |", "|---|---|---|"]
    for k, n in g["ice_monotonicity_violations"].items():
        lines.append(f"| ICE monotonicity, {k} (rows against the declared direction) | {n} | 0 |")
    e = g["elderly_rule"]
    if e["applicable"]:
        lines.append(f"| elderly rule (age {e['from']}+: age a reason or not the most favourable "
                     f"age), of {e['rows']} rows | {e['violations']} | 0 |")
        lines.append(f"| (not a gate) elderly applicants whose PD the rule lowered, of {e['rows']} "
                     f"| {e.get('pd_lowered_rows', 0)} (mean {e.get('pd_lowered_mean', 0):.4f}) | — |")
    dwr = g["declined_without_reason"]
    lines.append(f"| declined (PD > {dwr['cutoff_pd_bps']} bps) without a reason, of "
                 f"{dwr['declined']} declined in {dwr['rows']} rows | {dwr['without_reason']} | 0 |")
    for k, share in g["top_reason_flip_at_2pct"].items():
        lines.append(f"| top reason changes when {k} moves ±2 % | {share:.1%} | "
                     f"≤ {g['max_top_reason_flip']:.0%} |")
    lines.append("")
    if rule:
        lines += [f"Elderly rule: applicants aged {rule['from']} or over are scored at the whole "
                  f"age (of those seen in training) that gives them the lowest PD, and {rule['feature']} "
                  "is never their reason.", ""]
    if ref:
        lines += [f"Reasons compare with the {ref['rows']} training applicants scoring "
                  f"{ref['score_range'][0]}–{ref['score_range'][1]} (cut-off PD "
                  f"{ref['cutoff_pd_bps']} bps = score {ref['cutoff_score']}).", ""]
    return lines


def scorecard_markdown(sc: dict, schema_features: list) -> list[str]:
    """The card's points table: feature, bin, WoE, points (and the PDO scaling)."""
    lines = ["## Scorecard points", "",
             f"PDO scaling: {sc['pdo']} points double the odds (good:bad); {sc['base_score']} "
             f"points at odds {sc['base_odds']}:1 (PD 5 %), the same scale as the served score "
             f"(`score = 600 + 40/ln2 * ln(odds/19)`), so a scorecard score and any model's "
             f"score mean the same PD. factor = PDO/ln 2 = {sc['factor']:.4f}, offset = "
             f"{sc['offset']:.4f}, logistic intercept {sc['intercept']:.6f}; {sc['points_rule']}. "
             "The points of a borrower's bins add up to the unrounded score; the served score is "
             "computed from the PD in basis points, so it can differ from the rounded sum by the "
             "bps rounding. Reasons: " + sc["reason_method"] + ".", "",
             "| feature | bin | WoE | points |", "|---|---|---|---|"]
    imputed = {f["name"] for f in schema_features if f.get("missing") == "impute"}
    for f in sc["features"]:
        for b in f["bins"]:
            lines.append(f"| {f['name']} | {b['bin']} | {b['woe']:+.4f} | {b['points']:.1f} |")
        if f["name"] in imputed:  # other features cannot be missing: validation rejects them
            lines.append(f"| {f['name']} | missing | {f['missing']['woe']:+.4f} | "
                         f"{f['missing']['points']:.1f} |")
    dropped = [f["name"] for f in sc["features"] if f.get("dropped_for_sign")]
    if dropped:
        lines += ["", "Dropped for a positive coefficient on WoE (collinear with other "
                  "characteristics; same points in every bin): " + ", ".join(dropped) + "."]
    return lines + [""]


def train_and_export(cfg: dict, outdir: Path | None = None, n_boot: int = 1000,
                     cv: dict | None = None, ds: Dataset | None = None,
                     splits: Splits | None = None, reports: Path = REPORTS) -> dict:
    """Fit on the training split, export, evaluate on the holdout, write card and reports.

    ``ds``/``splits`` default to the registered data set ``cfg["dataset"]`` and its frozen split
    (a user's CSV passes its own); per-model reports go to ``reports/<model id>/``."""
    t0 = time.time()
    if ds is None:
        ds = load_dataset(cfg["dataset"])
    if splits is None:
        splits = make_splits(ds.y, ds.X)
    model = fit_final(ds, splits, cfg)
    sc = None
    if cfg["family"] == "scorecard":
        from .scorecard import points_table
        sc = points_table(model, ds.schema)
    # Staged beside its destination and moved in only once parity, size and the gates pass, so
    # a failed export never leaves a half-written bundle (or a replaced default) behind.
    tmpdir = (outdir.parent / f".{outdir.name}.staging") if outdir else (reports / "_export_tmp")
    if tmpdir.exists():
        shutil.rmtree(tmpdir)
    try:
        export = export_bundle(model, ds, splits, cfg, tmpdir, scorecard=sc)
        if export["parity_max_abs_diff"] > PARITY_TOL:
            why = f"ONNX parity {export['parity_max_abs_diff']:.2e} > {PARITY_TOL}"
            raise ParityFailure(why, [why])
        if export["size_bytes"] > MAX_ONNX_BYTES:
            why = f"ONNX file {export['size_bytes']:,} bytes > {MAX_ONNX_BYTES:,}"
            raise TooLarge(why, [why])
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    if outdir:
        outdir.mkdir(parents=True, exist_ok=True)
        for f in tmpdir.iterdir():
            f.replace(outdir / f.name)
        tmpdir.rmdir()
    report_dir = reports / export["model_sha256"]
    evaluation = evaluate_holdout(model, ds, splits, report_dir, n_boot=n_boot, cfg=cfg)
    card = write_card([report_dir] + ([outdir] if outdir else []), ds, splits, cfg, export,
                      evaluation, cv, scorecard=sc)
    write_json(report_dir / "metrics.json", evaluation)
    write_json(report_dir / "train_config.json", cfg)
    if outdir is None:  # non-default exports: keep the ONNX next to its report
        for f in tmpdir.iterdir():
            f.replace(report_dir / f.name)
        tmpdir.rmdir()
    log.info("trained %s in %.0fs", card["model_id"], time.time() - t0)
    return {"card": card, "evaluation": evaluation, "export": export}


def train_default(n_boot: int = 1000) -> dict:
    cfg = json.loads((DEFAULT_DIR / "train_config.json").read_text())
    cfg["command"] = "python -m models train-default"
    return train_and_export(cfg, outdir=DEFAULT_DIR, n_boot=n_boot, cv=cfg.get("cv"))
