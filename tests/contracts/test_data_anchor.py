"""DataAnchor: anchoring Merkle roots per provider and verifying records of OpenZeppelin
StandardMerkleTrees, against roots and proofs made by the npm library itself (run offline)."""

import random

import brownie
import pytest
from brownie import accounts, web3
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from scripts.toolchain.merkle_vectors import npm_vectors, random_records
from oracle.merkle import MerkleTree, leaf, process_proof
from scripts.scorechain_testkit import err, role_err

RECORDS = [(to_checksum_address(f"0x{i + 1:040x}"), keccak(text=f"record-{i}")) for i in range(5)]


@pytest.fixture
def batch(anchor, data_provider):
    tree = MerkleTree.of(RECORDS)
    tx = anchor.anchor(tree.root, "ipfs://batch-1", len(RECORDS), {"from": data_provider})
    return tx, tree


@pytest.fixture
def second_provider(anchor, admin):
    other = accounts[8]
    anchor.grantRole(anchor.DATA_PROVIDER_ROLE(), other, {"from": admin})
    return other


def test_anchor_emits_and_stores(batch, anchor, data_provider):
    tx, tree = batch
    ev = tx.events["BatchAnchored"]
    assert (ev["batchId"], ev["provider"], ev["uri"], ev["recordCount"]) == (
        1, data_provider, "ipfs://batch-1", 5)
    assert bytes(ev["root"]) == tree.root
    b = anchor.getBatch(1)
    assert bytes(b["root"]) == tree.root and b["provider"] == data_provider
    assert b["recordCount"] == 5
    assert b["uri"] == "ipfs://batch-1" and anchor.batchCount() == 1
    assert anchor.batchOf(data_provider, tree.root) == 1


@pytest.mark.parametrize("n", [1, 2, 3, 7, 36])
def test_npm_library_roots_and_proofs_match_oracle_merkle_and_verify_on_chain(
        anchor, data_provider, n):
    records = random_records(n, seed=1100 + n)
    subset = sorted(random.Random(n).sample(range(n), (n + 1) // 2))
    npm = npm_vectors(records, [subset])
    tree = MerkleTree.of(records)
    assert "0x" + tree.root.hex() == npm["root"]
    batch_id = anchor.anchor(npm["root"], f"ipfs://n{n}", n, {"from": data_provider}).return_value
    for i, (subject, record_hash) in enumerate(records):
        assert ["0x" + p.hex() for p in tree.proof(i)] == npm["proofs"][i]
        npm_leaf = bytes.fromhex(npm["leaves"][i][2:])
        assert bytes(anchor.leafOf(subject, record_hash)) == leaf(subject, record_hash) == npm_leaf
        assert anchor.verifyRecord(batch_id, npm["proofs"][i], subject, record_hash)
    mp = npm["multiproofs"][0]
    chosen = [records[i] for i in mp["indices"]]
    assert anchor.verifyRecords(batch_id, mp["proof"], mp["proofFlags"],
                                [s for s, _ in chosen], [h for _, h in chosen])
    forged = [(s, keccak(h)) for s, h in chosen]
    assert not anchor.verifyRecords(batch_id, mp["proof"], mp["proofFlags"],
                                    [s for s, _ in forged], [h for _, h in forged])


def test_an_inner_node_with_a_shortened_proof_is_rejected(anchor, data_provider):
    records = random_records(4, seed=4)
    tree = MerkleTree.of(records)
    batch_id = anchor.anchor(tree.root, "u", 4, {"from": data_provider}).return_value
    inner, sibling, left, right = tree.tree[1], tree.tree[2], tree.tree[3], tree.tree[4]
    assert inner == keccak(min(left, right) + max(left, right))  # the hash of two leaves
    assert process_proof(inner, [sibling]) == tree.root  # a raw-leaf verifier would accept it
    # The records an attacker could submit for that node: none verifies.
    for subject, record_hash in [(to_checksum_address(left[12:]), right),
                                 (records[0][0], inner), (records[3][0], inner)]:
        assert not anchor.verifyRecord(batch_id, [sibling], subject, record_hash)
    # abi.encode(subject, recordHash) == left || right would need an "address" with left's top 12
    # bytes; the ABI decoder rejects such calldata outright.
    signature = "verifyRecord(uint256,bytes32[],address,bytes32)"
    selector = function_signature_to_4byte_selector(signature)
    head = encode(["uint256", "uint256"], [batch_id, 4 * 32])
    tail = encode(["bytes32[]"], [[sibling]])[32:]

    def call(subject_word):
        data = selector + head + subject_word + right + tail
        return web3.eth.call({"to": anchor.address, "data": "0x" + data.hex()})

    assert call(bytes(12) + left[12:]) == bytes(32)  # well-formed: runs, returns false
    with pytest.raises(ValueError):
        call(left)


def test_a_raw_leaf_cannot_be_passed_anymore(batch, anchor):
    _, tree = batch
    functions = {f["name"]: f for f in anchor.abi if f["type"] == "function"}
    assert "verify" not in functions and not hasattr(anchor, "verify")
    for name in ("verifyRecord", "verifyRecords"):
        inputs = [(i["name"], i["type"]) for i in functions[name]["inputs"]]
        assert not any(n == "leaf" or n == "leaves" for n, _ in inputs)
    # The old entry point verify(uint256,bytes32[],bytes32) is gone from the bytecode too.
    def call(signature, types, args):
        data = function_signature_to_4byte_selector(signature) + encode(types, args)
        return web3.eth.call({"to": anchor.address, "data": "0x" + data.hex()})

    subject, record_hash = RECORDS[0]
    assert call("verifyRecord(uint256,bytes32[],address,bytes32)",
                ["uint256", "bytes32[]", "address", "bytes32"],
                [1, tree.proof(0), subject, record_hash]) == encode(["bool"], [True])
    with pytest.raises(ValueError):
        call("verify(uint256,bytes32[],bytes32)", ["uint256", "bytes32[]", "bytes32"],
             [1, tree.proof(0), tree.leaf_at(0)])


def test_tampered_record_or_proof_fails(batch, anchor):
    _, tree = batch
    subject, h = RECORDS[2]
    assert anchor.verifyRecord(1, tree.proof(2), subject, h)
    assert not anchor.verifyRecord(1, tree.proof(2), subject, keccak(text="forged"))
    assert not anchor.verifyRecord(1, tree.proof(2), RECORDS[0][0], h)
    assert not anchor.verifyRecord(1, tree.proof(3), subject, h)


def test_another_provider_anchoring_the_same_root_first_does_not_block_the_owner(
        anchor, data_provider, second_provider):
    root = MerkleTree.of(RECORDS).root
    front = anchor.anchor(root, "ipfs://stolen", 5, {"from": second_provider})
    assert front.events["BatchAnchored"]["provider"] == second_provider
    tx = anchor.anchor(root, "ipfs://batch-1", 5, {"from": data_provider})
    ev = tx.events["BatchAnchored"]
    assert (ev["batchId"], ev["provider"], bytes(ev["root"])) == (2, data_provider, root)
    assert anchor.batchOf(second_provider, root) == 1 and anchor.batchOf(data_provider, root) == 2
    assert anchor.getBatch(2)["provider"] == data_provider
    # Each provider still cannot anchor its own root twice.
    with brownie.reverts(err("DataAnchorRootAlreadyAnchored", second_provider, root, 1)):
        anchor.anchor(root, "u", 1, {"from": second_provider})
    with brownie.reverts(err("DataAnchorRootAlreadyAnchored", data_provider, root, 2)):
        anchor.anchor(root, "u", 1, {"from": data_provider})


def test_anchor_reverts_on_bad_input(batch, anchor, data_provider):
    _, tree = batch
    with brownie.reverts(err("DataAnchorZeroRoot")):
        anchor.anchor("0x" + "00" * 32, "u", 1, {"from": data_provider})
    with brownie.reverts(err("DataAnchorEmptyBatch")):
        anchor.anchor("0x" + "01" * 32, "u", 0, {"from": data_provider})
    with brownie.reverts(err("DataAnchorRootAlreadyAnchored", data_provider, tree.root, 1)):
        anchor.anchor(tree.root, "u", 1, {"from": data_provider})
    with brownie.reverts(role_err(accounts[5], anchor.DATA_PROVIDER_ROLE())):
        anchor.anchor("0x" + "01" * 32, "u", 1, {"from": accounts[5]})


def test_verify_records_rejects_malformed_multiproofs(batch, anchor):
    _, tree = batch
    subjects, hashes = [s for s, _ in RECORDS], [h for _, h in RECORDS]
    mp = tree.multiproof([0, 3])
    chosen = [RECORDS[i] for i in mp.indices]
    args = (list(mp.proof), list(mp.proof_flags), [s for s, _ in chosen], [h for _, h in chosen])
    assert anchor.verifyRecords(1, *args)
    with brownie.reverts(err("DataAnchorLengthMismatch", 2, 1)):
        anchor.verifyRecords(1, args[0], args[1], args[2], args[3][:1])
    # No records would "prove" proof[0] == root.
    with brownie.reverts(err("DataAnchorInvalidMultiproof", 0, 1, 0)):
        anchor.verifyRecords(1, [tree.root], [], [], [])
    # Counts that do not add up, and a sibling-taking flag with no sibling left.
    with brownie.reverts(err("DataAnchorInvalidMultiproof", 5, 0, 5)):
        anchor.verifyRecords(1, [], [True] * 5, subjects, hashes)
    with brownie.reverts(err("DataAnchorInvalidMultiproof", 2, 0, 1)):
        anchor.verifyRecords(1, [], [False], args[2], args[3])
    with brownie.reverts(err("DataAnchorUnknownBatch", 2)):
        anchor.verifyRecords(2, *args)


def test_unknown_batch_reverts(anchor):
    with brownie.reverts(err("DataAnchorUnknownBatch", 0)):
        anchor.getBatch(0)
    with brownie.reverts(err("DataAnchorUnknownBatch", 3)):
        anchor.verifyRecord(3, [], RECORDS[0][0], RECORDS[0][1])
