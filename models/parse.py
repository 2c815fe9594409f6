"""Reading raw CSV cells: numbers, percent strings and dates.

A user's CSV holds what a spreadsheet exports: ``"12.5%"`` for a rate, ``"2019-03-01"`` or
``"Mar-2019"`` for a date. The feature schema is the contract with the oracle, which validates
numbers only, so text forms are turned into numbers *when the CSV is read* and a feature records how
(``"format": "percent"``: ``"12.5%"`` is 12.5, the number a client sends at serving time).

Every parser returns ``(values, unparseable)``: the parsed values (NaN / NaT where the cell is
empty or unparseable) and a mask of non-empty cells that could not be read, so a caller can name
the column and count the rows instead of silently treating bad cells as missing.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

_PERCENT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*%\s*$")
# Formats tried in order; dd/mm and mm/dd both listed because only the data can tell them apart
# (a format is chosen only if it reads every non-empty cell; see :func:`date_format`).
DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d/%m/%Y",
                "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%b-%Y", "%b-%y", "%Y-%m", "%d-%b-%Y",
                "%d %b %Y", "%b %d, %Y")
# Number of sample cells a format must read before it is tried on the whole column.
_SAMPLE = 200


def present(col: pd.Series) -> np.ndarray:
    """Cells that hold something: not NaN/None and not blank text."""
    s = col.astype("string")
    return (~col.isna() & (s.str.strip() != "")).to_numpy(dtype=bool)


def numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Plain numbers; a non-empty cell that is not one is unparseable."""
    vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return vals, present(col) & np.isnan(vals)


def percents(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``"12.5%"`` -> 12.5 (percentage points). Bare numbers are accepted as already in percent:
    an export may drop the sign on some rows, and 12.5 means the same as "12.5%" here."""
    if pd.api.types.is_numeric_dtype(col):
        return numbers(col)
    s = col.astype("string").str.strip()
    stripped = s.str.replace(r"\s*%$", "", regex=True)
    vals = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=float)
    return vals, present(col) & np.isnan(vals)


def looks_like_percent(col: pd.Series) -> bool:
    """True when every non-empty cell reads as a percent string and at least one has the sign."""
    if pd.api.types.is_numeric_dtype(col):
        return False
    s = col[present(col)].astype("string").str.strip()
    if s.empty or not s.str.endswith("%").any():
        return False
    return bool(s.map(lambda v: bool(_PERCENT.match(v)) or _is_number(v)).all())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def dates(col: pd.Series, fmt: str) -> tuple[pd.Series, np.ndarray]:
    """Dates in an explicit ``strptime`` format (explicit, so 03/04 never means two things)."""
    parsed = pd.to_datetime(col.astype("string").str.strip(), format=fmt, errors="coerce")
    return parsed, present(col) & parsed.isna().to_numpy()


def date_format(col: pd.Series) -> str | None:
    """The first of :data:`DATE_FORMATS` that reads every non-empty cell, or None.

    Numeric columns are never dates (a year or a yyyymmdd integer stays a number unless the user
    says otherwise), nor are columns that are all numbers as text.
    """
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return None
    s = col[present(col)].astype("string").str.strip()
    if s.empty or s.map(_is_number).all():
        return None
    head = s.iloc[:_SAMPLE]
    for fmt in DATE_FORMATS:
        if pd.to_datetime(head, format=fmt, errors="coerce").notna().all() and \
                pd.to_datetime(s, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def day_numbers(parsed: pd.Series) -> np.ndarray:
    """Dates as float days since 1970-01-01 (NaN for NaT), for ordering and comparisons."""
    ns = parsed.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    ns[parsed.isna().to_numpy()] = np.nan
    return ns / 86_400e9


def feature_values(feature: dict, col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Numeric values of a raw column for a numeric feature, honouring its ``format``."""
    if feature.get("format") == "percent":
        return percents(col)
    return numbers(col)
