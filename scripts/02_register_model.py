"""02 — register a model bundle in ModelRegistry and approve it (four eyes: two accounts).

    brownie run scripts/02_register_model.py --network development
    SCORECHAIN_MODEL_DIR=models/default brownie run scripts/02_register_model.py --network sepolia-rpc
    SCORECHAIN_MODEL_DIR=build/models/loans/bundle SCORECHAIN_MODEL_DATA=loans.csv brownie run …
    (a bundle from `python -m models train --csv`: its training CSV gives the data root)
    SCORECHAIN_MODEL_DIR=build/fl-bundle SCORECHAIN_MODEL_FEDERATION=build/federation/run1 brownie run …
    (a bundle from `python -m models federated run --export`: the run's rounds give the data root)
    SCORECHAIN_MODEL_DIR=build/zk-bench/scorecard SCORECHAIN_MODEL_ZK=build/zk/<id> brownie run …
    (a provable bundle with its circuit, `python -m models zk setup`: its verifier is deployed and
    attached before approval, so scores of it may also be recorded by proof)

The registration commits to the bundle id (the SHA-256 of the bundle's manifest, which covers the
ONNX bytes, reference values, reason-code table and schema: the model id), the feature schema, the
card's evaluation and the training data's Merkle root (see oracle/provenance.py), all recomputed
here from the bundle rather than trusted from the card. The approver recomputes them again from
the bundle they reviewed and approves only if the registration matches: a file edited after
registration (reference.json, the reason table, the schema, the ONNX file) is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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
                  federation_run: str | None = None,
                  zk_dir: str | None = None) -> ModelCommitments:
    """Approve, as the model approver, the bundle in `bundle_dir` after checking it: its files
    must match its manifest (so its id) and ModelRegistry's record of that id must hold the
    commitments recomputed from it (and, with `zk_dir`, its circuit: see circuit_mismatches).
    Raises ProvenanceError / ApprovalRefused otherwise."""
    commitments = model_commitments(bundle_dir, data_csv=data_csv, federation_run=federation_run)
    problems = registration_mismatches(system.model_registry.getModel(commitments.model_id),
                                       commitments)
    if zk_dir:
        problems += circuit_mismatches(system, commitments.model_id, zk_dir)
    if problems:
        raise ApprovalRefused(f"not approving {bundle_dir}: " + "; ".join(problems))
    require_success(system.model_registry.approve(commitments.model_id,
                                                  tx_params("model_approver")))
    return commitments


def attach_circuit(system, model_id: bytes, zk_dir: str):
    """As the registrar, before approval: deploy the circuit's verifier (EZKL's Halo2Verifier,
    compiled with the project's solc) and record it with the verifying key's hash
    (ModelRegistry.setZkCircuit). Returns the verifier's address."""
    from models import zk

    info = _circuit_info(model_id, zk_dir)
    compiled = zk.evm_verifier(Path(zk_dir))
    # the exact bytecode compiled there, so its code hash is the one the approver recomputes
    params = tx_params("model_registrar")
    tx = params.pop("from").transfer(data="0x" + compiled["bytecode"], **params)
    require_success(tx)
    verifier = tx.contract_address
    require_success(system.model_registry.setZkCircuit(model_id, verifier, "0x" + info["vk_sha256"],
                                                       info["output_scale"], tx_params("model_registrar")))
    return verifier


def _circuit_info(model_id: bytes, zk_dir: str) -> dict:
    info = json.loads((Path(zk_dir) / "zk.json").read_text())
    if info.get("bundle_id") != model_id.hex():
        raise ApprovalRefused(f"the circuit in {zk_dir} is for model 0x{info.get('bundle_id')}, "
                              f"not 0x{model_id.hex()}")
    return info


def circuit_mismatches(system, model_id: bytes, zk_dir: str) -> list[str]:
    """What the approver checks of a circuit: the registry records this circuit's verifying key
    and scale, and the verifier's code is what EZKL renders from that key, compiled here."""
    from brownie import web3

    from models import zk

    info = _circuit_info(model_id, zk_dir)
    verifier, vk_hash, scale = system.model_registry.zkCircuit(model_id)
    problems = []
    if bytes(vk_hash).hex() != info["vk_sha256"]:
        problems.append(f"recorded vk hash 0x{bytes(vk_hash).hex()} is not the circuit's")
    if int(scale) != info["output_scale"]:
        problems.append(f"recorded scale {scale} is not the circuit's {info['output_scale']}")
    expected = zk.evm_verifier(Path(zk_dir))["deployed_code_keccak"]
    if web3.keccak(web3.eth.get_code(verifier)).hex().removeprefix("0x") != expected:
        problems.append(f"the verifier at {verifier} is not the one rendered from the vk")
    return problems


def revoke_model(system, model_id: bytes, reason_code: int) -> None:
    """Revocation is final; scores made by the model stop approving loans at once."""
    require_success(system.model_registry.revoke(model_id, reason_code, tx_params("model_approver")))


def main():
    system = deployed()
    bundle_dir = os.environ.get("SCORECHAIN_MODEL_DIR", DEFAULT_MODEL_DIR)
    data_csv = os.environ.get("SCORECHAIN_MODEL_DATA") or None
    federation_run = os.environ.get("SCORECHAIN_MODEL_FEDERATION") or None
    zk_dir = os.environ.get("SCORECHAIN_MODEL_ZK") or None
    commitments = register_model(system, bundle_dir, data_csv, federation_run)
    if zk_dir:
        verifier = attach_circuit(system, commitments.model_id, zk_dir)
        print(f"circuit {zk_dir}: verifier {verifier} attached")
    approve_model(system, bundle_dir, data_csv, federation_run, zk_dir)
    print(f"model 0x{commitments.model_id.hex()} v{commitments.version} registered and approved")
    return commitments
