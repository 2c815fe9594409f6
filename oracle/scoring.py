"""The one place the oracle touches the models package (thin adapter).

Everything the oracle needs from a model goes through here: validating a feature row, the schema
hash, loading an ONNX model (one onnxruntime session per model id), PD, reason codes and the
PD -> score -> band mapping. The functions themselves are `models.serving` / `models.schema`'s.

Model-file integrity: `load_model` reads the bundle's files once, checks them against the bundle's
manifest (`models.manifest`; the manifest's SHA-256 is the model id, so it covers the ONNX bytes,
reference values, reason-code table and schema) and builds the session from *those bytes*, so the
model that is checked against the on-chain ModelRegistry is exactly the model that runs (no
time-of-check/time-of-use gap). `ModelGuard`
refuses to use a model whose id the registry does not approve (and re-asks after a TTL, so a
revocation stops signing within `model_check_ttl_s`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from functools import lru_cache
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from models import manifest, serving
from models.schema import FeatureValidationError, validate_row  # noqa: F401  (re-exported)
from models.schema import schema_hash as _schema_hash_hex

__all__ = [
    "FeatureValidationError", "validate_row", "schema_hash_hex", "Model", "Prediction",
    "load_model", "ModelGuard", "ModelNotApproved", "ModelLoadError", "ModelSchemaNotReady",
]


class ModelLoadError(Exception):
    pass


class ModelNotApproved(Exception):
    pass


class ModelSchemaNotReady(ModelNotApproved):
    """A new model's feature schema differs and the store's features do not follow it yet.
    (A kind of ModelNotApproved so every caller that refuses an unapproved model refuses this.)"""


def schema_hash_hex(schema: Mapping[str, Any]) -> str:
    return _schema_hash_hex(schema)


@dataclass(frozen=True)
class Prediction:
    pd: float
    pd_bps: int
    score: int
    band: str
    reason_codes: tuple[int, int, int, int]
    reason_codes_packed: int


class Model:
    """One loaded model: id, schema and a `models.serving` bundle (one onnxruntime session)."""

    def __init__(self, path: Path, onnx_path: Path, model_id: bytes, bundle: Any,
                 schema: dict, onnx_bytes: bytes | None = None) -> None:
        self.path = path  # the bundle directory
        self.onnx_path = onnx_path
        self.model_id = model_id  # the bundle id: SHA-256 of its manifest (models.manifest)
        self.bundle = bundle
        self.schema = schema
        self.schema_hash = schema_hash_hex(schema)
        self._onnx_bytes = onnx_bytes  # the checked bytes the session runs
        self._circuits: dict[int, Any] = {}
        self._circuits_lock = threading.Lock()

    @property
    def model_id_hex(self) -> str:
        return "0x" + self.model_id.hex()

    def predict(self, vector: np.ndarray, circuit_scale: int | None = None) -> Prediction:
        """PD, score, band and reasons of one validated row. ``circuit_scale``: the model is
        zk-scored (ModelRegistry.zkCircuit), so its PD is the circuit's fixed-point one at that
        scale, the PD the registry derives from a proof (models.zk.canonical)."""
        # One row at a time, never batched across borrowers: onnxruntime's TreeEnsemble sums
        # trees in a different order for larger batches (measured here: 60 of 2,000 holdout
        # PDs moved by up to 9e-8 in batches of 50+), so a batched node could disagree with its
        # peers and with `oracle verify` by one basis point or one reason code.
        x = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        pd, codes = serving.explain(self.bundle, x[0])  # the elderly rule applied
        if circuit_scale is None:
            pd_bps = int(serving.pd_to_bps(pd))
        else:
            pd, pd_bps = self.circuit(circuit_scale).pd(serving.favourable_row(self.bundle, x[0]))
        score, band = _score_and_band(pd_bps)
        codes = tuple(int(c) for c in codes)
        packed = int(serving.pack_reason_codes(codes))
        return Prediction(float(pd), pd_bps, score, band, codes, packed)

    def features_commitment(self, vector: np.ndarray, salt: bytes, circuit_scale: int,
                            borrower: str, nonce: int) -> bytes:
        """The zk features commitment of the row the circuit proves for ``vector`` (the served,
        elderly-rule row), blinded by the borrower's salt, for their loan request ``nonce``: a
        FeaturesAttestation's."""
        row = serving.favourable_row(self.bundle, np.asarray(vector, dtype=np.float32))
        return self.circuit(circuit_scale).commitment(row, salt, borrower, nonce)

    def circuit(self, scale: int):
        """The zk circuit's PD for this model at fixed point 2^scale (built once per scale)."""
        with self._circuits_lock:
            c = self._circuits.get(scale)
            if c is None:
                try:
                    from models.zk.canonical import CircuitPD
                except ImportError as exc:  # an oracle-only install: onnx is in the zk extra
                    raise ModelLoadError(
                        f"model {self.model_id_hex} is zk-scored: serving it needs the zk extra "
                        f"(pip install 'scorechain[zk]'): {exc}") from None
                onnx_bytes = self._onnx_bytes if self._onnx_bytes is not None else \
                    self.onnx_path.read_bytes()
                if hashlib.sha256(onnx_bytes).hexdigest() != self.bundle.model_id:
                    raise ModelLoadError(f"{self.onnx_path} changed since the model was loaded")
                try:
                    c = CircuitPD(onnx_bytes, scale)
                except ValueError as exc:  # NotProvable: the registry attached a circuit to it
                    raise ModelLoadError(f"model {self.model_id_hex} has a zk circuit on chain "
                                         f"but no provable linear part: {exc}") from None
                self._circuits[scale] = c
        return c


@lru_cache(maxsize=10_001)
def _score_and_band(pd_bps: int) -> tuple[int, str]:
    """serving.score_from_pd / score_band are pure functions of 10001 possible inputs (and use
    exact Decimal logarithms, ~0.2 ms): cached."""
    score = int(serving.score_from_pd(pd_bps))
    return score, str(serving.score_band(score))


_MODELS: dict[bytes, Model] = {}
_MODELS_LOCK = threading.Lock()


def bundle_paths(path: str | Path) -> tuple[Path, Path]:
    """(bundle directory, ONNX file) for a bundle directory or the ONNX file inside one."""
    path = Path(path)
    bundle_dir = path if path.is_dir() else path.parent
    ref_path = bundle_dir / "reference.json"
    try:
        ref = json.loads(ref_path.read_text())
        onnx_path = bundle_dir / ref["onnx_file"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{bundle_dir} is not a model bundle (reference.json: {exc})") from None
    if not path.is_dir() and path.resolve() != onnx_path.resolve():
        raise ModelLoadError(f"{path} is not the ONNX file named in {ref_path}")
    return bundle_dir, onnx_path


def file_model_id(path: str | Path) -> bytes:
    """The model id of the bundle at `path` (directory or its .onnx file): the SHA-256 of its
    manifest, after checking every listed file against it (ModelLoadError if one differs)."""
    bundle_dir, _ = bundle_paths(path)
    try:
        return bytes.fromhex(manifest.check(manifest.read_files(bundle_dir)))
    except manifest.BundleIntegrityError as exc:
        raise ModelLoadError(f"model bundle {bundle_dir}: {exc}") from None


def load_model(path: str | Path) -> Model:
    """Load (or reuse) the bundle at `path`; one onnxruntime session per model id per process.

    The files are read once and checked against the manifest on every call (an edited file is
    refused even when a model with the manifest's id is already loaded); the session is built
    from the bytes that were checked.
    """
    bundle_dir, onnx_path = bundle_paths(path)
    try:
        files = manifest.read_files(bundle_dir)
        model_id = bytes.fromhex(manifest.check(files))
    except manifest.BundleIntegrityError as exc:
        raise ModelLoadError(f"cannot load model bundle {bundle_dir}: {exc}") from None
    with _MODELS_LOCK:
        cached = _MODELS.get(model_id)
        if cached is not None:
            return cached
        try:
            bundle = serving.bundle_from_files(bundle_dir, files)
        except Exception as exc:  # BundleIntegrityError, ONNX parse errors, bad JSON ...
            raise ModelLoadError(f"cannot load model bundle {bundle_dir}: {exc}") from None
        model = Model(bundle_dir, onnx_path, model_id, bundle, dict(bundle.schema), files.onnx)
        _MODELS[model_id] = model
        return model


class ModelGuard:
    """Answers "may this model id be used now?" from the on-chain ModelRegistry, with a TTL, and
    "is it zk-scored?" (``circuit_of``: its circuit's fixed-point scale, or None)."""

    def __init__(self, is_approved: Callable[[bytes], bool], ttl_s: float = 30.0,
                 circuit_of: Callable[[bytes], int | None] | None = None) -> None:
        self._is_approved = is_approved
        self._circuit_of = circuit_of
        self._ttl = ttl_s
        self._cache: dict[bytes, tuple[bool, float]] = {}
        self._circuits: dict[bytes, int | None] = {}
        self._lock = threading.Lock()

    def circuit_scale(self, model_id: bytes) -> int | None:
        """The zk circuit's scale of an approved model (call after :meth:`check`). Asked once:
        ModelRegistry attaches a circuit only before approval, so an approved model's answer
        never changes."""
        if self._circuit_of is None:
            return None
        with self._lock:
            if model_id in self._circuits:
                return self._circuits[model_id]
        scale = self._circuit_of(model_id)
        with self._lock:
            self._circuits[model_id] = scale
        return scale

    def check(self, model_id: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(model_id)
        if hit is None or now - hit[1] > self._ttl:
            ok = bool(self._is_approved(model_id))
            with self._lock:
                self._cache[model_id] = (ok, now)
        else:
            ok = hit[0]
        if not ok:
            raise ModelNotApproved(f"model 0x{model_id.hex()} is not approved in ModelRegistry")

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
