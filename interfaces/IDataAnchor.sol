// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IDataAnchor
/// @notice Merkle roots of credit-data batches, built as OpenZeppelin's StandardMerkleTree (the
/// npm merkle-tree library, leaf types ["address", "bytes32"]). Leaves are double-hashed,
/// leaf = keccak256(bytes.concat(keccak256(abi.encode(subject, recordHash)))), which keeps them
/// apart from inner nodes; verifiers pass the record and the contract hashes the leaf, so no raw
/// leaf (and no inner node with a shortened proof) is ever accepted.
/// @dev Roots are unique per provider, not globally: a provider cannot block another by anchoring
/// its root first. Whoever checks a record should also check the batch's `provider`.
interface IDataAnchor {
    struct Batch {
        bytes32 root;
        address provider;
        uint64 anchoredAt;
        uint32 recordCount;
        string uri;
    }

    /// @notice The root is zero.
    error DataAnchorZeroRoot();
    /// @notice The batch has no records.
    error DataAnchorEmptyBatch();
    /// @notice `provider` already anchored `root`, as batch `batchId`.
    error DataAnchorRootAlreadyAnchored(address provider, bytes32 root, uint256 batchId);
    /// @notice No batch has id `batchId`.
    error DataAnchorUnknownBatch(uint256 batchId);
    /// @notice `subjects` and `recordHashes` differ in length.
    error DataAnchorLengthMismatch(uint256 subjects, uint256 recordHashes);
    /// @notice The multiproof's shape cannot prove `records` records (none, or counts that do not add up).
    error DataAnchorInvalidMultiproof(uint256 records, uint256 proofLength, uint256 proofFlagsLength);

    /// @notice A provider anchored a batch root.
    event BatchAnchored(
        uint256 indexed batchId, bytes32 indexed root, address indexed provider, string uri, uint32 recordCount
    );

    function anchor(bytes32 root, string calldata uri, uint32 recordCount) external returns (uint256 batchId);

    function verifyRecord(uint256 batchId, bytes32[] calldata proof, address subject, bytes32 recordHash)
        external
        view
        returns (bool);
    function verifyRecords(
        uint256 batchId,
        bytes32[] calldata proof,
        bool[] calldata proofFlags,
        address[] calldata subjects,
        bytes32[] calldata recordHashes
    ) external view returns (bool);
    function leafOf(address subject, bytes32 recordHash) external pure returns (bytes32);
    function getBatch(uint256 batchId) external view returns (Batch memory);
    function batchOf(address provider, bytes32 root) external view returns (uint256 batchId);
    function batchCount() external view returns (uint256);
}
