"""Zero-knowledge proof of a linear model's score with EZKL (issue 16): the circuit proves that
the bundle's own linear layer, applied to a feature vector whose Poseidon commitment is public,
gives a public logit; no feature is revealed.

A bundle is zk-provable when its ONNX graph ends in one binary ``LinearClassifier`` with a
logistic output whose probability it serves as is (a logistic model, the federated one, and the
points scorecard, whose WoE binning is then part of the features graph). It splits there:

* the **features graph**: the bundle's graph up to the classifier's input, i.e. the model's
  preprocessing (imputation, clipping, logs, one-hot, standardisation: ``IsNaN`` and friends,
  which EZKL does not take) giving the vector ``z``. Whoever attests the commitment (the data
  provider or the oracle quorum, who hold the borrower's features) runs it;
* the **circuit**: ``logit = z · w + b``, built from the classifier's coefficients in standard
  ops (MatMul, Add), with ``z`` as a hashed input (instance 0 is the Poseidon hash of the
  quantised ``z``, blinding and loan inputs: the features commitment) and the logit as a public
  output; the borrower and the loan request (keccak of address and the registry's nonce, in six
  chunks, :func:`loan_binding`) are hashed with ``z`` and output as public values too, so a
  proof is for one borrower's one loan, checked by the registry. The PD is
  ``sigmoid(logit)``, applied outside the circuit: the Sigmoid's lookup table is what would
  make the proving key large (191 MB against 5 MB measured, reports/zk_feasibility.md).

``setup`` writes the circuit artefacts beside each other (circuit.onnx, settings.json, the
compiled circuit, vk.key, pk.key, zk.json); the verifying key's SHA-256 is the circuit's identity
(the compiled file is not byte-stable). The proving key is large and regenerated, never committed.
A locally generated SRS (``ezkl.gen_srs``) is random and fit for tests only: production needs a
public ceremony's parameters (``--srs``).

``python -m models zk setup BUNDLE`` / ``verifier DIR`` / ``prove DIR --features F.json`` /
``verify DIR --proof P --commitment C`` run these from the command line. On chain, the verifier
(EZKL's Halo2Verifier, compiled here with the project's solc) is attached to the model in
ModelRegistry (``setZkCircuit``) and CreditScoreRegistry.submitProven records a score from a proof
and a k-of-n attested commitment, deriving PD and score from the logit (contracts/zk/ScoreMath.sol,
mirrored by :func:`pd_bps_from_logit`). Several EZKL calls are coroutines in 23.x: ``_call``
awaits whatever they return inside a running event loop.

Modules: ``circuit`` (the split, set-up, proof, verification), ``fixed_point`` (the registry's
arithmetic from a proven logit to pdBps, and the circuit's own arithmetic, emulated exactly),
``canonical`` (the PD every path signs for a zk-scored model: the circuit's, needing no EZKL) and
``verifier`` (the Solidity verifier and a proof as calldata).
"""
from .circuit import (
    BLINDING,
    CALIBRATION_ROWS,
    INPUT_SCALE,
    LOAN_CHUNKS,
    ZK_VERSION,
    LinearPart,
    NotProvable,
    blinding,
    bundle_onnx,
    circuit_graph,
    circuit_logits,
    commitment,
    features_graph,
    features_z,
    linear_part,
    loan_binding,
    prove,
    public_values,
    setup,
    verify,
)
from .fixed_point import FIELD, felt_from_hex, felt_to_int, pd_bps_from_logit, quantise
from .verifier import evm_verifier, proof_calldata

__all__ = ["BLINDING", "CALIBRATION_ROWS", "FIELD", "INPUT_SCALE", "LOAN_CHUNKS", "ZK_VERSION", "LinearPart",
           "NotProvable", "blinding", "bundle_onnx", "circuit_graph", "circuit_logits", "commitment",
           "evm_verifier", "features_graph", "features_z", "felt_from_hex", "felt_to_int", "linear_part",
           "loan_binding",
           "pd_bps_from_logit", "proof_calldata", "prove", "public_values", "quantise", "setup", "verify"]
