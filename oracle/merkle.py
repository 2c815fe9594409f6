"""Merkle trees of credit-data records, laid out exactly as OpenZeppelin's StandardMerkleTree.

Byte-identical to ``StandardMerkleTree.of(values, ["address", "bytes32"])`` of
``@openzeppelin/merkle-tree`` 1.0.x (default options), so roots and proofs made here or by the npm
library are interchangeable, and DataAnchor (OpenZeppelin MerkleProof) verifies both:

* leaf = ``keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash))))``. The double hash
  keeps leaves apart from inner nodes (a node hashes 64 bytes once), so an inner node cannot pass
  as a leaf with a shortened proof (second preimage);
* inner node = ``keccak256(min(a, b) || max(a, b))`` (OpenZeppelin's commutative hash);
* leaves are sorted by hash (stable, ``sortLeaves: true``) and the tree is a complete binary tree in
  one array: ``tree[0]`` is the root, ``tree[i]`` has children ``tree[2i+1]`` and ``tree[2i+2]``,
  and the ``n`` sorted leaves fill the last ``n`` slots in reverse order;
* a proof is the list of siblings from the leaf up; a multiproof is what ``getMultiProof`` returns
  and ``MerkleProof.multiProofVerify`` consumes.

Leaves are addressed by their position in the input (``valueIndex``), as in the npm library.
Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak
from eth_utils import is_hex_address


class MerkleError(ValueError):
    pass


def leaf(subject: str, record_hash: bytes) -> bytes:
    """StandardMerkleTree's leaf hash of the value ``[subject, record_hash]`` (address, bytes32)."""
    if len(record_hash) != 32:
        raise MerkleError("record hash must be 32 bytes")
    if not is_hex_address(subject):
        raise MerkleError(f"not an address: {subject!r}")
    # abi.encode(address, bytes32): the address left-padded to 32 bytes, then the hash.
    encoded = bytes(12) + bytes.fromhex(subject[2:]) + record_hash
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """An inner node: OpenZeppelin's commutative keccak256 of two nodes."""
    return keccak(a + b) if a < b else keccak(b + a)


def _check_node(node: bytes) -> None:
    if len(node) != 32:
        raise MerkleError("Merkle tree nodes must be 32 bytes")


@dataclass(frozen=True)
class Multiproof:
    """A multiproof as ``getMultiProof`` returns it; ``indices`` are the values' input positions,
    in the order of ``leaves`` (the order MerkleProof.multiProofVerify needs)."""

    indices: tuple[int, ...]
    leaves: tuple[bytes, ...]
    proof: tuple[bytes, ...]
    proof_flags: tuple[bool, ...]


@dataclass(frozen=True)
class MerkleTree:
    tree: tuple[bytes, ...]  # array layout: tree[0] = root, children of i at 2i+1 and 2i+2
    tree_index: tuple[int, ...]  # tree_index[valueIndex] = position of that value's leaf in tree

    @classmethod
    def build(cls, leaves: list[bytes], *, sort_leaves: bool = True) -> "MerkleTree":
        """The tree over already-hashed leaves (see ``leaf``), in input order."""
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one leaf")
        for node in leaves:
            _check_node(node)
        order = list(range(len(leaves)))
        if sort_leaves:
            order.sort(key=lambda i: leaves[i])  # stable, like Array.prototype.sort
        size = 2 * len(leaves) - 1
        tree: list[bytes] = [b""] * size
        tree_index = [0] * len(leaves)
        for position, value_index in enumerate(order):
            tree[size - 1 - position] = leaves[value_index]
            tree_index[value_index] = size - 1 - position
        for i in range(size - 1 - len(leaves), -1, -1):
            tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
        return cls(tuple(tree), tuple(tree_index))

    @classmethod
    def of(cls, records: list[tuple[str, bytes]]) -> "MerkleTree":
        """``StandardMerkleTree.of(records, ["address", "bytes32"])``."""
        return cls.build([leaf(subject, record_hash) for subject, record_hash in records])

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def __len__(self) -> int:
        return len(self.tree_index)

    def leaf_at(self, index: int) -> bytes:
        return self.tree[self._tree_index(index)]

    def proof(self, index: int) -> list[bytes]:
        """Siblings from the leaf of value ``index`` (input position) up to the root."""
        node = self._tree_index(index)
        siblings = []
        while node > 0:
            siblings.append(self.tree[node - 1 if node % 2 == 0 else node + 1])
            node = (node - 1) // 2
        return siblings

    def multiproof(self, indices: list[int]) -> Multiproof:
        """One proof for several values (input positions), as ``getMultiProof`` builds it."""
        nodes = sorted((self._tree_index(i) for i in indices), reverse=True)
        if len(set(nodes)) != len(nodes):
            raise MerkleError("cannot prove a duplicated index")
        value_of = {self.tree_index[i]: i for i in indices}
        queue = list(nodes)
        proof: list[bytes] = []
        flags: list[bool] = []
        while queue and queue[0] > 0:
            j = queue.pop(0)
            sibling = j - 1 if j % 2 == 0 else j + 1
            if queue and queue[0] == sibling:
                flags.append(True)
                queue.pop(0)
            else:
                flags.append(False)
                proof.append(self.tree[sibling])
            queue.append((j - 1) // 2)
        if not nodes:
            proof.append(self.tree[0])
        return Multiproof(
            indices=tuple(value_of[n] for n in nodes),
            leaves=tuple(self.tree[n] for n in nodes),
            proof=tuple(proof),
            proof_flags=tuple(flags),
        )

    def _tree_index(self, index: int) -> int:
        if not 0 <= index < len(self.tree_index):
            raise MerkleError(f"leaf index {index} out of range")
        return self.tree_index[index]


def process_proof(leaf_hash: bytes, proof: list[bytes]) -> bytes:
    """The root a proof leads to from a raw node (OpenZeppelin's MerkleProof.processProof).

    Low level: any node, inner ones included, goes in. To check a record use ``verify``."""
    _check_node(leaf_hash)
    node = leaf_hash
    for sibling in proof:
        _check_node(sibling)
        node = hash_pair(node, sibling)
    return node


def process_multiproof(leaves: list[bytes], proof: list[bytes], proof_flags: list[bool]) -> bytes:
    """The root a multiproof leads to (OpenZeppelin's MerkleProof.processMultiProof); raw nodes."""
    if len(leaves) + len(proof) != len(proof_flags) + 1 or proof_flags.count(False) != len(proof):
        raise MerkleError("invalid multiproof")
    queue, siblings = list(leaves), list(proof)
    for flag in proof_flags:
        a = queue.pop(0)
        b = queue.pop(0) if flag else siblings.pop(0)
        queue.append(hash_pair(a, b))
    return queue[-1] if queue else siblings[0]


def verify(proof: list[bytes], root: bytes, subject: str, record_hash: bytes) -> bool:
    """True if the record (subject, record_hash) is in the tree with ``root``; hashes the leaf
    itself, as DataAnchor.verifyRecord does."""
    return process_proof(leaf(subject, record_hash), proof) == root


def verify_multiproof(multiproof_proof: list[bytes], proof_flags: list[bool], root: bytes,
                      records: list[tuple[str, bytes]]) -> bool:
    """True if all ``records`` (in multiproof order) are in the tree with ``root``; as
    DataAnchor.verifyRecords. An empty record list proves nothing and is rejected."""
    if not records:
        raise MerkleError("a multiproof needs at least one record")
    leaves = [leaf(subject, record_hash) for subject, record_hash in records]
    return process_multiproof(leaves, list(multiproof_proof), list(proof_flags)) == root
