"""The public document of an anchored batch (oracle.batch_doc): it rebuilds the anchored root,
carries only leaf hashes (no address, features hash, salt or row order), and is refused when
edited."""

import json

import pytest

from oracle import batch_doc
from oracle.merkle import MerkleTree
from scripts.toolchain.merkle_vectors import random_records


def test_the_document_rebuilds_the_root_and_holds_only_leaf_hashes():
    records = random_records(36, seed=17)
    tree = MerkleTree.of(records)
    data = batch_doc.build(tree)
    root, leaves = batch_doc.parse(data)
    assert root == tree.root and len(leaves) == 36
    assert set(leaves) == {tree.leaf_at(i) for i in range(36)}
    text = data.decode().lower()
    for subject, record_hash in records:
        assert subject[2:].lower() not in text and record_hash.hex() not in text


def test_the_same_batch_in_any_row_order_gives_the_same_bytes():
    records = random_records(10, seed=3)
    assert batch_doc.build(MerkleTree.of(records)) == \
        batch_doc.build(MerkleTree.of(list(reversed(records))))
    assert batch_doc.build(MerkleTree.of(records)).endswith(b"}\n")


@pytest.mark.parametrize("edit, message", [
    (lambda d: {**d, "leaves": d["leaves"][1:]}, "leaves give root"),
    (lambda d: {**d, "root": "0x" + "00" * 32}, "leaves give root"),
    (lambda d: {**d, "format": "other/1"}, "format"),
    (lambda d: {**d, "leaves": []}, "do not form a tree"),
    (lambda d: {**d, "leaves": ["0x12"]}, "not an anchored-batch document"),
    (lambda d: {k: v for k, v in d.items() if k != "root"}, "not an anchored-batch document"),
])
def test_an_edited_document_is_refused(edit, message):
    doc = json.loads(batch_doc.build(MerkleTree.of(random_records(5, seed=1))))
    with pytest.raises(batch_doc.BatchDocError, match=message):
        batch_doc.parse(json.dumps(edit(doc)).encode())
    with pytest.raises(batch_doc.BatchDocError):
        batch_doc.parse(b"\xff not json")
