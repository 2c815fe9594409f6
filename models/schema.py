"""Feature schemas: the contract between the models and the oracle.

A schema is a JSON document (see ``models/schemas/*.json``) listing, in order, the features a model
takes. The oracle validates every request against it with :func:`validate_row`, which returns the
float32 vector the ONNX model expects (input ``features``, shape ``[None, n]``, schema order).

Encoding rules (the same in training and serving):

* ``float`` / ``int`` features are passed through as float32; ``int`` values must be integral.
* ``category`` features are encoded as the index of the value in the schema's ``categories`` list
  (0-based), so the model never sees strings.
* A missing value (key absent or ``None``) becomes NaN when the feature's ``missing`` policy is
  ``"impute"`` (the exported pipeline imputes it) and is an error when the policy is ``"reject"``.
* NaN, +/-inf, booleans, strings for numeric features, values outside ``[min, max]``, categories
  not in the list (unless ``unknown`` is ``"missing"``) and unexpected keys are errors.

Everything here is pure: no I/O except :func:`load_schema`.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
FEATURE_TYPES = ("float", "int", "category")
MISSING_POLICIES = ("reject", "impute")
NUMBER_FORMATS = (None, "percent")
# "increasing": the PD may only rise with the value (e.g. times 90 days late); "decreasing": only
# fall (e.g. income). Models are constrained to it and gated on it (models.gates).
MONOTONE = (None, "increasing", "decreasing")
# Adverse-action texts a feature may declare: its value too high, too low, not reported, or (a
# category) its category. Defaults in models.reasons.
REASON_KINDS = ("high", "low", "missing", "category")


class FeatureValidationError(ValueError):
    """An input row does not satisfy the feature schema. ``feature`` names the offending field."""

    def __init__(self, feature: str | None, reason: str):
        self.feature = feature
        self.reason = reason
        super().__init__(f"{feature}: {reason}" if feature else reason)


class SchemaError(ValueError):
    """The schema document itself is malformed."""


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, NaN forbidden."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def schema_hash(schema: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the schema's canonical JSON. Any change to the contract changes it."""
    return hashlib.sha256(canonical_json(dict(schema))).hexdigest()


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaError` if the schema document is not well formed."""
    feats = schema.get("features")
    if not isinstance(feats, list) or not feats:
        raise SchemaError("schema needs a non-empty 'features' list")
    if "target" not in schema:
        raise SchemaError("schema needs a 'target'")
    seen = set()
    for f in feats:
        name = f.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"feature without a name: {f!r}")
        if name in seen:
            raise SchemaError(f"duplicate feature {name}")
        seen.add(name)
        if f.get("type") not in FEATURE_TYPES:
            raise SchemaError(f"{name}: type must be one of {FEATURE_TYPES}")
        if f.get("missing", "reject") not in MISSING_POLICIES:
            raise SchemaError(f"{name}: missing must be one of {MISSING_POLICIES}")
        if f["type"] == "category":
            cats = f.get("categories")
            if not isinstance(cats, list) or not cats or len(set(map(str, cats))) != len(cats):
                raise SchemaError(f"{name}: category feature needs a list of distinct categories")
            if f.get("unknown", "reject") not in ("reject", "missing"):
                raise SchemaError(f"{name}: unknown must be 'reject' or 'missing'")
        else:
            lo, hi = f.get("min"), f.get("max")
            if lo is not None and hi is not None and lo > hi:
                raise SchemaError(f"{name}: min > max")
            # How a CSV writes the number (models.parse); serving always takes the number itself.
            if f.get("format") not in NUMBER_FORMATS:
                raise SchemaError(f"{name}: format must be one of {NUMBER_FORMATS[1:]} or absent")
        if f.get("monotone") not in MONOTONE:
            raise SchemaError(f"{name}: monotone must be one of {MONOTONE[1:]} or absent")
        if f.get("scale") not in (None, "log") or (f.get("scale") and f["type"] == "category"):
            raise SchemaError(f"{name}: scale must be 'log' (a numeric feature) or absent")
        if f.get("monotone") and f["type"] == "category":
            raise SchemaError(f"{name}: a category feature has no order to be monotone in")
        reasons = f.get("reasons", {})
        if not isinstance(reasons, dict) or set(reasons) - set(REASON_KINDS) or not all(
                isinstance(t, str) and t for t in reasons.values()):
            raise SchemaError(f"{name}: reasons must map some of {REASON_KINDS} to texts")
        if "elderly_from" in f:
            if f["type"] != "int" or isinstance(f["elderly_from"], bool) or not isinstance(
                    f["elderly_from"], int):
                raise SchemaError(f"{name}: elderly_from needs an int age feature and an int age")
    if sum("elderly_from" in f for f in feats) > 1:
        raise SchemaError("elderly_from may be set on one (age) feature only")
    if "derived" in schema:
        from .derived import check as check_derived  # imports this module
        check_derived(schema)


def load_schema(name_or_path: str | Path) -> dict:
    """Load a schema by short name (``gmsc``) from models/schemas/ or from a path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = SCHEMA_DIR / f"{name_or_path}.json"
    schema = json.loads(p.read_text())
    check_schema(schema)
    return schema


def feature_names(schema: Mapping[str, Any]) -> list[str]:
    return [f["name"] for f in schema["features"]]


def _is_missing(value: Any) -> bool:
    return value is None


def _encode_feature(f: Mapping[str, Any], value: Any) -> float:
    name, ftype = f["name"], f["type"]
    if _is_missing(value):
        if f.get("missing", "reject") == "impute":
            return math.nan
        raise FeatureValidationError(name, "missing value not allowed")
    if ftype == "category":
        cats = f["categories"]
        if isinstance(value, bool) or isinstance(value, float) and not math.isfinite(value):
            raise FeatureValidationError(name, f"invalid category value {value!r}")
        for i, c in enumerate(cats):
            if type(value) is type(c) and value == c:
                return float(i)
        # Accept the string form of a numeric category and vice versa (JSON clients differ).
        svalue = str(value)
        for i, c in enumerate(cats):
            if str(c) == svalue:
                return float(i)
        if f.get("unknown", "reject") == "missing" and f.get("missing", "reject") == "impute":
            return math.nan
        raise FeatureValidationError(name, f"unknown category {value!r}")
    # numeric
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise FeatureValidationError(name, f"expected a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise FeatureValidationError(name, f"non-finite value {value!r}")
    if ftype == "int" and v != math.floor(v):
        raise FeatureValidationError(name, f"expected an integer, got {value!r}")
    lo, hi = f.get("min"), f.get("max")
    if lo is not None and v < lo:
        raise FeatureValidationError(name, f"{v!r} below minimum {lo}")
    if hi is not None and v > hi:
        raise FeatureValidationError(name, f"{v!r} above maximum {hi}")
    return v


def validate_row(schema: Mapping[str, Any], mapping: Mapping[str, Any], *,
                 allow_extra: bool = False) -> np.ndarray:
    """Validate one input row and return the float32 model vector in schema order.

    Raises :class:`FeatureValidationError` on the first violation (schema order). Keys not in the
    schema are an error unless ``allow_extra``.
    """
    if not isinstance(mapping, Mapping):
        raise FeatureValidationError(None, "row must be a mapping of feature name to value")
    feats = schema["features"]
    if not allow_extra:
        known = {f["name"] for f in feats}
        extra = sorted(k for k in mapping if k not in known)
        if extra:
            raise FeatureValidationError(extra[0], "unexpected feature")
    out = np.empty(len(feats), dtype=np.float32)
    for i, f in enumerate(feats):
        out[i] = _encode_feature(f, mapping.get(f["name"]))
    return out


def decode_row(schema: Mapping[str, Any], vector: np.ndarray) -> dict:
    """Inverse of :func:`validate_row` (categories back to labels, NaN back to None)."""
    row = {}
    for f, v in zip(schema["features"], np.asarray(vector, dtype=np.float64)):
        if math.isnan(v):
            row[f["name"]] = None
        elif f["type"] == "category":
            row[f["name"]] = f["categories"][int(v)]
        elif f["type"] == "int":
            row[f["name"]] = int(v)
        else:
            row[f["name"]] = float(v)
    return row


@dataclass(frozen=True)
class SchemaInfo:
    """Column index helpers derived from a schema (for pipelines)."""

    names: tuple[str, ...]
    numeric_idx: tuple[int, ...]
    category_idx: tuple[int, ...]
    n_categories: tuple[int, ...]
    impute_idx: tuple[int, ...]
    log_idx: tuple[int, ...]

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> "SchemaInfo":
        feats = schema["features"]
        return cls(
            names=tuple(f["name"] for f in feats),
            numeric_idx=tuple(i for i, f in enumerate(feats) if f["type"] != "category"),
            category_idx=tuple(i for i, f in enumerate(feats) if f["type"] == "category"),
            n_categories=tuple(len(f["categories"]) for f in feats if f["type"] == "category"),
            impute_idx=tuple(i for i, f in enumerate(feats) if f.get("missing") == "impute"),
            log_idx=tuple(i for i, f in enumerate(feats) if f.get("scale") == "log"),
        )
