"""The whole training pipeline on a user's CSV (``python -m models train --csv``).

Everything that can be wrong with the input is checked before anything is fitted or written
(:mod:`models.datacheck`; a bad input costs seconds and changes nothing), then the data set goes
through the same steps as the registered ones (:func:`models.select.train_dataset`: compare,
search, select, calibrate, export with the manifest, card, summary). Optionally the holdout is
out of time: the latest rows by a time column.

Where it writes: the bundle to ``--out`` (default ``build/models/<schema name>/bundle``), the
reports to ``--reports`` (default ``build/models/<schema name>/reports``). An existing non-empty
directory, and the committed default model above all, is replaced only with ``--force``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import parse
from .data import Dataset, Splits, encode_frame, make_splits, time_splits
from .datacheck import DataError, check_features, check_target, raise_first, require_columns
from .families import FAMILIES, RESAMPLERS
from .infer import file_sha256
from .schema import SchemaError, load_schema
from .train import DEFAULT_DIR

log = logging.getLogger(__name__)
# Each class must appear this often on both sides of an out-of-time cut (AUC, calibration and
# the bootstrap need both classes in the holdout; 5-fold calibration needs them in training).
MIN_CLASS_PER_SIDE = 5


@dataclass(frozen=True)
class Budget:
    """How much of the pipeline to run: the full one, or a CI-sized one for tests."""

    families: tuple[str, ...] = FAMILIES
    resamplers: tuple[str, ...] = RESAMPLERS
    search: tuple[str, ...] = ("hgb",)
    trials: int = 10
    search_folds: int = 3
    folds: int = 5
    n_boot: int = 1000


BUDGETS = {"full": Budget(),
           "ci": Budget(families=("logreg", "hgb"), resamplers=("none",), search=("hgb",),
                        trials=2, search_folds=2, folds=3, n_boot=200)}


def read_csv(path: str | Path, schema: dict) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(None, f"{path}: no such file")
    try:
        return pd.read_csv(path, **dict(schema.get("source", {}).get("read_csv", {})))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(None, f"{path} cannot be read as CSV: "
                              f"{str(exc).strip().splitlines()[0]}") from None


def load_checked(path: str | Path, schema: dict,
                 drop_invalid: bool = False) -> tuple[Dataset, pd.DataFrame]:
    """The encoded data set and the raw rows it kept, or a DataError naming the column."""
    df = read_csv(path, schema)
    require_columns(schema, df, what=Path(path).name)
    check_target(schema, df)
    problems = check_features(schema, df)
    if problems and not drop_invalid:
        raise_first(problems)
    ds = encode_frame(schema, df, name=schema["name"])
    keep = np.ones(len(df), bool)
    for _, rows in problems.values():
        keep &= ~rows
    if ds.n_dropped != int((~keep).sum()):  # the checks and the encoder must agree
        raise RuntimeError(f"data checks found {(~keep).sum()} bad rows, the encoder dropped "
                           f"{ds.n_dropped} ({ds.drop_reasons})")
    kept = df[keep].reset_index(drop=True)
    if ds.n_dropped:
        log.warning("dropped %d rows violating the schema: %s", ds.n_dropped, ds.drop_reasons)
        check_target(schema, kept)  # dropping may leave too few of a class
    return ds, kept


def time_values(schema: dict, df: pd.DataFrame, column: str):
    """The time column as numbers (day numbers for dates) and a formatter for one value."""
    if column not in df.columns:
        raise DataError(column, f"time column '{column}' is not in the data ({len(df):,} rows)")
    col = df[column]
    if pd.api.types.is_numeric_dtype(col):
        t, bad = parse.numbers(col)
        label = "{:g}".format
    else:
        fmt = schema.get("dates", {}).get(column, {}).get("format") or parse.date_format(col)
        if fmt is None:
            raise DataError(column, f"time column '{column}' reads neither as numbers nor as "
                                    f"dates (e.g. {col.dropna().astype(str).iloc[:3].tolist()})")
        parsed, bad = parse.dates(col, fmt)
        t = parse.day_numbers(parsed)

        def label(days):
            return str((pd.Timestamp(0) + pd.Timedelta(days=float(days))).date())
    if bad.any():
        raise DataError(column, f"time column '{column}': {int(bad.sum()):,} of {len(df):,} rows "
                                f"cannot be read (e.g. {col[bad].astype(str).iloc[:3].tolist()})")
    empty = np.isnan(t)
    if empty.any():
        raise DataError(column, f"time column '{column}': {int(empty.sum()):,} of {len(df):,} "
                                "rows are empty")
    return t, label


def out_of_time(ds: Dataset, t: np.ndarray, column: str, label, folds: int) -> Splits:
    try:
        sp = time_splits(ds.y, t, column=column, n_folds=folds, label=label)
    except ValueError as exc:
        raise DataError(column, f"time column {exc}") from None
    for side, idx in (("out-of-time holdout", sp.holdout_idx), ("training part", sp.train_idx)):
        pos = int(ds.y[idx].sum())
        for cls, k in (("positive", pos), ("negative", len(idx) - pos)):
            if k < MIN_CLASS_PER_SIDE:
                raise DataError(column, f"time column '{column}': the {side} ({len(idx):,} "
                                        f"rows) has only {k} {cls} rows; at least "
                                        f"{MIN_CLASS_PER_SIDE} of each class are needed")
    return sp


def _non_empty(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def prepare_dirs(bundle: Path, reports: Path, force: bool) -> None:
    """Refuse to replace the committed default model or a non-empty directory without --force;
    with it, clear what a previous run left that this one would not overwrite."""
    if bundle.resolve() == DEFAULT_DIR.resolve() and not force:
        raise DataError(None, f"--out {bundle} is the committed default model; pass --force to "
                              "replace it on purpose")
    for what, d in (("--out", bundle), ("--reports", reports)):
        if d.exists() and not d.is_dir():
            raise DataError(None, f"{what} {d} exists and is not a directory")
        if _non_empty(d) and not force:
            raise DataError(None, f"{what} {d} exists and is not empty; choose another directory "
                                  "or pass --force to replace what is there")
    if force:
        old = bundle / "reference.json"
        if old.is_file():  # the previous ONNX file (its name may differ from the new one)
            name = json.loads(old.read_text()).get("onnx_file", "")
            if name and Path(name).name == name and (bundle / name).is_file():
                (bundle / name).unlink()
        # train-default refits what this names: a stale one would retrain the previous model.
        (bundle / "train_config.json").unlink(missing_ok=True)
        # compare() and the search reuse cached results by key: stale ones are from other data.
        for f in [*reports.glob("comparison_*"), *reports.glob("search_*.json"),
                  reports / "summary.json"]:
            f.unlink(missing_ok=True)
    bundle.mkdir(parents=True, exist_ok=True)
    reports.mkdir(parents=True, exist_ok=True)


def training_rows(csv: str | Path, schema: dict,
                  training_data: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, training-split indices) of the CSV a bundle was trained on, rebuilt from the file and
    the card's ``training_data`` (so a registrar can commit to the training rows: the Merkle root
    in oracle/provenance.py). Refuses another file or a split that comes out differently."""
    from .data import make_splits
    info = training_data.get("data_file") or {}
    if not info.get("sha256"):
        raise DataError(None, "the model card does not name a training CSV (data_file)")
    sha = file_sha256(csv) if Path(csv).is_file() else None
    if sha != info["sha256"]:
        raise DataError(None, f"{csv} is not the file the model was trained on "
                              f"({info['name']}, SHA-256 {info['sha256']})")
    ds, df = load_checked(csv, schema, drop_invalid=training_data.get(
        "rows_dropped_by_schema", 0) > 0)
    column = info.get("time_column")
    if column:
        t, label = time_values(schema, df, column)
        sp = time_splits(ds.y, t, column=column, label=label)
    else:
        sp = make_splits(ds.y, ds.X)
    if sp.fingerprint() != training_data.get("holdout_fingerprint_sha256"):
        raise DataError(column, f"the holdout rebuilt from {csv} differs from the model card's")
    return ds.X, ds.y, sp.train_idx


def train_csv(csv: str | Path, schema_path: str | Path, *, time_column: str | None = None,
              out: str | Path | None = None, reports: str | Path | None = None,
              force: bool = False, drop_invalid: bool = False, budget: Budget = Budget(),
              version: str = "1", command: str = "") -> dict:
    """Check, train, export and verify; returns what the command prints."""
    from .select import train_dataset
    from .serving import load_bundle
    try:
        schema = load_schema(schema_path)
    except SchemaError as exc:
        raise DataError(None, f"{schema_path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(None, f"{schema_path} is not JSON: {exc}") from None
    name = schema["name"]
    bundle = Path(out) if out else Path("build") / "models" / name / "bundle"
    reports = Path(reports) if reports else Path("build") / "models" / name / "reports"
    ds, df = load_checked(csv, schema, drop_invalid=drop_invalid)
    if time_column:
        t, label = time_values(schema, df, time_column)
        splits = out_of_time(ds, t, time_column, label, budget.folds)
    else:
        splits = make_splits(ds.y, ds.X, n_folds=budget.folds)
    prepare_dirs(bundle, reports, force)  # only now: bad input never gets this far
    status = str(schema.get("review", {}).get("status", ""))
    if status.startswith("draft"):  # trained all the same: the card records what was used
        log.warning("%s is still marked '%s' (review.status): review it before serving the "
                    "model", schema_path, status)
    data_file = {"name": Path(csv).name, "sha256": file_sha256(csv), "rows_read": int(len(df)
                 + ds.n_dropped), "time_column": time_column}
    # One OpenMP/BLAS thread for the whole run, not only the final fit: the comparison and the
    # search then reproduce exactly (HGB's histogram sums depend on the thread count), and on a
    # shared 2-core machine it is faster too (the CI run: 7 s against 34 s with default threads).
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        cfg, summary = train_dataset(
            ds, splits, search_families=budget.search, n_trials=budget.trials,
            search_folds=budget.search_folds, version=version, outdir=bundle,
            command=command, reports=reports, families=budget.families,
            resamplers=budget.resamplers, n_boot=budget.n_boot,
            extra_cfg={"data_file": data_file})
    loaded = load_bundle(bundle)  # the manifest, hashes and schema agree, as a node checks
    return {"bundle": str(bundle), "bundle_id": loaded.bundle_id, "model_id": loaded.model_id,
            "family": cfg["family"], "resampler": cfg["resampler"],
            "calibration": cfg["calibration"], "holdout": splits.description,
            "holdout_auc": summary["auc"], "cv_auc_mean": summary["cv_auc_mean"],
            "report_dir": summary["report_dir"]}
