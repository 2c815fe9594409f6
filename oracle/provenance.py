"""What a model registration commits to on chain (ModelRegistry.register), recomputable by anyone.

    modelId            the bundle id: SHA-256 of the bundle's manifest.json (models.manifest),
                       which lists the SHA-256 of the ONNX file, the feature schema and
                       reference.json (reference values, reason-code table) and names the
                       serving rules; so the id covers everything that determines a signed output
    featureSchemaHash  SHA-256 of the feature schema's canonical JSON (models.schema.schema_hash)
    metricsHash        SHA-256 of the canonical JSON of the model card's `evaluation` section
    datasetRoot        Merkle root (oracle.merkle, DataAnchor's leaf encoding) of the training rows:
                       the frozen training split, where
                       record_i = keccak256(uint64 rowIndex big-endian || the row's float32
                       values, little-endian IEEE 754, schema order || uint8 label) and
                       leaf_i = leaf(address(0), record_i).

So an auditor holding the public data set can prove that a row was (or was not) in a model's
training data, and that the card's metrics are the ones registered.

The registration's URI is ``ipfs://<cid>``: the IPFS CIDv1 of the whole bundle directory
(``oracle.content_id``, as `ipfs add --cid-version 1 -r` gives it), so the published bundle,
card included, can be fetched and checked by address; the approver refuses a registration whose
URI names another CID. Registrations from before content ids have another URI ("no CID recorded").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_hash.auto import keccak

from oracle import content_id
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
    bundle_cid: str  # IPFS CIDv1 of the bundle directory

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
    return _rows_root(data.X, data.y, splits.train_idx)


def csv_dataset_root(schema: dict, training_data: dict, data_csv: str | Path) -> bytes:
    """The same root for a bundle trained on a user's CSV (``python -m models train --csv``):
    the training split rebuilt from that file, which must be the one the card names (SHA-256)."""
    from models.datacheck import DataError
    from models.owncsv import training_rows

    try:
        X, y, train_idx = training_rows(data_csv, schema, training_data)
    except DataError as exc:
        raise ProvenanceError(f"training data: {exc}") from None
    return _rows_root(X, y, train_idx)


def _rows_root(X, y, train_idx) -> bytes:
    return MerkleTree.build([training_row_leaf(int(i), X[i], int(y[i])) for i in train_idx]).root


def federation_root(run_dir: str | Path) -> bytes:
    """A federation's training-data commitment (issue 15): the OpenZeppelin-layout Merkle root of
    one leaf per accepted update of every round, (lender address, keccak256(abi.encode(round,
    update SHA-256))), and one per statistics answer, (lender address, keccak256(abi.encode(
    phase, answer SHA-256))) with the phase as a string, from the run's ``run.json``. The rounds' own roots are anchored in
    DataAnchor (scripts/federation_anchor.py); a consortium member proves every aggregate from
    the updates (``python -m models federated verify``)."""
    from eth_abi import encode

    doc = json.loads((Path(run_dir) / "run.json").read_text())
    leaves = [leaf(u["address"], keccak(encode(["uint256", "bytes32"],
                                               [int(r["round"]), bytes.fromhex(u["sha256"])])))
              for r in doc["records"] for u in r["updates"]]
    # the statistics answers the preprocessing and the bundle's references were built from
    leaves += [leaf(u["address"], keccak(encode(["string", "bytes32"],
                                                [phase, bytes.fromhex(u["sha256"])])))
               for phase, recs in doc.get("statistics", {}).items() for u in recs]
    if not leaves:
        raise ProvenanceError(f"{run_dir}: the federation recorded no update")
    return MerkleTree.build(leaves).root


def model_commitments(bundle_dir: str | Path, *, uri: str | None = None,
                      data_csv: str | Path | None = None,
                      federation_run: str | Path | None = None) -> ModelCommitments:
    """Everything ModelRegistry.register needs for the bundle in `bundle_dir`, cross-checked.

    Raises ProvenanceError (naming the file) if any file differs from the bundle's manifest, the
    ONNX file from its card or reference.json, or the schema from reference.json: an edited
    reference.json, reason table or schema cannot be registered under an id that hides it.
    A bundle trained on a user's CSV needs that file (`data_csv`) for its training-data root, a
    federation's bundle its run directory (`federation_run`, :func:`federation_root`).
    The URI defaults to ``ipfs://`` + the bundle directory's CID.
    """
    from models import manifest
    from models.schema import schema_hash

    bundle_dir = Path(bundle_dir)
    try:
        files = manifest.read_files(bundle_dir)
        bundle_id = manifest.check(files)
    except manifest.BundleIntegrityError as exc:
        raise ProvenanceError(f"model bundle {bundle_dir}: {exc}") from None
    ref = json.loads(files.reference)
    card = json.loads((bundle_dir / "model_card.json").read_text())
    onnx_sha = hashlib.sha256(files.onnx).hexdigest()
    if onnx_sha != card["model_id"] or onnx_sha != ref["model_sha256"]:
        raise ProvenanceError(
            f"{ref['onnx_file']}: SHA-256 {onnx_sha} differs from its card or reference.json")
    if card.get("bundle_id", bundle_id) != bundle_id:
        raise ProvenanceError(f"model_card.json names bundle {card['bundle_id']}, the manifest "
                              f"gives {bundle_id}")
    schema_sha = schema_hash(json.loads(files.schema))
    if schema_sha != ref["feature_schema_sha256"]:
        raise ProvenanceError("feature schema hash differs from reference.json")
    if data_csv is not None and bundle_dir.resolve() in Path(data_csv).resolve().parents:
        # the registered URI publishes the whole directory; training rows are personal data
        raise ProvenanceError(f"the training CSV {data_csv} is inside the bundle directory, "
                              "whose content id is published: keep it outside")
    try:
        bundle_cid = content_id.path_cid(bundle_dir)
    except content_id.ContentIdError as exc:
        raise ProvenanceError(f"model bundle {bundle_dir}: {exc}") from None
    training = card["training_data"]
    card_root = training.get("dataset_root")
    if card_root is not None:
        root = bytes.fromhex(card_root.removeprefix("0x"))
    elif "federation" in training:
        fed = training["federation"]
        if federation_run is None:
            raise ProvenanceError(f"model bundle {bundle_dir} was trained by federation "
                                  f"{fed['id']}: give its run directory "
                                  "(SCORECHAIN_MODEL_FEDERATION) to commit to its rounds")
        run = json.loads((Path(federation_run) / "run.json").read_text())
        if run["federation"] != fed["id"] or run["final_sha256"] != fed["final_aggregate_sha256"]:
            raise ProvenanceError(f"{federation_run} is not the run of federation {fed['id']} "
                                  "that made this bundle")
        root = federation_root(federation_run)
    elif "data_file" in training:
        if data_csv is None:
            raise ProvenanceError(f"model bundle {bundle_dir} was trained on "
                                  f"{training['data_file']['name']}: give that CSV "
                                  "(SCORECHAIN_MODEL_DATA) to commit to its training rows")
        root = csv_dataset_root(json.loads(files.schema), training, data_csv)
    else:
        root = dataset_root(training["dataset"])
    return ModelCommitments(
        model_id=bytes.fromhex(bundle_id),
        feature_schema_hash=bytes.fromhex(schema_sha),
        metrics_hash=metrics_hash(card),
        dataset_root=root,
        version=int(card["version"]),
        uri=uri or content_id.uri(bundle_cid),
        bundle_cid=bundle_cid,
    )


def metrics_hash(card: dict) -> bytes:
    """SHA-256 of the canonical JSON of a model card's `evaluation` section."""
    return hashlib.sha256(canonical_json(card["evaluation"])).digest()


MODEL_STATUS = ("None", "Registered", "Approved", "Revoked")  # IModelRegistry.ModelStatus
# IModelRegistry.Model's fields in the struct's order (checked against the ABI by a test), so a
# getModel tuple is read by name, not by a position that moves when the struct grows.
MODEL_FIELDS = ("metricsHash", "datasetRoot", "featureSchemaHash", "registrar", "registeredAt", "status",
                "revokeReason", "index", "approver", "approvedAt", "version", "uri")


def model_field(record, name: str):
    """Field `name` of a ModelRegistry.getModel result (a tuple in the struct's order, or an object
    with its field names)."""
    return getattr(record, name) if hasattr(record, name) else record[MODEL_FIELDS.index(name)]


def registration_mismatches(record, commitments: ModelCommitments) -> list[str]:
    """What differs between ModelRegistry.getModel(modelId) (a tuple in the struct's order, or an
    object with its field names) and a bundle's recomputed commitments; [] if they agree.
    The version is a label and not compared; the URI is compared only when it records a CID
    (``ipfs://<cid>``), which must be the bundle directory's."""
    if int(model_field(record, "status")) == 0:
        return [f"model 0x{commitments.model_id.hex()} is not registered"]
    out = []
    for name, want in (("metricsHash", commitments.metrics_hash),
                       ("datasetRoot", commitments.dataset_root),
                       ("featureSchemaHash", commitments.feature_schema_hash)):
        have = bytes(model_field(record, name))
        if have != want:
            out.append(f"registered {name} 0x{have.hex()} != bundle's 0x{want.hex()}")
    _, problem = content_id.compare_uri(str(model_field(record, "uri")), commitments.bundle_cid)
    if problem:
        out.append(f"bundle: {problem}")
    return out
