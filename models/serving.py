"""Serving API imported by the oracle. Pure functions around an ONNX Runtime session.

Nothing here needs scikit-learn or a pickle: a bundle directory holds the ONNX model, its feature
schema, ``reference.json`` (reference values for reason codes, the reason-code table and the
expected SHA-256 of the ONNX file) and ``manifest.json``, whose SHA-256 is the bundle id (the
on-chain model id; see :mod:`models.manifest`). Every function is deterministic for a given bundle, so k-of-n
oracle nodes running the same bundle and library versions produce byte-identical results:

* ONNX Runtime runs with one intra-op thread, sequential execution and basic graph optimisation;
* reason-code contributions are quantised to 1e-6 of probability before ranking, ties broken by
  the lower feature index;
* PD -> basis points and basis points -> score use exact decimal arithmetic.

Serving rules (``scorechain-serving/2``, named in every manifest):

* **Elderly rule** (Regulation B, 12 CFR 1002.6(b)(2)): if the schema marks an age feature with
  ``elderly_from`` (62), an applicant of that age or older is scored at the age, among every whole
  age seen in training (``reference.json`` ``elderly_rule.grid``), that gives the lowest PD, and
  age is never among their reasons: their age can only help them.
* **Reasons** (:func:`reason_codes`): the features whose value raises the PD most against the
  bundle's reference row, each coded by direction (too high / too low / not reported / category;
  :mod:`models.reasons`). The reference is the median of the training applicants at or just above
  the approval cut-off (a scorecard: each feature's highest-points bin).

Scorecard mapping (:func:`score_from_pd`): ``score = 600 + 40/ln 2 * ln(odds / 19)`` with
``odds = (10000 - pd_bps) / pd_bps`` (good:bad), i.e. 600 points at PD 5% and 40 points to double
the odds; rounded half up and clamped to 300..850 (PD 0 -> 850, PD 100% -> 300).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnxruntime as ort

from .manifest import BundleFiles, BundleIntegrityError, check as check_manifest, read_files
from .schema import schema_hash, validate_row

DEFAULT_BUNDLE = Path(__file__).resolve().parent / "default"
N_REASONS = 4
CONTRIBUTION_QUANTUM = 1e-6
# Reasons on the applicant's neighbourhood (issue 13): a tree model's PD steps at each split, so
# a contribution read at one point reorders reasons when a value moves by a rounding. With it, a
# 2 % move of utilisation changed the top reason of 6.0 % of GMSC applicants under HGB (NIA),
# and whether a retrain passed the 5 % gate (models.gates) depended on its seed (LightGBM: 4.6 %
# at seed 0, 5.2 % at seed 1). A float feature's own term is the PD averaged over its value scaled
# by 1 - window .. 1 + window (points, evenly spaced, the value itself the middle one), clipped
# at the reference so the window stays on the applicant's side of it: 2.6 % for that HGB, at most
# 2.6 % over seeds 0-3 of it and 0-2 of LightGBM. New exports record it in reference.json
# (covered by the bundle id); a bundle without it keeps the point method, so its recorded reasons
# still verify.
REASON_NEIGHBOURHOOD = {"window": 0.05, "points": 5}
SCORE_MIN, SCORE_MAX = 300, 850
SCORE_BASE, SCORE_BASE_ODDS, SCORE_PDO = 600, 19, 40
# Lower bound of each band, best first.
SCORE_BANDS = (("A", 760), ("B", 700), ("C", 640), ("D", 580), ("E", 500), ("F", SCORE_MIN))
_DEC = Context(prec=34)


@dataclass(frozen=True)
class ElderlyRule:
    index: int                         # the age feature's position
    start: int                         # applicants this old or older (62)
    grid: np.ndarray = field(repr=False)  # float32: every whole age seen in training


@dataclass(frozen=True)
class ModelBundle:
    path: Path
    session: ort.InferenceSession = field(repr=False)
    schema: dict = field(repr=False)
    schema_sha256: str
    model_id: str                      # SHA-256 (hex) of the ONNX file bytes
    bundle_id: str                     # SHA-256 (hex) of manifest.json: the on-chain model id
    version: str
    reference: np.ndarray = field(repr=False)   # float32 [d], the reasons' reference row
    high_codes: tuple[int, ...]        # per feature: code when its value is above the reference
    low_codes: tuple[int, ...]         # ... below it (0: that direction never counts against)
    missing_codes: tuple[int, ...]     # ... not reported (imputed)
    metadata: dict = field(repr=False)
    input_name: str = "features"
    elderly: ElderlyRule | None = None
    monitoring: dict | None = field(default=None, repr=False)  # models.monitoring reference
    # (window, points) of REASON_NEIGHBOURHOOD, or None: contributions at the point itself
    neighbourhood: tuple[float, int] | None = None
    # positions of the schema's float features (the ones a neighbourhood averages over)
    float_idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.intp), repr=False)

    @property
    def n_features(self) -> int:
        return len(self.reference)

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]


def _session(model_bytes: bytes) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def load_bundle(path: str | Path = DEFAULT_BUNDLE, *, ungated: bool = False) -> ModelBundle:
    """Load a model bundle directory (``reference.json`` names the ONNX and schema files).
    ``ungated`` only for the export, which measures the gates on the bundle it is writing."""
    return bundle_from_files(path, read_files(path), ungated=ungated)


def bundle_from_files(path: str | Path, files: BundleFiles, *, ungated: bool = False) -> ModelBundle:
    """A bundle built from bytes read once (the session runs the very bytes that were hashed).

    Raises :class:`BundleIntegrityError` if any file differs from ``manifest.json``, if its
    reference.json does not record passed gates (:mod:`models.gates`), if the ONNX
    file's SHA-256 differs from the one recorded in ``reference.json``, or if the schema hash
    differs between schema file, ONNX metadata and reference.
    """
    bundle_id = check_manifest(files)
    try:
        ref = json.loads(files.reference)
        schema = json.loads(files.schema)
    except ValueError as exc:
        raise BundleIntegrityError(f"bundle JSON is malformed: {exc}") from None
    gates = ref.get("gates") or {}
    if not ungated and gates.get("passed") is not True:
        raise BundleIntegrityError(
            "the model has not passed its fair-lending gates (models.gates): "
            + ("; ".join(gates.get("failures", [])) or "no gate results in reference.json"))
    model_bytes = files.onnx
    model_id = hashlib.sha256(model_bytes).hexdigest()
    if model_id != ref["model_sha256"]:
        raise BundleIntegrityError(
            f"{ref['onnx_file']}: sha256 {model_id} != reference.json {ref['model_sha256']}")
    sha = schema_hash(schema)
    sess = _session(model_bytes)
    meta = dict(sess.get_modelmeta().custom_metadata_map)
    meta = {k.removeprefix("scorechain."): v for k, v in meta.items()}
    if not (sha == ref["feature_schema_sha256"] == meta.get("feature_schema_sha256")):
        raise BundleIntegrityError("feature-schema hash mismatch between schema file, "
                                   "reference.json and ONNX metadata")
    names = [f["name"] for f in schema["features"]]
    if ref["feature_order"] != names:
        raise BundleIntegrityError("feature order in reference.json differs from the schema")
    refvals = np.array([math.nan if v is None else v for v in ref["reference_values"]],
                       dtype=np.float32)
    if len(refvals) != len(names):
        raise BundleIntegrityError("reference.json has a reference value count that differs "
                                   "from the schema's features")
    codes = ref["reason_codes"]
    high = {**codes["high"], **codes["category"]}
    low = {**codes["low"], **codes["category"]}
    elderly = None
    ages = [f for f in schema["features"] if "elderly_from" in f]
    if ages:
        rule = ref.get("elderly_rule") or {}
        if rule.get("feature") != ages[0]["name"] or rule.get("from") != ages[0]["elderly_from"] \
                or not rule.get("grid"):
            raise BundleIntegrityError("the schema sets elderly_from but reference.json has no "
                                       "matching elderly_rule (feature, from, grid)")
        elderly = ElderlyRule(index=names.index(rule["feature"]), start=int(rule["from"]),
                              grid=np.array(rule["grid"], dtype=np.float32))
    return ModelBundle(
        neighbourhood=_neighbourhood(ref.get("reason_neighbourhood")),
        float_idx=np.array([i for i, f in enumerate(schema["features"]) if f["type"] == "float"],
                           dtype=np.intp),
        path=Path(path), session=sess, schema=schema, schema_sha256=sha, model_id=model_id,
        bundle_id=bundle_id, version=meta.get("model_version", ""), reference=refvals,
        high_codes=tuple(int(high.get(n, 0)) for n in names),
        low_codes=tuple(int(low.get(n, 0)) for n in names),
        missing_codes=tuple(int(codes["missing"].get(n, 0)) for n in names),
        metadata=meta, input_name=sess.get_inputs()[0].name, elderly=elderly,
        monitoring=ref.get("monitoring"))


def _neighbourhood(spec) -> tuple[float, int] | None:
    if spec is None:
        return None
    try:
        window, points = spec["window"], spec["points"]
    except (TypeError, KeyError, IndexError):
        raise BundleIntegrityError(f"reason_neighbourhood must be {{window, points}}, got {spec!r}"
                                   ) from None
    number = (int, float)
    if not (isinstance(window, number) and isinstance(points, int) and not isinstance(window, bool)
            and not isinstance(points, bool) and 0 < window <= 0.5 and 3 <= points <= 21
            and points % 2 == 1):
        raise BundleIntegrityError("reason_neighbourhood needs 0 < window <= 0.5 and an odd "
                                   f"number of points from 3 to 21, got {spec!r}")
    return float(window), points


def predict_pd(bundle: ModelBundle, X: np.ndarray) -> np.ndarray:
    """Default probabilities (float32 [n]) for validated rows ``X`` (float32 [n, d])."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or X.shape[1] != bundle.n_features:
        raise ValueError(f"expected shape [n, {bundle.n_features}], got {X.shape}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    proba = bundle.session.run(["probabilities"], {bundle.input_name: X})[0]
    return proba[:, 1].astype(np.float32)


def is_elderly(bundle: ModelBundle, x: np.ndarray) -> bool:
    rule = bundle.elderly
    return rule is not None and not np.isnan(x[rule.index]) and x[rule.index] >= rule.start


def favourable_row(bundle: ModelBundle, x: np.ndarray) -> np.ndarray:
    """The row the applicant is scored on: ``x`` itself, or for an elderly applicant ``x`` with
    the age of the grid that gives the lowest PD (their own if none is strictly lower)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if not is_elderly(bundle, x):
        return x
    rule = bundle.elderly
    batch = np.repeat(x.reshape(1, -1), len(rule.grid), axis=0)
    batch[:, rule.index] = rule.grid
    pds = predict_pd(bundle, batch)
    j = int(np.argmin(pds))
    if pds[j] >= predict_pd(bundle, x)[0]:
        return x
    out = x.copy()
    out[rule.index] = rule.grid[j]
    return out


def served_pd(bundle: ModelBundle, x: np.ndarray) -> float:
    """The PD the oracle signs for one validated row (one-row ONNX call, elderly rule applied)."""
    return float(predict_pd(bundle, favourable_row(bundle, x))[0])


def served_pds(bundle: ModelBundle, X: np.ndarray) -> np.ndarray:
    """PDs as served for many rows (elderly rule applied), in one batched ONNX call: for
    reports and gates; the oracle scores one row at a time (see oracle.scoring)."""
    X = np.asarray(X, dtype=np.float32)
    rows = np.array([favourable_row(bundle, x) if is_elderly(bundle, x) else x for x in X],
                    dtype=np.float32).reshape(X.shape)
    return predict_pd(bundle, rows)


def _contributions_at(bundle: ModelBundle, row: np.ndarray, elderly: bool
                      ) -> tuple[float, np.ndarray]:
    d = bundle.n_features
    batch = np.repeat(row.reshape(1, -1), d + 1, axis=0)
    idx = np.arange(d)
    batch[idx + 1, idx] = bundle.reference
    near_idx, near = _neighbourhood_rows(bundle, row)
    pd = predict_pd(bundle, np.vstack([batch, near])).astype(np.float64)
    contrib = pd[0] - pd[1:d + 1]
    if len(near_idx):
        contrib[near_idx] = pd[d + 1:].reshape(len(near_idx), -1).mean(axis=1) - pd[1 + near_idx]
    same = (row == bundle.reference) | (np.isnan(row) & np.isnan(bundle.reference))
    contrib[same] = 0.0
    if elderly:
        contrib[bundle.elderly.index] = 0.0
    return float(pd[0]), contrib


def _neighbourhood_rows(bundle: ModelBundle, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float features with a non-zero value, and per feature (in that order) ``points`` rows:
    ``row`` with that value scaled over the bundle's neighbourhood (none for a bundle without
    one), kept on the value's side of the reference: the reason's direction is that side
    (:func:`reason_code`), and an income above the reference must never average in PDs of
    incomes below it."""
    if bundle.neighbourhood is None:
        return np.empty(0, np.intp), np.empty((0, len(row)), np.float32)
    window, points = bundle.neighbourhood
    v = row[bundle.float_idx]
    idx = bundle.float_idx[np.isfinite(v) & (v != 0)]
    v = row[idx].astype(np.float64)[:, None]
    ref = bundle.reference[idx].astype(np.float64)[:, None]
    vals = v * np.linspace(1 - window, 1 + window, points)
    clipped = np.where(v > ref, np.maximum(vals, ref), np.minimum(vals, ref))
    vals = np.where(np.isfinite(ref), clipped, vals)
    rows = np.repeat(row.reshape(1, -1), len(idx) * points, axis=0)
    rows[np.arange(len(rows)), np.repeat(idx, points)] = vals.astype(np.float32).ravel()
    return idx, rows


def _checked(bundle: ModelBundle, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    if x.shape[0] != bundle.n_features:
        raise ValueError(f"expected {bundle.n_features} features, got {x.shape[0]}")
    return x


def contributions(bundle: ModelBundle, x: np.ndarray) -> tuple[float, np.ndarray]:
    """PD of the scored row and, per feature i, PD(row) - PD(row with feature i set to its
    reference value), the row being :func:`favourable_row`. With the bundle's reason
    neighbourhood, a float feature's PD(row) is the mean over its value scaled across the window
    (:data:`REASON_NEIGHBOURHOOD`).

    One batched ONNX call (d+1 rows, plus the neighbourhood's). A feature already at its
    reference value contributes 0, and so does an elderly applicant's age.
    """
    x = _checked(bundle, x)
    return _contributions_at(bundle, favourable_row(bundle, x), is_elderly(bundle, x))


def rank_reasons(contrib: np.ndarray, k: int | None = N_REASONS) -> list[int]:
    """Indices of the (up to) ``k`` largest positive contributions after quantisation to
    :data:`CONTRIBUTION_QUANTUM`; ties broken by lower feature index. Pure."""
    q = np.rint(np.asarray(contrib, dtype=np.float64) / CONTRIBUTION_QUANTUM).astype(np.int64)
    cand = [i for i in range(len(q)) if q[i] > 0]
    cand.sort(key=lambda i: (-int(q[i]), i))
    return cand[:k]


def reason_code(bundle: ModelBundle, row: np.ndarray, i: int) -> int:
    """Feature i's code for this row's value against the reference: too high, too low, not
    reported, or its category; 0 if that direction never counts against anyone."""
    v, ref = row[i], bundle.reference[i]
    if np.isnan(v):
        return bundle.missing_codes[i]
    if np.isnan(ref) or v > ref:  # a reference "not reported" (a scorecard's best bin): reported
        return bundle.high_codes[i] or bundle.low_codes[i]
    return bundle.low_codes[i]


def _codes(bundle: ModelBundle, row: np.ndarray, contrib: np.ndarray) -> tuple[int, int, int, int]:
    out = [c for c in (reason_code(bundle, row, i) for i in rank_reasons(contrib, None)) if c]
    return tuple(out[:N_REASONS] + [0] * (N_REASONS - min(len(out), N_REASONS)))  # type: ignore[return-value]


def reason_codes(bundle: ModelBundle, x: np.ndarray) -> tuple[int, int, int, int]:
    """Up to four reason codes for one validated row, most important first, 0-padded."""
    x = _checked(bundle, x)
    row = favourable_row(bundle, x)
    return _codes(bundle, row, _contributions_at(bundle, row, is_elderly(bundle, x))[1])


def explain(bundle: ModelBundle, x: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    """The signed PD (as :func:`served_pd`) and reason codes (as :func:`reason_codes`) of one
    validated row, the elderly search done once."""
    x = _checked(bundle, x)
    row = favourable_row(bundle, x)
    _, contrib = _contributions_at(bundle, row, is_elderly(bundle, x))
    return float(predict_pd(bundle, row)[0]), _codes(bundle, row, contrib)


def pack_reason_codes(codes) -> int:
    """Pack up to four codes (each 0..255, most important first) into a uint32:
    ``c0<<24 | c1<<16 | c2<<8 | c3``; missing trailing codes are 0."""
    codes = list(codes)
    if len(codes) > N_REASONS:
        raise ValueError("at most four reason codes")
    codes += [0] * (N_REASONS - len(codes))
    packed = 0
    for c in codes:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c <= 255:
            raise ValueError(f"reason code {c!r} not in 0..255")
        packed = (packed << 8) | int(c)
    return packed


def unpack_reason_codes(packed: int) -> tuple[int, int, int, int]:
    if not 0 <= packed < 2**32:
        raise ValueError("packed reason codes must be a uint32")
    return tuple((packed >> s) & 0xFF for s in (24, 16, 8, 0))  # type: ignore[return-value]


def pd_to_bps(pd: float) -> int:
    """Probability -> basis points (0..10000), exact decimal rounding half up, clamped."""
    v = float(pd)
    if math.isnan(v):
        raise ValueError("PD is NaN")
    if v <= 0:
        return 0
    if v >= 1:
        return 10000
    bps = (Decimal(v) * 10000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(0, min(10000, int(bps)))


def score_from_pd(pd_bps: int) -> int:
    """Scorecard points (300..850) from PD in basis points; see the module docstring."""
    if isinstance(pd_bps, bool) or not isinstance(pd_bps, (int, np.integer)):
        raise TypeError("pd_bps must be an int")
    pd_bps = int(pd_bps)
    if not 0 <= pd_bps <= 10000:
        raise ValueError("pd_bps must be in 0..10000")
    if pd_bps == 0:
        return SCORE_MAX
    if pd_bps == 10000:
        return SCORE_MIN
    odds = _DEC.divide(Decimal(10000 - pd_bps), Decimal(pd_bps * SCORE_BASE_ODDS))
    factor = _DEC.divide(Decimal(SCORE_PDO), _DEC.ln(Decimal(2)))
    raw = _DEC.add(Decimal(SCORE_BASE), _DEC.multiply(factor, _DEC.ln(odds)))
    score = int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return max(SCORE_MIN, min(SCORE_MAX, score))


def score_band(score: int) -> str:
    """Letter band: A >= 760, B 700-759, C 640-699, D 580-639, E 500-579, F < 500."""
    if not SCORE_MIN <= int(score) <= SCORE_MAX:
        raise ValueError(f"score {score} outside {SCORE_MIN}..{SCORE_MAX}")
    for band, lo in SCORE_BANDS:
        if score >= lo:
            return band
    raise AssertionError("unreachable")


def score_row(bundle: ModelBundle, row: Mapping[str, Any]) -> dict:
    """Validate a raw feature mapping and return everything the oracle signs."""
    x = validate_row(bundle.schema, row)
    pd_, codes = explain(bundle, x)
    bps = pd_to_bps(pd_)
    score = score_from_pd(bps)
    return {"model_id": bundle.model_id, "bundle_id": bundle.bundle_id,
            "feature_schema_sha256": bundle.schema_sha256,
            "features_sha256": hashlib.sha256(x.tobytes()).hexdigest(),
            "pd": pd_, "pd_bps": bps, "score": score, "band": score_band(score),
            "reason_codes": codes, "reason_codes_packed": pack_reason_codes(codes)}


def describe_reason_codes(packed: int, schema_name: str = "gmsc") -> list[str]:
    """Texts of a packed reason-code word, most important first (code 0 = none is skipped),
    from the published table in models/reason_codes.json."""
    from .reasons import texts
    by_code = texts(schema_name)
    return [by_code.get(code, f"unknown code {code}")
            for code in unpack_reason_codes(packed) if code]
