// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IDataAnchor
/// @notice Merkle roots of credit-data batches. Leaves are double-hashed as in OpenZeppelin's
/// StandardMerkleTree: leaf = keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash))))
/// for the leaf types ["address", "bytes32"].
interface IDataAnchor {
    struct Batch {
        bytes32 root;
        address provider;
        uint64 anchoredAt;
        uint32 recordCount;
        string uri;
    }

    error DataAnchorZeroRoot();
    error DataAnchorEmptyBatch();
    error DataAnchorRootAlreadyAnchored(bytes32 root);
    error DataAnchorUnknownBatch(uint256 batchId);

    event BatchAnchored(
        uint256 indexed batchId, bytes32 indexed root, address indexed provider, string uri, uint32 recordCount
    );

    function anchor(bytes32 root, string calldata uri, uint32 recordCount) external returns (uint256 batchId);

    function verify(uint256 batchId, bytes32[] calldata proof, bytes32 leaf) external view returns (bool);
    function verifyRecord(uint256 batchId, bytes32[] calldata proof, address subject, bytes32 recordHash)
        external
        view
        returns (bool);
    function leafOf(address subject, bytes32 recordHash) external pure returns (bytes32);
    function getBatch(uint256 batchId) external view returns (Batch memory);
    function batchCount() external view returns (uint256);
}
