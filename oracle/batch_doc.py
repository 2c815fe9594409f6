"""The public part of an anchored credit-data batch: the document its DataAnchor URI addresses.

    {"format":"scorechain-anchored-batch/1","leaf_encoding":"…","leaves":["0x…",…],"root":"0x…"}

canonical JSON (sorted keys, no spaces, one trailing newline), so the same batch always gives the
same bytes and so the same IPFS CID (``oracle.content_id``), which the data provider anchors as
``ipfs://<cid>`` beside the Merkle root. ``leaves`` are the tree's leaf hashes in the tree's own
(sorted) order: enough for anyone to rebuild the root, count the records and hand out proofs, and
nothing else. A leaf is keccak256 of keccak256(abi.encode(borrower, featuresHash)) and
featuresHash is salted, so without a borrower's disclosure no one can tell which leaf, if any, is
theirs: the document carries no address, no feature, no salt and no row order. The features CSV
holds personal data and is never content-addressed for publication.

Pure functions over bytes.
"""

from __future__ import annotations

import json

from oracle.merkle import MerkleError, MerkleTree

FORMAT = "scorechain-anchored-batch/1"
LEAF_ENCODING = ("keccak256(keccak256(abi.encode(address borrower, bytes32 featuresHash))), "
                 "OpenZeppelin StandardMerkleTree")


class BatchDocError(ValueError):
    """Not an anchored-batch document, or one whose leaves do not give its root."""


def build(tree: MerkleTree) -> bytes:
    """The document of an anchored batch's tree (only its leaf hashes and root)."""
    leaves = sorted(tree.leaf_at(i) for i in range(len(tree)))
    doc = {"format": FORMAT, "leaf_encoding": LEAF_ENCODING, "root": "0x" + tree.root.hex(),
           "leaves": ["0x" + h.hex() for h in leaves]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def parse(data: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    """(root, leaves) of a document, after checking the leaves rebuild the root it states."""
    try:
        doc = json.loads(data)
        fmt, root_hex, leaves_hex = doc["format"], doc["root"], doc["leaves"]
        if not isinstance(leaves_hex, list):
            raise TypeError("leaves is not a list")
        root = _word(root_hex)
        leaves = tuple(_word(h) for h in leaves_hex)
    except (ValueError, KeyError, TypeError) as exc:
        raise BatchDocError(f"not an anchored-batch document: {exc}") from None
    if fmt != FORMAT:
        raise BatchDocError(f"format {fmt!r}, expected {FORMAT!r}")
    try:
        rebuilt = MerkleTree.build(list(leaves)).root
    except MerkleError as exc:
        raise BatchDocError(f"its leaves do not form a tree: {exc}") from None
    if rebuilt != root:
        raise BatchDocError(f"its leaves give root 0x{rebuilt.hex()}, it states 0x{root.hex()}")
    return root, leaves


def _word(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x") or len(text) != 66:
        raise ValueError(f"{text!r} is not a 0x-prefixed 32-byte hex string")
    return bytes.fromhex(text[2:])
