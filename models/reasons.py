"""Adverse-action reason codes and texts, generated from a feature schema.

A reason says what and which way ("Too many payments 90+ days late", "Income too low"), as
Regulation B's principal reasons must. Each feature gets codes by the direction that counts
against the applicant, which serving reads off the row (:func:`models.serving.reason_codes`: the
value above or below the reference it is compared with):

* ``high`` = *i* + 1 and ``low`` = 50 + *i* + 1 for feature *i* (0-based); a feature declared
  ``"monotone": "increasing"`` has only ``high`` (a low value can never count against anyone),
  ``"decreasing"`` only ``low``;
* a category feature one code, *i* + 1 (``category``: the applicant's category);
* an imputed feature a condition code 100 + *i* (``missing``: not reported).

Code 0 is "no reason". Codes fit a byte (the packed uint32 of four on chain), so a schema has at
most 49 features. Texts come from the feature's ``reasons`` in the schema, else from its
``label`` (or description, or name) with a default wording. ``python -m models reason-codes``
regenerates ``models/reason_codes.json`` (the published table for the committed schemas); a test
checks it is up to date.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .schema import load_schema

MAX_FEATURES = 49
LOW_OFFSET = 50
MISSING_OFFSET = 100
TABLE_FILE = Path(__file__).resolve().parent / "reason_codes.json"
PUBLISHED_SCHEMAS = ("gmsc", "taiwan", "german")
NONE_TEXT = "No adverse factor"


def _label(f: Mapping[str, Any]) -> str:
    return f.get("label") or f.get("description") or f["name"]


def default_text(f: Mapping[str, Any], kind: str) -> str:
    label = _label(f)
    return {"high": f"{label}: too high", "low": f"{label}: too low",
            "missing": f"{label}: not reported",
            "category": f"{label}: a category with a higher default rate"}[kind]


def adverse_directions(f: Mapping[str, Any]) -> tuple[str, ...]:
    """The directions in which the feature's value can count against an applicant."""
    if f["type"] == "category":
        return ("category",)
    return {"increasing": ("high",), "decreasing": ("low",)}.get(f.get("monotone"), ("high", "low"))


def reason_table(schema: Mapping[str, Any]) -> dict:
    """{"high"|"low"|"category"|"missing": {feature: code}, "text": {code: text}} for a schema."""
    feats = schema["features"]
    if len(feats) > MAX_FEATURES:
        raise ValueError(f"{len(feats)} features: reason codes name at most {MAX_FEATURES} "
                         f"(one byte each: 1..49 too high, 51..99 too low, 100..149 not reported)")
    out: dict[str, dict] = {"high": {}, "low": {}, "category": {}, "missing": {}, "text": {}}
    for i, f in enumerate(feats):
        codes = {"high": i + 1, "low": LOW_OFFSET + i + 1, "category": i + 1}
        kinds = list(adverse_directions(f))
        if f.get("missing") == "impute":
            kinds.append("missing")
            codes["missing"] = MISSING_OFFSET + i
        for kind in kinds:
            out[kind][f["name"]] = codes[kind]
            out["text"][str(codes[kind])] = f.get("reasons", {}).get(kind) or default_text(f, kind)
    return out


def published_table() -> dict:
    """The document written to models/reason_codes.json: every committed schema's table."""
    return {"version": 2,
            "description": ("Adverse-action reason codes per feature schema (models/reasons.py). "
                            "A score carries up to four codes, most important first, packed "
                            "big-endian into a uint32 (c0<<24|c1<<16|c2<<8|c3); 0 = none. Codes "
                            "1..49: the feature's value is too high; 51..99: too low; a category "
                            "feature's code: its category; 100..149: not reported. A reason is a "
                            "feature whose value raises this applicant's PD most against the "
                            "applicants at or just above the approval cut-off (a scorecard: its "
                            "points furthest below the maximum); see models/README.md."),
            "none": {"code": 0, "text": NONE_TEXT},
            "schemas": {name: reason_table(load_schema(name)) for name in PUBLISHED_SCHEMAS}}


def write_published_table(path: Path = TABLE_FILE) -> Path:
    path.write_text(json.dumps(published_table(), indent=1) + "\n")
    return path


def texts(schema_name: str) -> dict[int, str]:
    """Code -> text from the published table (code 0 included)."""
    doc = json.loads(TABLE_FILE.read_text())
    table = doc["schemas"][schema_name]
    return {0: doc["none"]["text"], **{int(c): t for c, t in table["text"].items()}}
