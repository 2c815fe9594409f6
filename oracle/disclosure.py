"""A borrower's disclosure: what an auditor needs, besides the public chain and the model bundle,
to re-check a recorded score (`oracle verify --disclosure`).

    {"format": "scorechain-disclosure/1",
     "borrower": "0x…",
     "schema_hash": "0x…",            # SHA-256 of the feature schema the features follow
     "salt": "0x…",                   # the 32-byte salt of the features commitment
     "features": {name: value, …},    # the raw row as imported (validated again by the verifier)
     "record": {"tx_hash": "0x…"},    # optional: the transaction that recorded the score
     "anchor": {"root": "0x…", "proof": ["0x…", …], "batch_id": 1, "data_anchor": "0x…"},
                                      # optional: the record's proof in a DataAnchor batch
     "context": {"chain_id": 31337, "registry": "0x…"}}   # optional hints, never trusted

The node exports one from its store (`oracle disclose BORROWER --out FILE`), the borrower from
their own row of the data provider's CSV (`--csv`); the anchor proof comes from the batch's CSV
(`--batch-csv`), which only the data provider and the nodes hold. A disclosure is personal data:
it is written readable by its owner only and never logged; hand it only to whom the borrower
authorises.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from eth_utils import is_hex_address

from oracle.merkle import MerkleTree, leaf
from oracle.store import Store, UnknownBorrower
from oracle.typed_data import checksum

FORMAT = "scorechain-disclosure/1"


class DisclosureError(ValueError):
    pass


@dataclass(frozen=True)
class AnchorProof:
    root: bytes
    proof: tuple[bytes, ...]
    batch_id: int | None = None       # None: the verifier finds the batch by its root
    data_anchor: str | None = None

    def to_json(self) -> dict:
        return {"root": _hex(self.root), "proof": [_hex(p) for p in self.proof],
                "batch_id": self.batch_id, "data_anchor": self.data_anchor}


@dataclass(frozen=True)
class Disclosure:
    borrower: str
    schema_hash: bytes
    salt: bytes
    features: dict
    tx_hash: str | None = None
    anchor: AnchorProof | None = None
    context: dict | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"format": FORMAT, "borrower": self.borrower,
                               "schema_hash": _hex(self.schema_hash), "salt": _hex(self.salt),
                               "features": self.features}
        if self.tx_hash:
            out["record"] = {"tx_hash": self.tx_hash}
        if self.anchor:
            out["anchor"] = self.anchor.to_json()
        if self.context:
            out["context"] = self.context
        return out

    @classmethod
    def from_json(cls, data: Any) -> "Disclosure":
        """Strict: every problem is a DisclosureError naming the field."""
        if not isinstance(data, dict):
            raise DisclosureError("a disclosure is a JSON object")
        if data.get("format") != FORMAT:
            raise DisclosureError(f"format must be {FORMAT!r}, got {data.get('format')!r}")
        borrower = data.get("borrower")
        if not isinstance(borrower, str) or not is_hex_address(borrower):
            raise DisclosureError(f"borrower: not an address: {borrower!r}")
        features = data.get("features")
        if not isinstance(features, dict) or not features:
            raise DisclosureError("features: a non-empty object of feature values")
        record = data.get("record") or {}
        tx_hash = record.get("tx_hash") if isinstance(record, dict) else None
        if tx_hash is not None:
            _bytes32("record.tx_hash", tx_hash)
        anchor = None
        if data.get("anchor") is not None:
            a = data["anchor"]
            if not isinstance(a, dict) or not isinstance(a.get("proof"), list):
                raise DisclosureError("anchor: needs root and a proof list")
            batch_id = a.get("batch_id")
            if batch_id is not None and (isinstance(batch_id, bool)
                                         or not isinstance(batch_id, int) or batch_id < 1):
                raise DisclosureError(f"anchor.batch_id: a positive integer, got {batch_id!r}")
            where = a.get("data_anchor")
            if where is not None and not (isinstance(where, str) and is_hex_address(where)):
                raise DisclosureError(f"anchor.data_anchor: not an address: {where!r}")
            anchor = AnchorProof(_bytes32("anchor.root", a.get("root")),
                                 tuple(_bytes32("anchor.proof", p) for p in a["proof"]),
                                 batch_id, checksum(where) if where else None)
        context = data.get("context")
        return cls(checksum(borrower), _bytes32("schema_hash", data.get("schema_hash")),
                   _bytes32("salt", data.get("salt")), dict(features), tx_hash, anchor,
                   context if isinstance(context, dict) else None)


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _bytes32(name: str, value: Any) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != 32:
        raise DisclosureError(f"{name}: 0x + 64 hex digits, got {value!r}")
    return raw


# --- export ---------------------------------------------------------------------------------------
def from_store(store: Store, borrower: str) -> Disclosure:
    """The node's export of one borrower (features as imported, salt, schema hash)."""
    feats = store.get_features(borrower)
    return Disclosure(feats.address, bytes.fromhex(feats.schema_hash.removeprefix("0x")),
                      bytes(feats.salt), feats.row)


def _import_csv(schema: Mapping[str, Any], csv_path: str | Path) -> Store:
    """The CSV in a throw-away in-memory store: the same parsing and validation as the node's."""
    with open(csv_path, newline="") as fh:
        header = fh.readline()
    if "salt" not in [c.strip() for c in header.split(",")]:
        raise DisclosureError(f"{csv_path}: no salt column; without the data provider's salts "
                              "the features commitment cannot be reproduced")
    store = Store.open(":memory:")
    report = store.import_csv(schema, csv_path)
    if report.errors:
        store.close()
        line, msg = report.errors[0]
        raise DisclosureError(f"{csv_path}: {len(report.errors)} invalid rows (line {line}: {msg})")
    return store


def from_csv(schema: Mapping[str, Any], csv_path: str | Path, borrower: str) -> Disclosure:
    """The borrower's own export, from their row of the data provider's CSV (with its salt)."""
    store = _import_csv(schema, csv_path)
    try:
        return from_store(store, borrower)
    except UnknownBorrower:
        raise DisclosureError(f"{csv_path} has no row for {borrower}") from None
    finally:
        store.close()


def anchor_proof(schema: Mapping[str, Any], batch_csv: str | Path, borrower: str, *,
                 batch_id: int | None = None, data_anchor: str | None = None) -> AnchorProof:
    """The proof of `borrower`'s record in the batch a data provider anchored from `batch_csv`
    (leaf = (borrower, featuresHash), as scripts/03_onboard_borrowers.py builds it)."""
    records = _batch_records(schema, batch_csv)
    borrower = checksum(borrower)
    index = next((i for i, (a, _) in enumerate(records) if a == borrower), None)
    if index is None:
        raise DisclosureError(f"{batch_csv} has no row for {borrower}")
    tree = MerkleTree.build([leaf(a, h) for a, h in records])
    return AnchorProof(tree.root, tuple(tree.proof(index)), batch_id,
                       checksum(data_anchor) if data_anchor else None)


def batch_tree(schema: Mapping[str, Any], batch_csv: str | Path) -> MerkleTree:
    """The Merkle tree a data provider anchored from `batch_csv` (its public document is
    oracle.batch_doc.build of it)."""
    return MerkleTree.build([leaf(a, h) for a, h in _batch_records(schema, batch_csv)])


def _batch_records(schema: Mapping[str, Any], batch_csv: str | Path) -> list[tuple[str, bytes]]:
    store = _import_csv(schema, batch_csv)
    try:
        return [(a, store.get_features(a).features_hash) for a in store.borrowers()]
    finally:
        store.close()


def write(disclosure: Disclosure, path: str | Path) -> None:
    """Write readable by the owner only (personal data), replacing any earlier file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(disclosure.to_json(), fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read(path: str | Path) -> Disclosure:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DisclosureError(f"{path}: cannot read a disclosure: {exc}") from None
    return Disclosure.from_json(data)

