"""Fair-lending gates every exported bundle must pass before it may be served (issue 13).

Measured through :mod:`models.serving` on the bundle as it will be served (ONNX, reference row,
elderly rule, reason table), on holdout rows:

* ``ice_monotonicity_violations``: per feature the schema declares ``monotone``, rows whose
  individual-conditional-expectation curve (the served PD as the feature runs over its training
  deciles, everything else fixed) moves against the declared direction by more than 1e-6. Gate: 0.
* ``elderly_rule_violations``: applicants at or over ``elderly_from`` who get age as a reason, or
  whose served PD is above the lowest PD any whole age of the grid gives them. Gate: 0.
* ``declined_without_reason``: applicants over the approval cut-off with no reason code. Gate: 0.
* ``reason_stability``: per float feature, the share of rows whose top reason changes when that
  feature moves by ±2 % (recorded; gate: at most ``MAX_TOP_REASON_FLIP``).

The results go into ``reference.json`` (so the bundle id covers them) and
:func:`models.serving.bundle_from_files` refuses a bundle whose gates did not pass.
"""
from __future__ import annotations

import numpy as np

from . import serving as S

ICE_ROWS, ICE_GRID = 200, 10
ELDERLY_ROWS = 300
DECLINE_ROWS = 3000
STABILITY_ROWS, STABILITY_STEP = 500, 0.02
TOL = 1e-6
MAX_TOP_REASON_FLIP = 0.05


def _sample(n_total: int, n: int) -> np.ndarray:
    """Evenly spaced row positions (deterministic)."""
    return np.unique(np.linspace(0, n_total - 1, num=min(n, n_total)).astype(int))


def ice_violations(bundle: S.ModelBundle, X: np.ndarray) -> dict[str, int]:
    return ice_violations_of(lambda Z: np.array([S.served_pd(bundle, z) for z in Z]),
                             bundle.schema, X)


def ice_violations_of(predict, schema: dict, X: np.ndarray) -> dict[str, int]:
    """ICE violations of any PD function (``predict``: rows -> PDs), e.g. a model not exported
    yet (models.seed_table asks whether a family could pass the gate at all)."""
    out = {}
    rows = X[_sample(len(X), ICE_ROWS)]
    for j, f in enumerate(schema["features"]):
        sign = {"increasing": 1.0, "decreasing": -1.0}.get(f.get("monotone"))
        if sign is None:
            continue
        col = X[:, j][~np.isnan(X[:, j])]
        grid = np.unique(np.quantile(col, np.linspace(0, 1, ICE_GRID)).astype(np.float32))
        Z = np.repeat(rows, len(grid), axis=0)
        Z[:, j] = np.tile(grid, len(rows))
        curves = np.asarray(predict(Z), dtype=float).reshape(len(rows), len(grid))
        out[f["name"]] = int((sign * np.diff(curves, axis=1) < -TOL).any(axis=1).sum())
    return out


def elderly_violations(bundle: S.ModelBundle, X: np.ndarray) -> dict:
    rule = bundle.elderly
    if rule is None:
        return {"applicable": False, "rows": 0, "violations": 0}
    old = X[(~np.isnan(X[:, rule.index])) & (X[:, rule.index] >= rule.start)]
    old = old[_sample(len(old), ELDERLY_ROWS)] if len(old) else old
    age_codes = {bundle.high_codes[rule.index], bundle.low_codes[rule.index]} - {0}
    bad = changed = 0
    lowered = []
    for x in old:
        codes = set(S.reason_codes(bundle, x))
        batch = np.repeat(x.reshape(1, -1), len(rule.grid), axis=0)
        batch[:, rule.index] = rule.grid
        best = float(S.predict_pd(bundle, batch).min())
        served, own = S.served_pd(bundle, x), float(S.predict_pd(bundle, x)[0])
        if codes & age_codes or served > best + TOL:
            bad += 1
        if served < own - TOL:
            changed += 1
            lowered.append(own - served)
    return {"applicable": True, "from": rule.start, "rows": int(len(old)), "violations": bad,
            "pd_lowered_rows": changed,
            "pd_lowered_mean": round(float(np.mean(lowered)), 6) if lowered else 0.0}


def declined_without_reason(bundle: S.ModelBundle, X: np.ndarray, cutoff_bps: int) -> dict:
    rows = X[_sample(len(X), DECLINE_ROWS)]
    declined = bad = 0
    for x in rows:
        if S.pd_to_bps(S.served_pd(bundle, x)) > cutoff_bps:
            declined += 1
            if not any(S.reason_codes(bundle, x)):
                bad += 1
    return {"cutoff_pd_bps": cutoff_bps, "rows": int(len(rows)), "declined": declined,
            "without_reason": bad}


def reason_stability(bundle: S.ModelBundle, X: np.ndarray) -> dict[str, float]:
    rows = X[_sample(len(X), STABILITY_ROWS)]
    base = [S.reason_codes(bundle, x)[0] for x in rows]
    out = {}
    for j, f in enumerate(bundle.schema["features"]):
        if f["type"] != "float":
            continue
        flips = 0
        for x, b in zip(rows, base):
            if np.isnan(x[j]) or x[j] == 0:
                continue
            for step in (1 - STABILITY_STEP, 1 + STABILITY_STEP):
                z = x.copy()
                z[j] = np.float32(x[j] * step)
                if S.reason_codes(bundle, z)[0] != b:
                    flips += 1
                    break
        out[f["name"]] = round(flips / len(rows), 4)
    return out


def run(bundle: S.ModelBundle, X_holdout: np.ndarray, cutoff_bps: int) -> dict:
    """Every gate on (a deterministic sample of) the holdout; ``passed`` iff all hold."""
    X = np.asarray(X_holdout, dtype=np.float32)
    ice = ice_violations(bundle, X)
    elderly = elderly_violations(bundle, X)
    declined = declined_without_reason(bundle, X, cutoff_bps)
    stability = reason_stability(bundle, X)
    failures = [f"ICE monotonicity: {n} rows against the declared direction of {k}"
                for k, n in ice.items() if n]
    if elderly["violations"]:
        failures.append(f"elderly rule: {elderly['violations']} of {elderly['rows']} rows")
    if declined["without_reason"]:
        failures.append(f"{declined['without_reason']} declined applicants without a reason")
    failures += [f"reason stability: top reason of {share:.1%} of rows flips when {k} moves 2 %"
                 for k, share in stability.items() if share > MAX_TOP_REASON_FLIP]
    return {"ice_monotonicity_violations": ice, "elderly_rule": elderly,
            "declined_without_reason": declined, "top_reason_flip_at_2pct": stability,
            "max_top_reason_flip": MAX_TOP_REASON_FLIP, "failures": failures,
            "passed": not failures}
