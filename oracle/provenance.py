"""What a model registration commits to on chain (ModelRegistry.register), recomputable by anyone.

    modelId            SHA-256 of the ONNX file bytes
    featureSchemaHash  SHA-256 of the feature schema's canonical JSON (models.schema.schema_hash)
    metricsHash        SHA-256 of the canonical JSON of the model card's `evaluation` section
    datasetRoot        Merkle root (oracle.merkle, DataAnchor's leaf encoding) of the training rows:
                       the frozen training split, where
                       record_i = keccak256(uint64 rowIndex big-endian || the row's float32
                       values, little-endian IEEE 754, schema order || uint8 label) and
                       leaf_i = leaf(address(0), record_i).

So an auditor holding the public data set can prove that a row was (or was not) in a model's
training data, and that the card's metrics are the ones registered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_hash.auto import keccak

from oracle.merkle import MerkleTree, leaf

ZERO_ADDRESS = "0x" + "00" * 20


class ProvenanceError(ValueError):
    """A bundle's files disagree with each other or with its model card."""


@dataclass(frozen=True)
class ModelCommitments:
    model_id: bytes
    feature_schema_hash: bytes
    metrics_hash: bytes
    dataset_root: bytes
    version: int
    uri: str

    def register_args(self) -> tuple:
        """Arguments of ModelRegistry.register, in order."""
        return (self.model_id, self.metrics_hash, self.dataset_root, self.feature_schema_hash,
                self.uri, self.version)


def canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def training_row_leaf(index: int, row, label: int) -> bytes:
    values = np.asarray(row, dtype="<f4").tobytes()
    record = keccak(int(index).to_bytes(8, "big") + values + bytes([int(label)]))
    return leaf(ZERO_ADDRESS, record)


def dataset_root(dataset_name: str) -> bytes:
    """Merkle root over the frozen training split of a registered data set (a few seconds)."""
    from models.data import load_dataset, make_splits

    data = load_dataset(dataset_name)
    splits = make_splits(data.y, data.X)
    leaves = [training_row_leaf(int(i), data.X[i], int(data.y[i])) for i in splits.train_idx]
    return MerkleTree.build(leaves).root


def model_commitments(bundle_dir: str | Path, *, uri: str | None = None) -> ModelCommitments:
    """Everything ModelRegistry.register needs for the bundle in `bundle_dir`, cross-checked."""
    from models.schema import schema_hash

    bundle_dir = Path(bundle_dir)
    ref = json.loads((bundle_dir / "reference.json").read_text())
    card = json.loads((bundle_dir / "model_card.json").read_text())
    onnx_bytes = (bundle_dir / ref["onnx_file"]).read_bytes()
    model_id = hashlib.sha256(onnx_bytes).hexdigest()
    if model_id != card["model_id"] or model_id != ref["model_sha256"]:
        raise ProvenanceError(
            f"{ref['onnx_file']}: SHA-256 {model_id} differs from its card or reference.json")
    schema = json.loads((bundle_dir / ref["schema_file"]).read_text())
    schema_sha = schema_hash(schema)
    if schema_sha != ref["feature_schema_sha256"]:
        raise ProvenanceError("feature schema hash differs from reference.json")
    card_root = card["training_data"].get("dataset_root")
    root = dataset_root(card["training_data"]["dataset"]) if card_root is None else bytes.fromhex(
        card_root.removeprefix("0x"))
    return ModelCommitments(
        model_id=bytes.fromhex(model_id),
        feature_schema_hash=bytes.fromhex(schema_sha),
        metrics_hash=hashlib.sha256(canonical_json(card["evaluation"])).digest(),
        dataset_root=root,
        version=int(card["version"]),
        uri=uri or f"scorechain://models/{card['name']}/v{card['version']}/{ref['onnx_file']}",
    )
