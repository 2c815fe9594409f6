// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDataAnchor} from "../interfaces/IDataAnchor.sol";

/// @title DataAnchor
/// @notice Data providers anchor Merkle roots of credit-data batches; anyone verifies a record.
/// @dev Trees are OpenZeppelin StandardMerkleTrees over ["address","bytes32"] values (oracle/merkle.py
/// builds the same bytes): leaf = keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash)))),
/// inner nodes hash the sorted pair. Only records go in and the leaf is hashed here, so an inner node
/// cannot be passed off as a leaf. recordHash is whatever digest the provider publishes for the
/// record (e.g. keccak256 of its canonical JSON); batch ids start at 1.
contract DataAnchor is IDataAnchor, ScorechainAccess {
    bytes32 public constant DATA_PROVIDER_ROLE = keccak256("DATA_PROVIDER_ROLE");

    Batch[] private _batches;
    mapping(address provider => mapping(bytes32 root => uint256 batchId)) private _batchOfRoot;

    constructor(address admin) ScorechainAccess(admin) {
    }

    /// @notice Anchors a batch root with its off-chain location and record count.
    /// @dev Requires DATA_PROVIDER_ROLE, a non-zero root the caller has not anchored before (another
    /// provider's identical root does not count) and recordCount > 0.
    /// Emits BatchAnchored. Returns the new batch id (1-based).
    function anchor(bytes32 root, string calldata uri, uint32 recordCount)
        external
        onlyRole(DATA_PROVIDER_ROLE)
        returns (uint256 batchId)
    {
        if (root == bytes32(0)) revert DataAnchorZeroRoot();
        if (recordCount == 0) revert DataAnchorEmptyBatch();
        uint256 existing = _batchOfRoot[msg.sender][root];
        if (existing != 0) revert DataAnchorRootAlreadyAnchored(msg.sender, root, existing);
        _batches.push(
            Batch({
                root: root,
                provider: msg.sender,
                anchoredAt: uint64(block.timestamp),
                recordCount: recordCount,
                uri: uri
            })
        );
        batchId = _batches.length;
        _batchOfRoot[msg.sender][root] = batchId;
        emit BatchAnchored(batchId, root, msg.sender, uri, recordCount);
    }

    /// @notice True if the record (subject, recordHash) is in batch `batchId`.
    /// @dev `proof` is StandardMerkleTree's getProof for the record. Reverts DataAnchorUnknownBatch
    /// for an unknown id. Check getBatch(batchId).provider too: anyone with the role can anchor.
    function verifyRecord(uint256 batchId, bytes32[] calldata proof, address subject, bytes32 recordHash)
        external
        view
        returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, _batch(batchId).root, leafOf(subject, recordHash));
    }

    /// @notice True if all records (subjects[i], recordHashes[i]) are in batch `batchId`, by one
    /// multiproof (StandardMerkleTree's getMultiProof, records in the order of its `leaves`).
    /// @dev Reverts DataAnchorUnknownBatch for an unknown id, DataAnchorLengthMismatch if the two
    /// arrays differ in length and DataAnchorInvalidMultiproof for no records or a malformed proof.
    function verifyRecords(
        uint256 batchId,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        address[] calldata subjects,
        bytes32[] calldata recordHashes
    ) external view returns (bool) {
        bytes32 root = _batch(batchId).root;
        uint256 n = subjects.length;
        if (n != recordHashes.length) revert DataAnchorLengthMismatch(n, recordHashes.length);
        // No records would "prove" proof[0] == root; a false flag without a sibling would panic.
        uint256 siblings = 0;
        for (uint256 i = 0; i < proofFlags.length; ++i) {
            if (!proofFlags[i]) ++siblings;
        }
        if (n == 0 || n + proof.length != proofFlags.length + 1 || siblings != proof.length) {
            revert DataAnchorInvalidMultiproof(n, proof.length, proofFlags.length);
        }
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            leaves[i] = leafOf(subjects[i], recordHashes[i]);
        }
        return MerkleProof.multiProofVerifyCalldata(proof, proofFlags, root, leaves);
    }

    /// @notice The StandardMerkleTree leaf of a record (double-hashed).
    function leafOf(address subject, bytes32 recordHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash))));
    }

    /// @notice The batch with id `batchId`.
    /// @dev Reverts DataAnchorUnknownBatch for an unknown id.
    function getBatch(uint256 batchId) external view returns (Batch memory) {
        return _batch(batchId);
    }

    /// @notice The id of the batch in which `provider` anchored `root`, or 0 if it has not.
    function batchOf(address provider, bytes32 root) external view returns (uint256 batchId) {
        return _batchOfRoot[provider][root];
    }

    /// @notice Number of batches anchored so far (also the latest id).
    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    function _batch(uint256 batchId) private view returns (Batch storage) {
        if (batchId == 0 || batchId > _batches.length) revert DataAnchorUnknownBatch(batchId);
        return _batches[batchId - 1];
    }
}
