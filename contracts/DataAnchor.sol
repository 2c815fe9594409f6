// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IDataAnchor} from "../interfaces/IDataAnchor.sol";

/// @title DataAnchor
/// @notice Data providers anchor Merkle roots of credit-data batches; anyone verifies a record.
/// @dev Leaf encoding (OpenZeppelin StandardMerkleTree, leaf types ["address","bytes32"]):
/// leaf = keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash)))); inner nodes hash
/// the sorted pair (MerkleProof's commutative keccak256). recordHash is whatever digest the
/// provider publishes for the record (e.g. keccak256 of its canonical JSON); batch ids start at 1.
contract DataAnchor is IDataAnchor, AccessControl {
    bytes32 public constant DATA_PROVIDER_ROLE = keccak256("DATA_PROVIDER_ROLE");

    Batch[] private _batches;
    mapping(bytes32 root => uint256 batchId) private _batchOfRoot;

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Anchors a batch root with its off-chain location and record count.
    /// @dev DATA_PROVIDER_ROLE. Root non-zero and never anchored before; recordCount > 0.
    /// Emits BatchAnchored. Returns the new batch id (1-based).
    function anchor(bytes32 root, string calldata uri, uint32 recordCount)
        external
        onlyRole(DATA_PROVIDER_ROLE)
        returns (uint256 batchId)
    {
        if (root == bytes32(0)) revert DataAnchorZeroRoot();
        if (recordCount == 0) revert DataAnchorEmptyBatch();
        if (_batchOfRoot[root] != 0) revert DataAnchorRootAlreadyAnchored(root);
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
        _batchOfRoot[root] = batchId;
        emit BatchAnchored(batchId, root, msg.sender, uri, recordCount);
    }

    /// @notice True if `leaf` (already double-hashed) is in batch `batchId`.
    /// @dev Reverts DataAnchorUnknownBatch for an unknown id.
    function verify(uint256 batchId, bytes32[] calldata proof, bytes32 leaf) public view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _batch(batchId).root, leaf);
    }

    /// @notice True if the record (subject, recordHash) is in batch `batchId`.
    function verifyRecord(uint256 batchId, bytes32[] calldata proof, address subject, bytes32 recordHash)
        external
        view
        returns (bool)
    {
        return verify(batchId, proof, leafOf(subject, recordHash));
    }

    /// @notice The double-hashed leaf for a record.
    function leafOf(address subject, bytes32 recordHash) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash))));
    }

    /// @notice The batch with id `batchId`.
    function getBatch(uint256 batchId) external view returns (Batch memory) {
        return _batch(batchId);
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
