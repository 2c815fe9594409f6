"""A feature-schema draft from a CSV (``python -m models schema infer``), for a person to review.

The draft has the format :mod:`models.schema` reads (``models/schemas/*.json``): ordered
``features`` with type, range or categories and missing policy, the ``target`` and its
``positive`` value(s), ``groups``. What inference cannot know is said under ``review``:

* columns left out of the features and why: identifiers, constants, free text, dates (the
  application date is the natural ``--time-column``), protected attributes (kept as group columns
  for the fairness metrics, never as features), and leakage suspects (:mod:`models.leakage`);
* per column, what was seen (rows, missing cells, range, distinct values).

Rules, chosen so the draft trains as is and a reviewer only has to tighten it:

* numbers: ``int`` if every value is whole, else ``float``; ``min`` 0 when nothing negative was
  seen (a count or an amount), else the smallest value seen rounded down; ``max`` the largest value seen;
  ``scale: log`` when non-negative and heavy-tailed (p99 above 20 x the median);
* percent strings (``"12.5%"``): ``float`` with ``"format": "percent"`` (the value is 12.5);
* text with at most :data:`MAX_CATEGORIES` values: ``category`` (sorted), unknown values rejected;
* ``missing``: ``impute`` if the column has empty cells, else ``reject``.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import leakage, parse
from .datacheck import DataError, check_target
from .schema import check_schema

MAX_CATEGORIES = 50
LOG_TAIL_RATIO = 20.0
# Attributes a lender may not score on (US ECOA / Regulation B): group columns, not features.
PROTECTED = ("sex", "gender", "race", "ethnic", "ethnicity", "religion", "marital",
             "nationalorigin", "national", "nationality", "citizenship", "foreign", "colour",
             "color", "disability")
AGE_BINS = [18, 25, 35, 45, 55, 65, 121]
AGE_LABELS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
            if t]


def _protected(name: str) -> bool:
    joined = "".join(_tokens(name))
    return any(t in PROTECTED for t in _tokens(name)) or "nationalorigin" in joined


ELDERLY_FROM = 62


def _is_age(name: str) -> bool:
    return "age" in _tokens(name)


def _is_identifier(name: str, col: pd.Series) -> bool:
    vals = col.dropna()
    if vals.empty or vals.nunique() != len(col):
        return False
    toks = _tokens(name)
    named = bool(toks) and (toks[-1] in ("id", "key", "index", "uuid") or name.lower() == "no")
    whole = pd.api.types.is_integer_dtype(col)
    return named or (whole and vals.is_monotonic_increasing) or not \
        pd.api.types.is_numeric_dtype(col)


def _positive(values: list[str], t: pd.Series):
    """The CLI's positive values typed like the target column (1 for a numeric target)."""
    out = []
    for v in values:
        if pd.api.types.is_numeric_dtype(t):
            try:
                x = float(v)
            except ValueError:
                raise DataError(t.name, f"--positive {v!r} is not a number but target column "
                                        f"'{t.name}' is numeric") from None
            out.append(int(x) if x == int(x) else x)
        else:
            out.append(v)
    return out[0] if len(out) == 1 else out


def _number(x: float, whole: bool):
    return int(x) if whole else float(x)


def _numeric_feature(name: str, vals: np.ndarray, whole: bool, percent: bool) -> dict:
    v = vals[~np.isnan(vals)]
    lo, hi = float(v.min()), float(v.max())
    f = {"name": name, "type": "int" if whole else "float",
         "min": 0 if lo >= 0 else _number(np.floor(lo), whole), "max": _number(hi, whole),
         "missing": "impute" if np.isnan(vals).any() else "reject"}
    if percent:
        f["format"] = "percent"
    med, p99 = np.median(v), np.quantile(v, 0.99)
    if lo >= 0 and p99 > LOG_TAIL_RATIO * max(med, 1e-12) and p99 > 0:
        f["scale"] = "log"
    return f


def infer(df: pd.DataFrame, target: str, positive: list[str], *, name: str,
          source: str = "data.csv") -> tuple[dict, list[str]]:
    """The schema draft and the warnings to print (leakage suspects first)."""
    if target not in df.columns:
        raise DataError(target, f"target column '{target}' is not in {source} ({len(df):,} "
                                f"rows; columns: {', '.join(map(str, df.columns[:8]))}"
                                f"{', …' if len(df.columns) > 8 else ''})")
    t = df[target]
    pos = _positive(positive, t)
    schema = {"name": name, "version": 1, "target": target, "positive": pos}
    y = check_target(schema, df).astype(np.int8)
    n = len(df)
    features, groups, excluded, seen = [], [], {}, {}
    numeric, text, date_days, date_formats = {}, {}, {}, {}
    for col in df.columns:
        if col == target:
            continue
        c = df[col]
        filled = parse.present(c)
        info = {"rows": n, "empty": int((~filled).sum())}
        seen[col] = info
        if not filled.any():
            excluded[col] = "empty in every row"
            continue
        if c[filled].astype(str).nunique() == 1:
            excluded[col] = "one value in every non-empty row (constant)"
            continue
        fmt = parse.date_format(c)
        if fmt:  # before the identifier rule: a date may differ in every row
            parsed, _ = parse.dates(c, fmt)
            date_days[col], date_formats[col] = parse.day_numbers(parsed), fmt
            info.update(kind="date", format=fmt, first=str(parsed.min().date()),
                        last=str(parsed.max().date()))
            continue
        if _is_identifier(col, c):
            excluded[col] = "a distinct value in every row: an identifier, not a feature"
            continue
        percent = parse.looks_like_percent(c)
        vals, bad = parse.percents(c) if percent else parse.numbers(c)
        if pd.api.types.is_bool_dtype(c) or bad.any():
            distinct = c[filled].astype(str).nunique()
            info.update(kind="text", distinct=int(distinct))
            if distinct > MAX_CATEGORIES:
                excluded[col] = (f"text with {distinct} distinct values (more than "
                                 f"{MAX_CATEGORIES}): free text or an identifier")
                continue
            text[col] = c
            if _protected(col):
                groups.append({"name": col, "column": col})
                excluded[col] = "a protected attribute: a group column for fairness metrics only"
                continue
            cats = sorted(c[filled].astype("string").unique().tolist())
            features.append({"name": col, "type": "category", "categories": cats,
                             "missing": "impute" if (~filled).any() else "reject",
                             "unknown": "reject"})
            continue
        v = vals[~np.isnan(vals)]
        whole = bool(np.all(v == np.floor(v))) and not percent
        info.update(kind="percent" if percent else "number", min=float(v.min()),
                    max=float(v.max()), distinct=int(len(np.unique(v))))
        numeric[col] = vals
        if _protected(col):
            groups.append({"name": col, "column": col})
            excluded[col] = "a protected attribute: a group column for fairness metrics only"
            continue
        features.append(_numeric_feature(col, vals, whole, percent))
        if _is_age(col):
            groups.append({"name": f"{col}_band", "column": col, "bins": AGE_BINS,
                           "labels": AGE_LABELS})
            if whole and not any("elderly_from" in f for f in features[:-1]):
                # Regulation B's elderly rule, built into serving (models/README.md)
                features[-1]["elderly_from"] = ELDERLY_FROM
    suspects = leakage.flags(numeric, text, date_days, y)
    for col, why in suspects.items():
        excluded[col] = "leakage suspect: " + "; ".join(why)
    features = [f for f in features if f["name"] not in suspects]
    groups = [g for g in groups if g["column"] not in suspects]
    if not features:
        raise DataError(None, f"no usable feature column in {source}: "
                              + "; ".join(f"{c}: {w}" for c, w in excluded.items()))
    app = leakage.application_date({c: d for c, d in date_days.items() if c not in suspects})
    schema.update(
        description=f"Draft inferred from {source} ({n:,} rows) by `python -m models schema "
                    "infer`: review every feature's type, range, categories and missing policy "
                    "and the notes under 'review' before training.",
        source={"path": source, "read_csv": {}},
        features=features, groups=groups,
        dates={c: {"format": f} for c, f in date_formats.items()},
        review={"status": "draft: not reviewed",
                "fair_lending": ("declare each feature's known direction as \"monotone\": "
                                 "\"increasing\" (the PD may only rise with it: past-due counts, "
                                 "utilisation) or \"decreasing\" (income, limits, amounts repaid), "
                                 "and its adverse-action texts under \"reasons\"; an age column "
                                 "carries elderly_from (62) so age never counts against an elderly "
                                 "applicant (models/README.md, Adverse-action reasons)"),
                "time_column_suggestion": app,
                "leakage_suspects": suspects,
                "excluded": excluded,
                "columns": seen})
    check_schema(schema)
    warnings = [f"leakage suspect: {c}: {'; '.join(w)}" for c, w in suspects.items()]
    warnings += [f"excluded: {c}: {w}" for c, w in excluded.items() if c not in suspects]
    return schema, warnings


def schema_name(path: str | Path) -> str:
    """A schema name from a file name: lower case letters, digits, '-' and '_'."""
    stem = re.sub(r"[^a-z0-9_-]+", "-", Path(path).stem.lower()).strip("-")
    return stem or "data"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
