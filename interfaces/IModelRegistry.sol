// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IModelRegistry
/// @notice Scoring models, identified by the SHA-256 of their bundle manifest (ONNX file, reference
/// values, reason-code table and feature schema: models/manifest.py), registered by one role and
/// approved by another (four eyes), revocable with a reason code.
interface IModelRegistry {
    enum ModelStatus {
        None,
        Registered,
        Approved,
        Revoked
    }

    /// @dev Slot 3 holds registrar, registeredAt, status, revokeReason and index, so `isApproved`
    /// and `approvedIndex` are one SLOAD. `index` numbers models from 1 in registration order: the
    /// score registry keeps it (2 bytes) in a borrower's one record slot instead of the 32-byte id.
    struct Model {
        bytes32 metricsHash;
        bytes32 datasetRoot;
        bytes32 featureSchemaHash;
        address registrar;
        uint64 registeredAt;
        ModelStatus status;
        uint8 revokeReason;
        uint16 index;
        address approver;
        uint64 approvedAt;
        uint32 version;
        string uri;
    }

    error ModelZeroId();
    error ModelAlreadyRegistered(bytes32 modelId);
    error ModelNotRegistered(bytes32 modelId);
    error ModelInvalidStatus(bytes32 modelId, ModelStatus status);
    error ModelFourEyesViolation(bytes32 modelId, address account);
    error ModelRegistryFull(uint256 maxModels);
    error ModelNotRegistrar(bytes32 modelId, address account);
    error ModelZkCircuitAlreadySet(bytes32 modelId);
    error ModelZkCircuitInvalid(bytes32 modelId);

    event ModelRegistered(
        bytes32 indexed modelId,
        address indexed registrar,
        bytes32 metricsHash,
        bytes32 datasetRoot,
        bytes32 featureSchemaHash,
        string uri,
        uint32 version
    );
    event ModelApproved(bytes32 indexed modelId, address indexed approver);
    event ModelRevoked(bytes32 indexed modelId, address indexed revoker, uint8 reasonCode);
    /// @notice A zero-knowledge circuit was attached to a Registered model: scores it proves are
    /// checked by `verifier`, whose code carries the verifying key whose SHA-256 is `vkHash`
    /// (models/zk/circuit.py); the circuit's logit has `outputScale` fractional bits.
    event ModelZkCircuitSet(bytes32 indexed modelId, address verifier, bytes32 vkHash, uint8 outputScale);

    function register(
        bytes32 modelId,
        bytes32 metricsHash,
        bytes32 datasetRoot,
        bytes32 featureSchemaHash,
        string calldata uri,
        uint32 version
    ) external;
    function approve(bytes32 modelId) external;
    function revoke(bytes32 modelId, uint8 reasonCode) external;

    function isApproved(bytes32 modelId) external view returns (bool);
    function approvedIndex(bytes32 modelId) external view returns (uint256 index);
    function modelIdAt(uint256 index) external view returns (bytes32 modelId);
    function modelCount() external view returns (uint256);
    function getModel(bytes32 modelId) external view returns (Model memory);

    function setZkCircuit(bytes32 modelId, address verifier, bytes32 vkHash, uint8 outputScale) external;
    function zkCircuit(bytes32 modelId) external view returns (address verifier, bytes32 vkHash, uint8 outputScale);
}
