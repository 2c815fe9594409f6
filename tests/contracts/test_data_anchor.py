"""DataAnchor: anchoring Merkle roots and verifying records with OZ-StandardMerkleTree leaves."""

import brownie
import pytest
from brownie import accounts
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from scorechain_testkit import err, role_err


def leaf(subject, record_hash):
    return keccak(keccak(encode(["address", "bytes32"], [str(subject), record_hash])))


def hash_pair(a, b):
    return keccak(min(a, b) + max(a, b))


def tree(leaves):
    """Levels bottom-up of a simple sorted-pair Merkle tree (odd node promoted)."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        cur, nxt = levels[-1], []
        for i in range(0, len(cur), 2):
            nxt.append(hash_pair(cur[i], cur[i + 1]) if i + 1 < len(cur) else cur[i])
        levels.append(nxt)
    return levels


def proof(levels, index):
    out = []
    for level in levels[:-1]:
        sib = index ^ 1
        if sib < len(level):
            out.append(level[sib])
        index //= 2
    return out


RECORDS = [(to_checksum_address(f"0x{i + 1:040x}"), keccak(text=f"record-{i}")) for i in range(5)]


@pytest.fixture
def batch(anchor, data_provider):
    levels = tree([leaf(s, h) for s, h in RECORDS])
    root = levels[-1][0]
    tx = anchor.anchor(root, "ipfs://batch-1", len(RECORDS), {"from": data_provider})
    return tx, levels, root


def test_anchor_emits_and_stores(batch, anchor, data_provider):
    tx, _, root = batch
    ev = tx.events["BatchAnchored"]
    assert (ev["batchId"], ev["provider"], ev["uri"], ev["recordCount"]) == (1, data_provider, "ipfs://batch-1", 5)
    assert bytes(ev["root"]) == root
    b = anchor.getBatch(1)
    assert bytes(b["root"]) == root and b["recordCount"] == 5 and anchor.batchCount() == 1


def test_every_record_verifies_and_leaf_encoding_matches(batch, anchor):
    _, levels, _ = batch
    for i, (subject, h) in enumerate(RECORDS):
        assert bytes(anchor.leafOf(subject, h)) == leaf(subject, h)
        assert anchor.verifyRecord(1, proof(levels, i), subject, h)
        assert anchor.verify(1, proof(levels, i), leaf(subject, h))


def test_tampered_record_or_proof_fails(batch, anchor):
    _, levels, _ = batch
    subject, h = RECORDS[2]
    assert not anchor.verifyRecord(1, proof(levels, 2), subject, keccak(text="forged"))
    assert not anchor.verifyRecord(1, proof(levels, 2), RECORDS[0][0], h)
    assert not anchor.verifyRecord(1, proof(levels, 3), subject, h)


def test_anchor_reverts_on_bad_input(batch, anchor, data_provider):
    _, _, root = batch
    with brownie.reverts(err("DataAnchorZeroRoot")):
        anchor.anchor("0x" + "00" * 32, "u", 1, {"from": data_provider})
    with brownie.reverts(err("DataAnchorEmptyBatch")):
        anchor.anchor("0x" + "01" * 32, "u", 0, {"from": data_provider})
    with brownie.reverts(err("DataAnchorRootAlreadyAnchored", root)):
        anchor.anchor(root, "u", 1, {"from": data_provider})
    with brownie.reverts(role_err(accounts[5], anchor.DATA_PROVIDER_ROLE())):
        anchor.anchor("0x" + "01" * 32, "u", 1, {"from": accounts[5]})


def test_unknown_batch_reverts(anchor):
    with brownie.reverts(err("DataAnchorUnknownBatch", 0)):
        anchor.getBatch(0)
    with brownie.reverts(err("DataAnchorUnknownBatch", 3)):
        anchor.verify(3, [], "0x" + "01" * 32)
