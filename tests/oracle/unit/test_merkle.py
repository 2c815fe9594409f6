"""Merkle trees of credit-data records (oracle.merkle) — the off-chain half of DataAnchor, held byte
for byte to OpenZeppelin's @openzeppelin/merkle-tree (run offline from node_modules)."""

import random

import pytest
from eth_utils import to_checksum_address

from scripts.toolchain.merkle_vectors import npm_vectors, random_records
from oracle.merkle import (
    MerkleError,
    MerkleTree,
    hash_pair,
    leaf,
    process_multiproof,
    process_proof,
    verify,
    verify_multiproof,
)

SIZES = [1, 2, 3, 7, 36]


def hexes(nodes):
    return ["0x" + bytes(n).hex() for n in nodes]


@pytest.mark.parametrize("n", SIZES)
def test_root_tree_and_proofs_are_byte_identical_to_the_npm_library(n):
    records = random_records(n, seed=1100 + n)
    subsets = [[0], list(range(n)), sorted(random.Random(n).sample(range(n), (n + 1) // 2))]
    npm = npm_vectors(records, subsets)
    tree = MerkleTree.of(records)
    assert "0x" + tree.root.hex() == npm["root"]
    assert hexes(tree.tree) == npm["tree"]
    for i, (subject, record_hash) in enumerate(records):
        assert "0x" + tree.leaf_at(i).hex() == npm["leaves"][i]
        assert hexes(tree.proof(i)) == npm["proofs"][i]
        assert verify(tree.proof(i), tree.root, subject, record_hash)
    for subset, expected in zip(subsets, npm["multiproofs"]):
        mp = tree.multiproof(subset)
        assert list(mp.indices) == expected["indices"]
        assert hexes(mp.leaves) == expected["leaves"]
        assert hexes(mp.proof) == expected["proof"]
        assert list(mp.proof_flags) == expected["proofFlags"]
        assert verify_multiproof(list(mp.proof), list(mp.proof_flags), tree.root,
                                 [records[i] for i in mp.indices])


def test_leaves_are_sorted_by_hash_into_the_end_of_the_array_in_reverse():
    records = random_records(5, seed=7)
    tree = MerkleTree.of(records)
    leaves = sorted(leaf(s, h) for s, h in records)
    assert list(tree.tree[-1:-6:-1]) == leaves
    assert tree.tree[0] == hash_pair(tree.tree[1], tree.tree[2])
    # Unsorted (sortLeaves: false) keeps the input order and gives another root.
    unsorted = MerkleTree.build([leaf(s, h) for s, h in records], sort_leaves=False)
    assert list(unsorted.tree[-1:-6:-1]) == [leaf(s, h) for s, h in records]
    assert unsorted.root != tree.root


def test_an_inner_node_with_a_shortened_proof_is_not_a_record():
    records = random_records(4, seed=4)
    tree = MerkleTree.of(records)
    inner, sibling = tree.tree[1], tree.tree[2]  # hash of two leaves, and the other pair's hash
    # At the raw level the attack works: the inner node and a one-element proof give the root ...
    assert process_proof(inner, [sibling]) == tree.root
    # ... but a record's leaf is double-hashed, so no record stands for the inner node.
    left, right = tree.tree[3], tree.tree[4]
    for subject, record_hash in [(to_checksum_address(left[12:]), right),
                                 (records[0][0], inner), (records[1][0], inner)]:
        assert not verify([sibling], tree.root, subject, record_hash)


def test_tampered_record_or_sibling_does_not_prove():
    records = random_records(6, seed=6)
    tree = MerkleTree.of(records)
    subject, record_hash = records[2]
    assert not verify(tree.proof(2), tree.root, subject, bytes(31) + b"\x01")
    assert not verify(tree.proof(2), tree.root, records[3][0], record_hash)
    proof = tree.proof(2)
    proof[0] = bytes(32)
    assert not verify(proof, tree.root, subject, record_hash)


def test_single_leaf_tree_root_is_the_leaf_and_pairs_hash_commutatively():
    (s, h), = random_records(1, seed=1)
    tree = MerkleTree.of([(s, h)])
    assert tree.root == leaf(s, h) and tree.proof(0) == []
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a)


def test_bad_input_is_rejected():
    records = random_records(3, seed=3)
    tree = MerkleTree.of(records)
    with pytest.raises(MerkleError):
        MerkleTree.build([])
    with pytest.raises(MerkleError):
        MerkleTree.build([b"short"])
    with pytest.raises(MerkleError):
        leaf(records[0][0], b"short")
    with pytest.raises(MerkleError):
        leaf("0x1234", bytes(32))
    with pytest.raises(MerkleError):
        tree.proof(3)
    with pytest.raises(MerkleError):
        tree.multiproof([1, 1])
    with pytest.raises(MerkleError):
        verify_multiproof([tree.root], [], tree.root, [])  # no records would "prove" the root
    with pytest.raises(MerkleError):
        process_multiproof([tree.leaf_at(0)], [], [False])  # a false flag without a sibling
