"""Merkle trees of credit-data records, verifiable on chain by DataAnchor (OpenZeppelin MerkleProof).

Leaf encoding, as in OpenZeppelin's StandardMerkleTree with leaf types ["address", "bytes32"]:
``leaf = keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash))))``. Inner nodes hash
the sorted pair (OpenZeppelin's commutative hashing), so a proof is just the list of siblings. An
odd node at the end of a level moves up unchanged. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak
from eth_utils import is_hex_address


class MerkleError(ValueError):
    pass


def leaf(subject: str, record_hash: bytes) -> bytes:
    if len(record_hash) != 32:
        raise MerkleError("record hash must be 32 bytes")
    if not is_hex_address(subject):
        raise MerkleError(f"not an address: {subject!r}")
    # abi.encode(address, bytes32): the address left-padded to 32 bytes, then the hash.
    encoded = bytes(12) + bytes.fromhex(subject[2:]) + record_hash
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass(frozen=True)
class MerkleTree:
    levels: tuple[tuple[bytes, ...], ...]  # levels[0] = leaves, levels[-1] = (root,)

    @classmethod
    def build(cls, leaves: list[bytes]) -> "MerkleTree":
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one leaf")
        levels = [tuple(leaves)]
        while len(levels[-1]) > 1:
            current = levels[-1]
            parents = [hash_pair(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)]
            if len(current) % 2:
                parents.append(current[-1])
            levels.append(tuple(parents))
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < len(self.levels[0]):
            raise MerkleError(f"leaf index {index} out of range")
        siblings = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                siblings.append(level[sibling])
            index //= 2
        return siblings


def verify(proof: list[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """The same computation as OpenZeppelin's MerkleProof.verify."""
    node = leaf_hash
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root
