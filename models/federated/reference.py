"""What a bundle carries about its training data, computed from the lenders' answers over the
federation (issue 15) instead of pooled rows, in the shapes models.train and models.monitoring give
it. ``ask(phase, request)`` sends a statistics request to every lender and returns their answers
(models.federated.lender documents each phase):

* the reasons' reference row: per feature the median (mode for a category) of the applicants at
  or just above the approval cut-off. Each lender scores its own rows with the final model and
  summarises those within the band; the band widens (20, 40, 80 ... points) until the lenders
  together hold ``CUTOFF_MIN_ROWS`` (pooled, the nearest rows are taken instead: a band is what
  lenders can agree on without showing rows);
* the elderly rule's age grid, from the youngest and oldest applicant in the lenders' sketches;
* the monitoring reference: decile edges of the served score and of every numeric feature read
  off the lenders' sketches of their share of the reference rows, then the expected share of
  each bucket from the lenders' bucket counts.
"""
from __future__ import annotations

import numpy as np

from .. import monitoring
from ..serving import SCORE_MAX, score_from_pd
from ..train import CUTOFF_BAND_POINTS, CUTOFF_MIN_ROWS
from .lender import MIN_SUMMARY_ROWS
from .stats import mixture_quantiles


def _as_sketch(c: dict) -> dict:
    return {"n": c["n"], "values": np.asarray(c["values"], dtype=np.float64)}


def _typical(schema: dict, answers: list[dict]) -> list:
    """Median (mode for categories; None if nothing observed) over the lenders' summaries (a
    lender with too few applicants in the band sends none)."""
    answers = [a for a in answers if a["columns"] is not None]
    out = []
    for j, f in enumerate(schema["features"]):
        if f["type"] == "category":
            counts = sum(np.asarray(a["columns"][j]["counts"]) for a in answers)
            out.append(float(np.argmax(counts)) if np.sum(counts) else None)
        else:
            med = mixture_quantiles([_as_sketch(a["columns"][j]) for a in answers], [0.5])[0]
            out.append(None if np.isnan(med) else float(np.float32(med)))
    return out


def cutoff_reference(schema: dict, ask, model: dict, cutoff_bps: int) -> tuple[list, dict]:
    """``model``: the final model as the lenders score with it (models.federated.export)."""
    cut = score_from_pd(cutoff_bps)
    band = CUTOFF_BAND_POINTS
    while True:
        answers = list(ask(f"cutoff_band/{band}", {"model": model, "cut": cut,
                                                   "band": band}).values())
        n = sum(a["rows"] for a in answers if a["columns"] is not None)
        approved = sum(a["approved"] for a in answers)
        if n >= min(CUTOFF_MIN_ROWS, approved) or cut + band >= SCORE_MAX:
            break  # enough rows, or the band holds every approved applicant already
        band *= 2
    if not approved:
        raise ValueError(f"no applicant of any lender is approved at {cutoff_bps} bps")
    if not n:
        raise ValueError(f"no lender has {MIN_SUMMARY_ROWS} approved applicants to summarise")
    return _typical(schema, answers), {
        "kind": "median (mode for categories) of the applicants at or just above the approval "
                "cut-off, merged from the lenders' statistics", "cutoff_pd_bps": cutoff_bps,
        "cutoff_score": cut, "band_points": band, "rows": int(n),
        "rows_per_lender": [int(a["rows"]) if a["columns"] is not None else 0
                            for a in answers]}


def elderly_rule(schema: dict, prep, sketches: list[dict]) -> dict | None:
    """``sketches``: the lenders' answers to the first statistics round (their sketches span
    each numeric column from its minimum to its maximum)."""
    ages = [(j, f) for j, f in enumerate(schema["features"]) if "elderly_from" in f]
    if not ages:
        return None
    j, f = ages[0]
    pos = list(prep.numeric_idx).index(j)
    cols = [s["sketch"]["columns"][pos] for s in sketches if s["sketch"]["columns"][pos]["n"]]
    lo = min(c["values"][0] for c in cols)
    hi = max(c["values"][-1] for c in cols)
    return {"feature": f["name"], "from": f["elderly_from"],
            "grid": [float(a) for a in range(int(lo), int(hi) + 1)]}


def _numeric_spec(sketches: list[dict]) -> dict:
    edges = mixture_quantiles([_as_sketch(c) for c in sketches],
                              np.linspace(0, 1, monitoring.N_BINS + 1)[1:-1])
    edges = np.unique(edges[~np.isnan(edges)])
    return {"kind": "numeric", "edges": [float(e) for e in edges]}


def _shares(counts: list) -> list[float]:
    total = sum(np.asarray(c) for c in counts)
    return (total / max(1, total.sum())).tolist()


def monitoring_reference(schema: dict, ask, bundle_files: dict, total_rows: int) -> dict:
    """``bundle_files``: the bundle as served (file name -> hex bytes) for the lenders to score
    with; each lender scores its share (by size) of ``monitoring.REFERENCE_ROWS`` rows."""
    req = {"bundle": bundle_files, "reference_rows": monitoring.REFERENCE_ROWS,
           "total_rows": total_rows}
    sample = list(ask("monitoring_sample", req).values())
    specs = {"score": _numeric_spec([a["score"] for a in sample]), "features": {}}
    for j, f in enumerate(schema["features"]):
        specs["features"][f["name"]] = (
            monitoring._category(len(f["categories"])) if f["type"] == "category"
            else _numeric_spec([a["features"][j] for a in sample]))
    counts = list(ask("monitoring_counts", {**req, "specs": specs}).values())
    out = {"rows": int(sum(a["rows"] for a in sample)), "bins": monitoring.N_BINS,
           "warn": monitoring.PSI_WARN, "alert": monitoring.PSI_ALERT,
           "score": {**specs["score"], "expected": _shares([c["score"] for c in counts])},
           "features": {},
           "computed_from": "the lenders' statistics (models.federated.reference)"}
    for f in schema["features"]:
        out["features"][f["name"]] = {**specs["features"][f["name"]], "expected": _shares(
            [c["features"][f["name"]] for c in counts])}
    return out
