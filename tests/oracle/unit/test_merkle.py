"""Merkle trees of credit-data records (oracle.merkle) — the off-chain half of DataAnchor."""

import pytest
from eth_account import Account

from oracle.merkle import MerkleError, MerkleTree, hash_pair, leaf, verify


def _records(n):
    return [(Account.create().address, bytes([i % 256]) * 32) for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_every_leaf_proves_against_the_root(n):
    leaves = [leaf(s, h) for s, h in _records(n)]
    tree = MerkleTree.build(leaves)
    for i, lf in enumerate(leaves):
        assert verify(tree.proof(i), tree.root, lf)


def test_tampered_leaf_or_sibling_does_not_prove():
    records = _records(6)
    leaves = [leaf(s, h) for s, h in records]
    tree = MerkleTree.build(leaves)
    subject, record_hash = records[2]
    tampered = leaf(subject, bytes(31) + b"\x01")
    assert not verify(tree.proof(2), tree.root, tampered)
    proof = tree.proof(2)
    proof[0] = bytes(32)
    assert not verify(proof, tree.root, leaves[2])


def test_single_leaf_tree_root_is_the_leaf_and_pairs_hash_commutatively():
    (s, h), = _records(1)
    assert MerkleTree.build([leaf(s, h)]).root == leaf(s, h)
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a)


def test_bad_input_is_rejected():
    with pytest.raises(MerkleError):
        MerkleTree.build([])
    with pytest.raises(MerkleError):
        leaf(Account.create().address, b"short")
    with pytest.raises(MerkleError):
        MerkleTree.build([bytes(32)]).proof(1)
