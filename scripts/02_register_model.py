"""02 — register a model bundle in ModelRegistry and approve it (four eyes: two accounts).

    brownie run scripts/02_register_model.py --network development
    SCORECHAIN_MODEL_DIR=models/default brownie run scripts/02_register_model.py --network sepolia-rpc

The registration commits to the ONNX file's SHA-256 (the model id), the feature schema, the card's
evaluation and the training data's Merkle root (see oracle/provenance.py), all recomputed here from
the bundle rather than trusted from the card.
"""

from __future__ import annotations

import os

from oracle.provenance import ModelCommitments, model_commitments

from .network_context import deployed, require_success, tx_params

DEFAULT_MODEL_DIR = "models/default"


def register_model(system, bundle_dir: str = DEFAULT_MODEL_DIR) -> ModelCommitments:
    """Register the bundle as the model registrar; returns the commitments registered."""
    commitments = model_commitments(bundle_dir)
    require_success(system.model_registry.register(*commitments.register_args(),
                                                   tx_params("model_registrar")))
    return commitments


def approve_model(system, model_id: bytes) -> None:
    require_success(system.model_registry.approve(model_id, tx_params("model_approver")))


def revoke_model(system, model_id: bytes, reason_code: int) -> None:
    """Revocation is final; scores made by the model stop approving loans at once."""
    require_success(system.model_registry.revoke(model_id, reason_code, tx_params("model_approver")))


def main():
    system = deployed()
    commitments = register_model(system, os.environ.get("SCORECHAIN_MODEL_DIR", DEFAULT_MODEL_DIR))
    approve_model(system, commitments.model_id)
    print(f"model 0x{commitments.model_id.hex()} v{commitments.version} registered and approved")
    return commitments
