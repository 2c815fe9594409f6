"""Checks of a user's CSV against its feature schema, each failure one line naming the column.

``python -m models train --csv`` runs these before anything is fitted or written, so a bad cell
costs a second, not a training run, and never a half-written bundle. The messages say what was
found, in how many of how many rows, and what to change (the data or the schema).

The rules are those of :func:`models.data.encode_frame` (which drops violating rows for the
registered data sets); a test checks that a frame these checks pass loses no row there.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import parse
from .data import positive_values, target_labels

# Fewest rows of each class that the pipeline can use: a 20% holdout and 5-fold CV (with 5-fold
# calibration inside each fit) need a handful of each class in every part.
MIN_CLASS_ROWS = 30
_EXAMPLES = 3


class DataError(ValueError):
    """The data do not fit the schema or cannot train a model: one line for the user."""

    def __init__(self, column: str | None, message: str):
        self.column = column
        super().__init__(message)


def _examples(values) -> str:
    vals = list(dict.fromkeys(str(v) for v in values))
    shown = ", ".join(repr(v) for v in vals[:_EXAMPLES])
    return shown + (", …" if len(vals) > _EXAMPLES else "")


def _rows(k: int, n: int) -> str:
    return f"{k:,} of {n:,} rows"


def require_columns(schema: Mapping[str, Any], df: pd.DataFrame, what: str = "the data") -> None:
    """The target and every feature and group column are present."""
    need = [("target column", schema["target"])]
    need += [("column", f["name"]) for f in schema["features"]]
    need += [("group column", g["column"]) for g in schema.get("groups", [])]
    for kind, col in need:
        if col not in df.columns:
            raise DataError(col, f"{kind} '{col}' named in the schema is not in {what} "
                                 f"({len(df):,} rows; columns: {_examples(df.columns)})")


def check_target(schema: Mapping[str, Any], df: pd.DataFrame,
                 min_class_rows: int = MIN_CLASS_ROWS) -> np.ndarray:
    """The 0/1 target, after checking it has no empty cells and enough rows of both classes."""
    col = schema["target"]
    if col not in df.columns:
        raise DataError(col, f"target column '{col}' is not in the data ({len(df):,} rows; "
                             f"columns: {_examples(df.columns)})")
    t, n = df[col], len(df)
    empty = ~parse.present(t)
    if empty.any():
        raise DataError(col, f"target column '{col}': {_rows(int(empty.sum()), n)} have no "
                             "value (drop them or give them an outcome)")
    y = target_labels(schema, t).astype(np.int8)
    pos = positive_values(schema)
    seen = t.astype(str).value_counts().index.tolist()
    k = int(y.sum())
    if k in (0, n):
        which = "positive" if k == n else "negative"
        raise DataError(col, f"target column '{col}' has one class: all {n:,} rows are {which} "
                             f"(positive values {_examples(pos)}; values seen: "
                             f"{_examples(seen)})")
    for cls, count in (("positive", k), ("negative", n - k)):
        if count < min_class_rows:
            raise DataError(col, f"target column '{col}': only {_rows(count, n)} are {cls} "
                                 f"(positive values {_examples(pos)}); training needs at least "
                                 f"{min_class_rows} of each class")
    return y


def feature_problem(f: Mapping[str, Any], col: pd.Series) -> tuple[str, np.ndarray] | None:
    """The first problem of one feature column (message, offending rows), or None."""
    name, n = f["name"], len(col)
    if f["type"] == "category":
        # Compared exactly as models.data encodes them: the cell's text, no trimming.
        empty = col.isna().to_numpy()
        cats = {str(c) for c in f["categories"]}
        text = col.astype("string")
        unknown = ~empty & ~text.isin(cats).to_numpy(dtype=bool)
        as_missing = f.get("unknown", "reject") == "missing" and f.get("missing") == "impute"
        if unknown.any() and not as_missing:
            return (f"column '{name}': {_rows(int(unknown.sum()), n)} have categories not in "
                    f"the schema ({_examples(text[unknown])}); add them to its categories or "
                    "set \"unknown\": \"missing\" with \"missing\": \"impute\"", unknown)
    else:
        vals, unreadable = parse.feature_values(f, col)
        empty = np.isnan(vals) & ~unreadable
        if unreadable.any():
            kind = "numbers or percent strings" if f.get("format") == "percent" else "numbers"
            return (f"column '{name}': {_rows(int(unreadable.sum()), n)} are not {kind} "
                    f"(e.g. {_examples(col[unreadable])})", unreadable)
        with np.errstate(invalid="ignore"):
            inf = np.isinf(vals)
            if inf.any():
                return f"column '{name}': {_rows(int(inf.sum()), n)} are infinite", inf
            lo, hi = f.get("min"), f.get("max")
            out = np.zeros(n, bool)
            if lo is not None:
                out |= vals < lo
            if hi is not None:
                out |= vals > hi
            if out.any():
                return (f"column '{name}': {_rows(int(out.sum()), n)} are outside the schema's "
                        f"range [{lo}, {hi}] (seen {np.nanmin(vals[out]):g} to "
                        f"{np.nanmax(vals[out]):g})", out)
            if f["type"] == "int":
                frac = ~np.isnan(vals) & (vals != np.floor(vals))
                if frac.any():
                    return (f"column '{name}': {_rows(int(frac.sum()), n)} are not whole numbers "
                            f"(e.g. {_examples(col[frac])}) but the schema says int", frac)
    if empty.any() and f.get("missing", "reject") == "reject":
        return (f"column '{name}': {_rows(int(empty.sum()), n)} are empty and its missing "
                "policy is 'reject' (set \"missing\": \"impute\" to let the model impute them)",
                empty)
    return None


def check_features(schema: Mapping[str, Any], df: pd.DataFrame) -> dict[str, tuple]:
    """Every feature column's first problem, in schema order (empty when the data are clean)."""
    out = {}
    for f in schema["features"]:
        p = feature_problem(f, df[f["name"]])
        if p is not None:
            out[f["name"]] = p
    return out


def raise_first(problems: Mapping[str, tuple]) -> None:
    """Raise a DataError for the first problem, naming how many other columns have one."""
    if not problems:
        return
    (col, (msg, _)), *rest = problems.items()
    if rest:
        msg += f" (and {len(rest)} more column{'s' if len(rest) > 1 else ''} with problems: " \
               f"{', '.join(c for c, _ in rest)})"
    raise DataError(col, msg)
