"""Data loading and the frozen splits shared by every model.

Real data sets are read in place from PyPI packages installed in the virtualenv (located with
``importlib.util.find_spec`` so the package itself is never imported or copied). Any CSV plus a
feature-schema JSON trains with no code change (:func:`load_csv`).

Splits: a stratified 20% holdout chosen by ranking each class's rows on
``sha256(seed | canonical row content | row position)`` — it depends on the data and the seed only
(not on library versions or RNG streams) — then 5-fold stratified CV on the rest.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from . import parse
from .schema import FeatureValidationError, load_schema

log = logging.getLogger(__name__)

HOLDOUT_FRACTION = 0.20
SPLIT_SEED = 20240601
N_FOLDS = 5


@dataclass
class Dataset:
    """Encoded data: ``X`` float32 in schema order, ``y`` int8 (1 = default), group labels."""

    name: str
    schema: dict
    X: np.ndarray
    y: np.ndarray
    groups: pd.DataFrame
    n_dropped: int = 0
    drop_reasons: dict = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]


def package_data_path(package: str, relpath: str) -> Path:
    """Path of a data file shipped inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / relpath
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def _encode_column(f: Mapping[str, Any], col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`models.schema._encode_feature`; returns (values, row_is_invalid)."""
    n = len(col)
    if f["type"] == "category":
        lookup = {str(c): float(i) for i, c in enumerate(f["categories"])}
        s = col.astype("string")
        vals = s.map(lambda v: lookup.get(v, np.nan) if v is not pd.NA else np.nan)
        vals = vals.astype(float).to_numpy()
        miss = col.isna().to_numpy()
        unknown = ~miss & np.isnan(vals)
        bad = unknown if f.get("unknown", "reject") == "reject" else np.zeros(n, bool)
        if f.get("missing", "reject") == "reject":
            bad = bad | miss
        return vals.astype(np.float32), bad
    vals, unreadable = parse.feature_values(f, col)
    miss = np.isnan(vals) & ~unreadable
    bad = unreadable.copy()  # text in a number column is an error, never a silent missing value
    if f.get("missing", "reject") == "reject":
        bad |= miss
    with np.errstate(invalid="ignore"):
        if f.get("min") is not None:
            bad |= vals < f["min"]
        if f.get("max") is not None:
            bad |= vals > f["max"]
        bad |= np.isinf(vals)
        if f["type"] == "int":
            bad |= ~miss & (vals != np.floor(vals))
    return vals.astype(np.float32), bad


def positive_values(schema: Mapping[str, Any]) -> list:
    """The target values that mean default: ``positive`` is one value or a list of them."""
    pos = schema["positive"]
    return list(pos) if isinstance(pos, list) else [pos]


def target_labels(schema: Mapping[str, Any], t: pd.Series) -> np.ndarray:
    """1 where the target is one of the positive values, else 0 (compared as text, as before;
    a numeric target read with missing cells is float, so 1.0 also matches a positive 1)."""
    pos = pd.Series([str(v) for v in positive_values(schema)], dtype=object)
    s = t.astype(str)
    if pd.api.types.is_float_dtype(t):
        s, pos = (v.str.replace(r"\.0$", "", regex=True) for v in (s, pos))
    return s.isin(set(pos)).to_numpy()


def _group_frame(schema: Mapping[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for g in schema.get("groups", []):
        col = df[g["column"]]
        if "bins" in g:
            out[g["name"]] = pd.cut(col, bins=g["bins"], labels=g["labels"], right=False).astype(
                "string").fillna("unknown")
        elif "map" in g:
            out[g["name"]] = col.astype("string").map(lambda v, m=g["map"]: m.get(v, "other"))
        else:
            out[g["name"]] = col.astype("string")
    return pd.DataFrame(out, index=df.index).reset_index(drop=True)


def encode_frame(schema: Mapping[str, Any], df: pd.DataFrame, *, name: str | None = None,
                 drop_invalid: bool = True) -> Dataset:
    """Encode a raw frame with the schema; rows violating it are dropped (and counted)."""
    feats = schema["features"]
    cols, bad = [], np.zeros(len(df), bool)
    reasons = {}
    for f in feats:
        if f["name"] not in df.columns:
            raise FeatureValidationError(f["name"], "column missing from data")
        v, b = _encode_column(f, df[f["name"]])
        if b.any():
            reasons[f["name"]] = int(b.sum())
        cols.append(v)
        bad |= b
    X = np.column_stack(cols).astype(np.float32)
    y = target_labels(schema, df[schema["target"]]).astype(np.int8)
    groups = _group_frame(schema, df)
    if bad.any() and not drop_invalid:
        raise FeatureValidationError(None, f"{int(bad.sum())} rows violate the schema: {reasons}")
    keep = ~bad
    if bad.any():
        log.info("%s: dropping %d rows violating the schema %s", name, int(bad.sum()), reasons)
    return Dataset(name or schema["name"], dict(schema), X[keep], y[keep],
                   groups[keep].reset_index(drop=True), int(bad.sum()), reasons)


def load_csv(path: str | Path, schema: Mapping[str, Any] | str | Path) -> Dataset:
    """Generic loader: any CSV + feature schema (dict, short name or path)."""
    if not isinstance(schema, Mapping):
        schema = load_schema(schema)
    kwargs = dict(schema.get("source", {}).get("read_csv", {}))
    df = pd.read_csv(path, **kwargs)
    return encode_frame(schema, df, name=schema["name"])


def load_dataset(name: str) -> Dataset:
    """Load a registered data set (``gmsc``, ``taiwan``, ``german``) from its installed package."""
    schema = load_schema(name)
    src = schema["source"]
    return load_csv(package_data_path(src["package"], src["path"]), schema)


def _row_digests(X: np.ndarray, seed: int) -> np.ndarray:
    """Per-row sort keys: first 8 bytes of sha256(seed | row bytes | position) as uint64."""
    Xc = np.ascontiguousarray(np.nan_to_num(X.astype(np.float32), nan=-1e30))
    prefix = str(seed).encode()
    keys = np.empty(len(Xc), dtype=np.uint64)
    for i in range(len(Xc)):
        h = hashlib.sha256(prefix + Xc[i].tobytes() + i.to_bytes(8, "little")).digest()
        keys[i] = int.from_bytes(h[:8], "big")
    return keys


@dataclass(frozen=True)
class Splits:
    train_idx: np.ndarray
    holdout_idx: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]  # indices into train_idx
    description: str = ("stratified 20% holdout by per-row SHA-256 rank, seed 20240601; 5-fold "
                        "stratified CV on the rest")

    def fingerprint(self) -> str:
        """SHA-256 of the holdout index list (detects any change of the frozen split)."""
        return hashlib.sha256(np.sort(self.holdout_idx).astype(np.int64).tobytes()).hexdigest()


def make_splits(y: np.ndarray, X: np.ndarray, *, seed: int = SPLIT_SEED,
                holdout_fraction: float = HOLDOUT_FRACTION, n_folds: int = N_FOLDS) -> Splits:
    keys = _row_digests(X, seed)
    holdout = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        order = idx[np.argsort(keys[idx], kind="stable")]
        holdout.append(order[: int(round(holdout_fraction * len(idx)))])
    holdout_idx = np.sort(np.concatenate(holdout))
    return _with_folds(y, holdout_idx, seed, n_folds,
                       f"stratified {holdout_fraction:.0%} holdout by per-row SHA-256 rank, seed "
                       f"{seed}; {n_folds}-fold stratified CV on the rest")


def _with_folds(y: np.ndarray, holdout_idx: np.ndarray, seed: int, n_folds: int,
                description: str) -> Splits:
    mask = np.ones(len(y), bool)
    mask[holdout_idx] = False
    train_idx = np.flatnonzero(mask)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed % (2**31))
    folds = tuple((tr, va) for tr, va in skf.split(np.zeros(len(train_idx)), y[train_idx]))
    return Splits(train_idx, holdout_idx, folds, description)


def time_splits(y: np.ndarray, t: np.ndarray, *, column: str = "time",
                holdout_fraction: float = HOLDOUT_FRACTION, seed: int = SPLIT_SEED,
                n_folds: int = N_FOLDS, label=str) -> Splits:
    """Out-of-time holdout: the latest rows by ``t`` (about ``holdout_fraction`` of them), cut on
    a time boundary so every holdout row is later than every training row; stratified CV on the
    earlier rows. ``t`` is numeric (day numbers for dates), without NaN; ``label`` formats a
    time for the description."""
    t = np.asarray(t, dtype=float)
    cut = np.sort(t)[min(len(t) - 1, int(round((1 - holdout_fraction) * len(t))))]
    holdout_idx = np.flatnonzero(t >= cut)
    if len(holdout_idx) == len(t):
        raise ValueError(f"'{column}' has one value in all {len(t):,} rows: no row is earlier than "
                         "the cut, so no out-of-time holdout is possible")
    return _with_folds(y, holdout_idx, seed, n_folds,
                       f"out-of-time holdout: the {len(holdout_idx):,} rows with {column} >= "
                       f"{label(cut)} ({len(holdout_idx) / len(t):.0%}), every one later than "
                       f"every training row; {n_folds}-fold stratified CV (seed {seed}) on the "
                       "earlier rows")
