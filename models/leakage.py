"""Columns that look like post-outcome leakage: known only after the loan went bad (or didn't).

A column recorded after the outcome (a recovery amount, a charge-off date, a collection flag) makes
a model look excellent in validation and useless at application time. Three signals, each with its
reason written out for the reviewer:

* the name says so (charged off, recovery, collection, paid off, settlement, write-off, ...);
* the column alone nearly separates the classes (single-feature AUC >= :data:`AUC_SUSPECT`;
  missing cells count as their own value, because "empty unless it defaulted" is the classic
  leak);
* a date later than the application date in most rows (or a date column named as an outcome
  date), i.e. recorded after the decision the model is meant to make.

Pure functions over a pandas frame; the caller decides what to do with the flags (the schema
draft leaves flagged columns out of the features and lists them for review).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from . import metrics as M

# Single-feature AUC (either direction) at or above which a column is a leakage suspect. Real
# application-time features rarely pass 0.85 alone (GMSC's best, revolving utilisation, is ~0.78).
AUC_SUSPECT = 0.95
# Share of rows in which a date must fall after the application date to be flagged.
LATE_DATE_SHARE = 0.5
# Name fragments of post-outcome fields (normalised: lower case, separators removed), as found in
# loan-book exports (e.g. Lending Club's recoveries, collection_recovery_fee, last_pymnt_d).
LEAKY_NAMES = ("chargedoff", "chargeoff", "recover", "collection", "paidoff", "payoff",
               "settlement", "settled", "writeoff", "writtenoff", "lastpymnt", "lastpayment",
               "totalrec", "outprncp", "defaultdate", "delinquencydate", "outcome", "closedate",
               "bankruptcyfiled", "workout", "hardship")
APPLICATION_DATE_NAMES = ("application", "applied", "issue", "origination", "orig", "open",
                          "booking", "start", "asof", "snapshot", "decision")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def name_flag(name: str) -> str | None:
    """The leaky name fragment ``name`` contains, if any."""
    n = _norm(name)
    return next((frag for frag in LEAKY_NAMES if frag in n), None)


def single_feature_auc(values: np.ndarray, y: np.ndarray) -> float:
    """max(AUC, 1 - AUC) of one numeric column as a score; missing cells rank below all values
    (so a column that is empty for one class separates it)."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    low = (finite.min() - 1.0) if finite.size else 0.0
    v = np.where(np.isfinite(v), v, low)
    if len(np.unique(y)) < 2:
        return float("nan")
    a = M.auc(y, v)
    return float(max(a, 1.0 - a))


def category_auc(col: pd.Series, y: np.ndarray, seed: int = 0) -> float:
    """Single-feature AUC of a text column through its default rate per value, cross-fitted over
    two halves so a column of unique values (an id) cannot score by memorising rows."""
    s = col.astype("string").fillna("<missing>").to_numpy()
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(s)) % 2 == 0
    score = np.empty(len(s))
    base = float(np.mean(y))
    for fit, apply in ((half, ~half), (~half, half)):
        rates = pd.Series(y[fit]).groupby(s[fit]).mean()
        score[apply] = pd.Series(s[apply]).map(rates).fillna(base).to_numpy()
    return single_feature_auc(score, y)


def application_date(date_days: dict[str, np.ndarray]) -> str | None:
    """The date column that marks the application: named like one, else the earliest median."""
    if not date_days:
        return None
    named = [c for c in date_days if any(k in _norm(c) for k in APPLICATION_DATE_NAMES)
             and not name_flag(c)]
    if named:
        return named[0]
    return min(date_days, key=lambda c: np.nanmedian(date_days[c]))


def late_dates(date_days: dict[str, np.ndarray], app: str | None) -> dict[str, str]:
    """Date columns that fall after the application date in most rows where both are known."""
    out = {}
    if app is None:
        return out
    a = date_days[app]
    for c, d in date_days.items():
        if c == app:
            continue
        both = ~np.isnan(a) & ~np.isnan(d)
        if both.sum() and np.mean(d[both] > a[both]) >= LATE_DATE_SHARE:
            out[c] = (f"dated after {app} in {int((d[both] > a[both]).sum())} of "
                      f"{int(both.sum())} rows: recorded after the application, possibly after "
                      "the outcome")
    return out


def flags(numeric: dict[str, np.ndarray], text: dict[str, pd.Series],
          date_days: dict[str, np.ndarray], y: np.ndarray) -> dict[str, list[str]]:
    """Reasons per suspected column (columns without a reason are absent).

    ``numeric``: parsed numeric columns (percent strings already numbers); ``text``: raw columns
    treated as categories; ``date_days``: date columns as day numbers; ``y``: 0/1 target.
    """
    out: dict[str, list[str]] = {}

    def add(col, why):
        out.setdefault(col, []).append(why)

    for col in [*numeric, *text, *date_days]:
        frag = name_flag(col)
        if frag:
            add(col, f"name contains '{frag}', a field usually known only after the outcome")
    scored = [(c, single_feature_auc(v, y)) for c, v in {**numeric, **date_days}.items()]
    scored += [(c, category_auc(s, y)) for c, s in text.items()]
    for col, auc in scored:
        if auc >= AUC_SUSPECT:
            add(col, f"alone it separates the target almost perfectly (single-feature AUC "
                     f"{auc:.3f} >= {AUC_SUSPECT})")
    for col, why in late_dates(date_days, application_date(date_days)).items():
        add(col, why)
    return out
