"""Command line: ``python -m models --help``."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

from . import package_version

DATASETS = ("gmsc", "taiwan", "german")


class CliError(Exception):
    """A bad argument value: reported as one line (exit code 2), not a traceback."""


def _names(text: str, allowed, what: str) -> list[str]:
    """A comma list checked up front (a typo must not fail after an hour of training)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise CliError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def _json_file(path: str):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None


def _ds(name):
    from .data import load_dataset, make_splits
    ds = load_dataset(name)
    return ds, make_splits(ds.y, ds.X)


def cmd_compare(a):
    from .cv import compare, comparison_markdown
    from .families import FAMILIES
    from .train import REPORTS
    fams = _names(a.families, FAMILIES, "family") or None
    ds, sp = _ds(a.dataset)
    out = REPORTS / f"comparison_{a.dataset}.json"
    res = compare(ds, sp, out, **({"families": fams} if fams else {}))
    (REPORTS / f"comparison_{a.dataset}.md").write_text(comparison_markdown(ds, sp, res))


def cmd_train(a):
    from .families import FAMILIES
    from .select import run_training
    run_training(a.dataset, search_families=_names(a.search, FAMILIES, "family"),
                 n_trials=a.trials, search_folds=a.search_folds, version=a.version)


def cmd_train_default(a):
    from .train import train_default
    r = train_default(n_boot=a.n_boot)
    e = r["evaluation"]
    print(json.dumps({"model_id": r["card"]["model_id"], "auc": e["auc"], "brier": e["brier"],
                      "ks": e["ks"], "h_measure": e["h_measure"],
                      "parity": r["export"]["parity_max_abs_diff"]}, indent=1))


def cmd_export(a):
    from .train import train_and_export
    cfg = _json_file(a.config)
    out = Path(a.out) if a.out else None
    r = train_and_export(cfg, outdir=out, n_boot=a.n_boot)
    print(r["card"]["model_id"])


def cmd_evaluate(a):
    import numpy as np

    from . import metrics as M
    from .serving import load_bundle, predict_pd
    b = load_bundle(a.bundle)
    ds, sp = _ds(b.schema["name"])
    Xh, yh = ds.X[sp.holdout_idx], ds.y[sp.holdout_idx]
    p = predict_pd(b, Xh).astype(np.float64)
    m = M.all_metrics(yh, p, n_boot=a.n_boot)
    print(json.dumps({"model_id": b.model_id, **{k: m[k] for k in
                      ("auc", "auc_ci95", "h_measure", "brier", "ks", "ece")}}, indent=1))


def cmd_explain(a):
    if a.study:
        from .explain import run_study
        run_study(tuple(_names(a.dataset, DATASETS, "dataset")) or ("gmsc", "taiwan"),
                  n_samples=a.samples)
        return
    import numpy as np

    from .schema import validate_row
    from .serving import contributions, load_bundle, reason_codes, score_row
    b = load_bundle(a.bundle)
    row = _json_file(a.row) if a.row else None
    if row is None:
        ds, sp = _ds(b.schema["name"])
        if not 0 <= a.index < len(sp.holdout_idx):
            raise CliError(f"--index {a.index} is outside the holdout rows "
                           f"(0 to {len(sp.holdout_idx) - 1})")
        from .schema import decode_row
        row = decode_row(b.schema, ds.X[sp.holdout_idx[a.index]])
    x = validate_row(b.schema, row)
    pd_, contrib = contributions(b, x)
    texts = json.loads((b.path / "reference.json").read_text())["reason_codes"]["text"]
    out = score_row(b, row)
    out["reasons"] = [{"code": c, "text": texts.get(str(c), "")} for c in reason_codes(b, x)
                      if c]
    out["contributions"] = {n: float(c) for n, c in zip(b.feature_names, contrib)}
    out["row"] = row
    print(json.dumps(out, indent=1, default=lambda v: v.item() if isinstance(v, np.generic)
                     else str(v)))


def cmd_manifest(a):
    from .manifest import BundleIntegrityError, check, read_files, write
    if a.check:
        try:
            print(check(read_files(a.bundle)))
        except BundleIntegrityError as exc:
            raise CliError(str(exc)) from None
        return
    print(write(a.bundle))


def main(argv=None):
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = argparse.ArgumentParser(prog="python -m models",
                                description="Scorechain PD models: train, evaluate, export, "
                                            "explain.")
    p.add_argument("--version", action="version", version=f"models {package_version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("train", help="compare six families x 3 resamplers on the shared folds, "
                                     "Optuna-tune, select, calibrate, export and report")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--search", default="hgb", help="families to tune (comma list, '' = none)")
    s.add_argument("--trials", type=int, default=10, help="Optuna budget per tuned family")
    s.add_argument("--search-folds", type=int, default=3, help="CV folds used while searching")
    s.add_argument("--version", default="1")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("compare", help="only the family x resampler comparison table")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--families", default="")
    s.set_defaults(func=cmd_compare)
    s = sub.add_parser("train-default", help="retrain and re-export models/default/ from "
                                             "models/default/train_config.json")
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_train_default)
    s = sub.add_parser("export", help="fit a JSON config on the training split, export ONNX, "
                                      "card and report")
    s.add_argument("config")
    s.add_argument("--out", default="")
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("evaluate", help="evaluate an exported bundle (ONNX only) on its holdout")
    s.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "default"))
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_evaluate)
    s = sub.add_parser("explain", help="score + reason codes for one row, or --study for the "
                                       "LIME sampling study")
    s.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "default"))
    s.add_argument("--row", default="", help="JSON file with a feature mapping")
    s.add_argument("--index", type=int, default=0, help="holdout row index if no --row")
    s.add_argument("--study", action="store_true")
    s.add_argument("--dataset", default="")
    s.add_argument("--samples", type=int, default=5000)
    s.set_defaults(func=cmd_explain)
    s = sub.add_parser("manifest", help="write a bundle's manifest.json and print its bundle id "
                                        "(the model id to register); --check only verifies it")
    s.add_argument("bundle")
    s.add_argument("--check", action="store_true", help="verify, do not write")
    s.set_defaults(func=cmd_manifest)
    a = p.parse_args(argv)
    from .schema import FeatureValidationError
    try:
        a.func(a)
    except (CliError, FileNotFoundError, FeatureValidationError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
