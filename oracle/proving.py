"""Zero-knowledge proofs of a borrower's score from this node's store (issue 16): ``oracle prove``,
``oracle verify --proof`` and a pull answered with a proof (:func:`pulled_proof`).

The node holds the borrower's features and salt; it runs the served bundle's preprocessing, blinds
the inputs with the salt (models.zk.blinding: the same salt as the k-of-n path's features hash) and
proves with the model's circuit (``python -m models zk setup``). What it writes is what
CreditScoreRegistry.submitProven takes, less the k signatures over the features commitment
(FeaturesAttestation, signed after the loan's request): the commitment, the logit (a field
element), the proof, and the PD and score the registry will derive from the logit. Nothing in it
reveals a feature; the PD and score are the borrower's, so the file goes only to whom the borrower
authorised.
"""
from __future__ import annotations

import json
from pathlib import Path

from models import serving
from oracle.scoring import Model, ModelLoadError


class ProvingError(Exception):
    """A proof cannot be made or checked as asked; the message says why."""


def _zk():
    try:
        from models import zk
    except ImportError as exc:  # an oracle-only install: EZKL and onnx are an extra
        raise ProvingError(f"proofs need the zk extra (pip install 'scorechain[zk]'): {exc}") from None
    return zk


def circuit_info(circuit_dir: Path) -> dict:
    try:
        return json.loads((Path(circuit_dir) / "zk.json").read_text())
    except (OSError, ValueError) as exc:
        raise ProvingError(f"{circuit_dir} is not a circuit directory (python -m models zk setup): "
                           f"{exc}") from None


def prove_borrower(model: Model, features, circuit_dir: Path, out: Path, nonce: int) -> dict:
    """Prove ``features`` (a store row of the borrower) under the served ``model``'s circuit, for
    the borrower's loan request ``nonce`` (CreditScoreRegistry.nonces: a public input)."""
    zk = _zk()
    info = circuit_info(circuit_dir)
    if info.get("bundle_id") != model.model_id.hex():
        raise ProvingError(f"the circuit in {circuit_dir} is for model 0x{info.get('bundle_id')}, "
                           f"not the served {model.model_id_hex}")
    if features.schema_hash != model.schema_hash:
        raise ProvingError("the borrower's stored features follow another schema than the model's")
    # the served row (the elderly rule's favourable age), as the signers score it
    try:
        circuit = model.circuit(info["output_scale"])
    except ModelLoadError as exc:
        raise ProvingError(str(exc)) from None
    row = serving.favourable_row(model.bundle, features.vector)
    r = zk.prove(circuit_dir, circuit.z(row), zk.blinding(features.salt, info["input_scale"]),
                 zk.loan_binding(features.address, nonce, info["input_scale"]), out)
    proof, commitment, logit = zk.proof_calldata(Path(out) / "proof.json")
    if logit != circuit.logit(row):  # the same PD whichever path records the score
        raise ProvingError(f"the circuit in {circuit_dir} proved logit {logit}, the model's "
                           f"canonical one is {circuit.logit(row)}: not this model's circuit")
    pd_bps = zk.pd_bps_from_logit(logit, info["output_scale"])
    proven = {"borrower": features.address, "nonce": nonce, "modelId": model.model_id_hex,
              "featuresCommitment": "0x" + commitment.to_bytes(32, "big").hex(), "logit": str(logit),
              "pdBps": pd_bps, "score": serving.score_from_pd(pd_bps), "proof": "0x" + proof.hex(),
              "vkSha256": info["vk_sha256"], "proveSeconds": r["prove_seconds"]}
    (Path(out) / "proven.json").write_text(json.dumps(proven, indent=1) + "\n")
    return proven


def check_proof(circuit_dir: Path, proof_path: Path, commitment: str | None = None,
                loan: tuple[str, int] | None = None) -> dict:
    """Verify ``proof_path`` against the circuit's verifying key, offline; with ``commitment``
    (the attested one, 0x bytes32) also that the proof is over those features, with ``loan``
    (borrower, nonce) that it is for that borrower's loan request."""
    zk = _zk()
    info = circuit_info(circuit_dir)
    if not Path(proof_path).is_file():
        raise ProvingError(f"no proof file {proof_path}")
    ok = zk.verify(circuit_dir, proof_path)
    out = {"ok": ok, "vkSha256": info["vk_sha256"], "modelId": "0x" + str(info.get("bundle_id"))}
    if not ok:
        out["reason"] = "the proof does not verify under this circuit's verifying key"
        return out
    try:
        values = zk.public_values(proof_path, info)
        loan_values = None if loan is None else [
            zk.quantise(v, info["input_scale"]) for v in zk.loan_binding(*loan, info["input_scale"])]
    except ValueError as exc:  # a proof of an older circuit version, or no address and nonce
        raise ProvingError(str(exc)) from None
    out.update(featuresCommitment=values["featuresCommitment"], pdBps=values["pd_bps"],
               score=serving.score_from_pd(values["pd_bps"]))
    if commitment is not None and commitment.lower() != values["featuresCommitment"]:
        out.update(ok=False, reason="the proof is over other features than the attested commitment")
    if loan_values is not None and values["loan"] != loan_values:
        out.update(ok=False, reason=f"the proof is not for {loan[0]}'s loan request {loan[1]}")
    return out


def pulled_proof(node, borrower: str, nonce: int, circuit_dir: Path, pool=None) -> dict:
    """A borrower's pull answered with a proof instead of a signed PD (``"proof": true``): the
    FeaturesAttestation signed by k nodes (each recomputes the commitment from its own store),
    and this node's proof of the circuit over those features. What submitProven takes, and the
    PD and score the registry will derive. Raises oracle.node.Refusal."""
    import tempfile

    from oracle.node import Refusal

    model = node.model
    signed = node.attest_local(borrower, features=True, nonce=nonce)
    registered = node.chain.zk_circuit(model.model_id)
    info = circuit_info(circuit_dir)
    if registered is None or registered[1].hex() != info["vk_sha256"]:
        raise Refusal(f"this node's circuit ({circuit_dir}) is not the one ModelRegistry holds "
                      f"for {model.model_id_hex}", status=503)
    if not node.gather([signed], pool=pool):
        _, k = node.signer_set()
        raise Refusal(f"only {len(signed.signatures)} of {k} signatures over the features "
                      "commitment could be gathered", status=503)
    features = node.store.get_features(borrower)
    with tempfile.TemporaryDirectory(prefix="proof-") as tmp:  # nothing of it stays on disk
        try:
            proven = prove_borrower(model, features, Path(circuit_dir), Path(tmp), nonce)
        except ProvingError as exc:
            raise Refusal(str(exc), status=503) from None
    commitment = "0x" + signed.att.featuresCommitment.hex()
    if proven["featuresCommitment"] != commitment:  # the salt or the row changed in between
        raise Refusal("the proof is over other features than the signed commitment", status=503)
    _, k = node.signer_set()
    return {"featuresAttestation": signed.att.to_json(),
            "signatures": ["0x" + s.hex() for s in signed.ordered(k)],
            "digest": "0x" + node.digest_of(signed.att).hex(),
            "proof": proven["proof"], "logit": proven["logit"], "pdBps": proven["pdBps"],
            "score": proven["score"], "score_band": signed.prediction.band,
            "reason_codes": list(signed.prediction.reason_codes), "vkSha256": info["vk_sha256"]}
