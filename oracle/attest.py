"""Building and cross-checking attestations. Pure: callers pass in every input (features, model
prediction, chain nonce, clock), so these functions are unit-tested without a chain.

Policy (the same on every node, from Settings):
* ``issuedAt`` = the node's clock (the timestamp of the latest chain block it has seen, so that a
  chain whose time was advanced is followed); ``validUntil`` = ``issuedAt + validity_s``.
* ``configDigest`` = the score registry's current signer-set configuration digest (a signature
  made under an older one is void on chain).
* A peer co-signs a proposed attestation only if its own recomputation gives the same
  ``borrower, modelId, featuresHash, pdBps, score, reasonCodes, nonce, extensionHash,
  configDigest``, the proposed
  ``issuedAt`` is within ``clock_tolerance_s`` of its own clock and ``validUntil - issuedAt``
  equals its ``validity_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from oracle.typed_data import FeaturesAttestation, ScoreAttestation

EXACT_FIELDS = ("borrower", "modelId", "featuresHash", "pdBps", "score", "reasonCodes", "nonce",
                "extensionHash", "configDigest")
# A proven score's signed half: the features commitment instead of hash, PD and score.
FEATURES_EXACT_FIELDS = ("borrower", "modelId", "featuresCommitment", "reasonCodes", "nonce",
                         "extensionHash", "configDigest")


@dataclass(frozen=True)
class Policy:
    validity_s: int
    clock_tolerance_s: int


def build_attestation(*, borrower: str, model_id: bytes, features_hash: bytes, pd_bps: int,
                      score: int, reason_codes: int, nonce: int, now: int,
                      policy: Policy, config_digest: bytes,
                      extension_hash: bytes = bytes(32)) -> ScoreAttestation:
    return ScoreAttestation(
        borrower=borrower,
        modelId=model_id,
        featuresHash=features_hash,
        pdBps=pd_bps,
        score=score,
        reasonCodes=reason_codes,
        issuedAt=now,
        validUntil=now + policy.validity_s,
        nonce=nonce,
        extensionHash=extension_hash,
        configDigest=config_digest,
    )


def build_features_attestation(*, borrower: str, model_id: bytes, commitment: bytes,
                               reason_codes: int, nonce: int, now: int, policy: Policy,
                               config_digest: bytes) -> FeaturesAttestation:
    return FeaturesAttestation(borrower=borrower, modelId=model_id, featuresCommitment=commitment,
                               reasonCodes=reason_codes, issuedAt=now,
                               validUntil=now + policy.validity_s, nonce=nonce,
                               configDigest=config_digest)


# A borrower's credit data: a refusal names the field that differs, never this node's value (the
# caller may be anyone who reached the peer port, and the reason goes back to it and into logs).
PERSONAL_FIELDS = frozenset({"featuresHash", "featuresCommitment", "pdBps", "score", "reasonCodes"})


def disagreements(proposed: ScoreAttestation | FeaturesAttestation,
                  own: ScoreAttestation | FeaturesAttestation, policy: Policy) -> list[str]:
    """Why a peer must not co-sign `proposed`, given its own recomputation `own` of the same kind
    (empty = agree). Values of PERSONAL_FIELDS are not shown."""
    if type(proposed) is not type(own):
        return [f"a {type(proposed).__name__} is not a {type(own).__name__}"]
    out = []
    exact = EXACT_FIELDS if isinstance(own, ScoreAttestation) else FEATURES_EXACT_FIELDS
    for name in exact:
        a, b = getattr(proposed, name), getattr(own, name)
        if a != b and name in PERSONAL_FIELDS:
            out.append(f"{name}: differs from this node's recomputation")
        elif a != b:
            show = (lambda v: "0x" + v.hex()) if isinstance(a, bytes) else repr
            out.append(f"{name}: proposed {show(a)}, recomputed {show(b)}")
    if abs(proposed.issuedAt - own.issuedAt) > policy.clock_tolerance_s:
        out.append(
            f"issuedAt: proposed {proposed.issuedAt} is more than {policy.clock_tolerance_s}s "
            f"from this node's clock {own.issuedAt}"
        )
    if proposed.validUntil - proposed.issuedAt != policy.validity_s:
        out.append(
            f"validUntil: proposed lifetime {proposed.validUntil - proposed.issuedAt}s, "
            f"policy {policy.validity_s}s"
        )
    return out
