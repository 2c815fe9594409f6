"""The canonical PD of a zk-scored model (issue 16): the circuit's fixed-point logit and the pdBps
the score registry derives from it.

Once ModelRegistry attaches a circuit to a model (``setZkCircuit``, before approval and once), a
proven score's PD is the registry's, from the proven logit; the float PD of the bundle differs
from it by a basis point on about 0.5 % of applicants (reports/zk.md). So every path that signs or
checks a score of that model uses this one (the oracle's k-of-n signers, ``oracle verify``, the
disclosure audit, ``oracle prove``), and no one can pick whichever of a signed and a proven score
rounds better. It needs no proof and no EZKL: the circuit's arithmetic is emulated exactly
(:func:`models.zk.fixed_point.circuit_logit`, checked against EZKL's witness at set-up).

The row scored is the served one: the elderly rule's favourable row (models.serving), chosen as
the served model chooses it; the circuit then proves the PD of that row.
"""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort

from .circuit import features_graph, linear_part
from .fixed_point import circuit_logit, felt_to_int, pd_bps_from_logit, quantise


class CircuitPD:
    """The circuit's logit and pdBps for raw feature rows of one bundle, at fixed point 2^scale."""

    def __init__(self, onnx_bytes: bytes, scale: int) -> None:
        model = onnx.load_from_string(onnx_bytes)
        part = linear_part(model)  # NotProvable for a bundle without one logistic classifier
        self.onnx_sha256 = hashlib.sha256(onnx_bytes).hexdigest()
        self.scale = int(scale)
        self._session = ort.InferenceSession(features_graph(model, part).SerializeToString(),
                                             providers=["CPUExecutionProvider"])
        # the circuit's own weights are these, as float32 (circuit.circuit_graph)
        self._w = [quantise(v, self.scale) for v in part.w.astype(np.float32)]
        self._b = quantise(np.float32(part.b), self.scale)

    def z(self, row: np.ndarray) -> np.ndarray:
        """The model's preprocessed inputs for one raw row (what the commitment covers)."""
        x = np.asarray(row, dtype=np.float32).reshape(1, -1)
        return self._session.run(None, {"features": x})[0][0]

    def logit(self, row: np.ndarray) -> int:
        """The circuit's output for ``row`` as a field element (what a proof's last instance is)."""
        return circuit_logit(self.z(row), self._w, self._b, self.scale)

    def pd(self, row: np.ndarray) -> tuple[float, int]:
        """(sigmoid of the fixed-point logit, the pdBps the registry derives from it)."""
        felt = self.logit(row)
        logit = felt_to_int(felt) / 2**self.scale
        return 1.0 / (1.0 + np.exp(-logit)), pd_bps_from_logit(felt, self.scale)

    def commitment(self, row: np.ndarray, salt: bytes, borrower: str, nonce: int) -> bytes:
        """The features commitment of ``row`` blinded by the borrower's 32-byte ``salt``, for
        the loan request ``nonce`` of ``borrower``, as FeaturesAttestation.featuresCommitment
        carries it (the proof's instance 0; needs EZKL for Poseidon)."""
        from .circuit import blinding, commitment, loan_binding
        from .fixed_point import felt_from_hex
        felt = felt_from_hex(commitment(self.z(row), blinding(salt, self.scale),
                                        loan_binding(borrower, nonce, self.scale), self.scale))
        return felt.to_bytes(32, "big")
