"""02 — register a model bundle in ModelRegistry and approve it (four eyes: two accounts).

    brownie run scripts/02_register_model.py --network development
    SCORECHAIN_MODEL_DIR=models/default brownie run scripts/02_register_model.py --network sepolia-rpc
    SCORECHAIN_MODEL_DIR=build/models/loans/bundle SCORECHAIN_MODEL_DATA=loans.csv brownie run …
    (a bundle from `python -m models train --csv`: its training CSV gives the data root)
    SCORECHAIN_MODEL_DIR=build/fl-bundle SCORECHAIN_MODEL_FEDERATION=build/federation/run1 brownie run …
    (a bundle from `python -m models federated run --export`: the run's rounds give the data root)

The registration commits to the bundle id (the SHA-256 of the bundle's manifest, which covers the
ONNX bytes, reference values, reason-code table and schema: the model id), the feature schema, the
card's evaluation and the training data's Merkle root (see oracle/provenance.py), all recomputed
here from the bundle rather than trusted from the card. The approver recomputes them again from
the bundle they reviewed and approves only if the registration matches: a file edited after
registration (reference.json, the reason table, the schema, the ONNX file) is refused.
"""

from __future__ import annotations

import os

from oracle.provenance import ModelCommitments, model_commitments, registration_mismatches

from .network_context import deployed, require_success, tx_params

DEFAULT_MODEL_DIR = "models/default"


def register_model(system, bundle_dir: str = DEFAULT_MODEL_DIR,
                   data_csv: str | None = None,
                   federation_run: str | None = None) -> ModelCommitments:
    """Register the bundle as the model registrar; returns the commitments registered."""
    commitments = model_commitments(bundle_dir, data_csv=data_csv, federation_run=federation_run)
    require_success(system.model_registry.register(*commitments.register_args(),
                                                   tx_params("model_registrar")))
    return commitments


class ApprovalRefused(RuntimeError):
    pass


def approve_model(system, bundle_dir: str = DEFAULT_MODEL_DIR,
                  data_csv: str | None = None,
                  federation_run: str | None = None) -> ModelCommitments:
    """Approve, as the model approver, the bundle in `bundle_dir` after checking it: its files
    must match its manifest (so its id) and ModelRegistry's record of that id must hold the
    commitments recomputed from it. Raises ProvenanceError / ApprovalRefused otherwise."""
    commitments = model_commitments(bundle_dir, data_csv=data_csv, federation_run=federation_run)
    problems = registration_mismatches(system.model_registry.getModel(commitments.model_id),
                                       commitments)
    if problems:
        raise ApprovalRefused(f"not approving {bundle_dir}: " + "; ".join(problems))
    require_success(system.model_registry.approve(commitments.model_id,
                                                  tx_params("model_approver")))
    return commitments


def revoke_model(system, model_id: bytes, reason_code: int) -> None:
    """Revocation is final; scores made by the model stop approving loans at once."""
    require_success(system.model_registry.revoke(model_id, reason_code, tx_params("model_approver")))


def main():
    system = deployed()
    bundle_dir = os.environ.get("SCORECHAIN_MODEL_DIR", DEFAULT_MODEL_DIR)
    data_csv = os.environ.get("SCORECHAIN_MODEL_DATA") or None
    federation_run = os.environ.get("SCORECHAIN_MODEL_FEDERATION") or None
    commitments = register_model(system, bundle_dir, data_csv, federation_run)
    approve_model(system, bundle_dir, data_csv, federation_run)
    print(f"model 0x{commitments.model_id.hex()} v{commitments.version} registered and approved")
    return commitments
