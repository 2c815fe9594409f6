// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";

/// @title ModelRegistry
/// @notice Scoring models keyed by the SHA-256 of their bundle manifest (which covers the ONNX file,
/// reference values, reason-code table and feature schema). Four eyes: MODEL_REGISTRAR_ROLE
/// registers, MODEL_APPROVER_ROLE approves, and the account that registered a model may never
/// approve it, even if it holds both roles. Approvers revoke with a reason code; revocation is final.
contract ModelRegistry is IModelRegistry, ScorechainAccess {
    bytes32 public constant MODEL_REGISTRAR_ROLE = keccak256("MODEL_REGISTRAR_ROLE");
    bytes32 public constant MODEL_APPROVER_ROLE = keccak256("MODEL_APPROVER_ROLE");

    /// @notice Models are numbered 1..MAX_MODELS (a uint16 in the model's status slot).
    uint256 public constant MAX_MODELS = type(uint16).max;

    mapping(bytes32 modelId => Model) private _models;
    mapping(uint256 index => bytes32 modelId) private _modelIds;
    uint256 private _modelCount;

    /// @dev A model's zero-knowledge circuit: its proof verifier, the verifying key's SHA-256 and
    /// the logit's fractional bits (one slot for the verifier and scale, one for the hash).
    struct ZkCircuit {
        address verifier;
        uint8 outputScale;
        bytes32 vkHash;
    }

    mapping(bytes32 modelId => ZkCircuit) private _zkCircuits;

    /// @notice The largest logit scale a circuit may declare (ScoreMath's range).
    uint8 public constant MAX_ZK_OUTPUT_SCALE = 64;

    constructor(address admin) ScorechainAccess(admin) {
    }

    /// @notice Registers a model (status Registered) with its metrics, dataset and feature-schema hashes.
    /// @dev MODEL_REGISTRAR_ROLE. modelId non-zero and new; at most MAX_MODELS models. Gives the model
    /// the next index. Emits ModelRegistered.
    function register(
        bytes32 modelId,
        bytes32 metricsHash,
        bytes32 datasetRoot,
        bytes32 featureSchemaHash,
        string calldata uri,
        uint32 version
    ) external onlyRole(MODEL_REGISTRAR_ROLE) {
        if (modelId == bytes32(0)) revert ModelZeroId();
        Model storage m = _models[modelId];
        if (m.status != ModelStatus.None) revert ModelAlreadyRegistered(modelId);
        uint256 index = _modelCount + 1;
        if (index > MAX_MODELS) revert ModelRegistryFull(MAX_MODELS);
        _modelCount = index;
        _modelIds[index] = modelId;
        m.index = uint16(index);
        m.metricsHash = metricsHash;
        m.datasetRoot = datasetRoot;
        m.featureSchemaHash = featureSchemaHash;
        m.registrar = msg.sender;
        m.registeredAt = uint64(block.timestamp);
        m.status = ModelStatus.Registered;
        m.version = version;
        m.uri = uri;
        emit ModelRegistered(modelId, msg.sender, metricsHash, datasetRoot, featureSchemaHash, uri, version);
    }

    /// @notice Approves a Registered model for scoring.
    /// @dev MODEL_APPROVER_ROLE, and the caller must not be the model's registrar. Emits ModelApproved.
    function approve(bytes32 modelId) external onlyRole(MODEL_APPROVER_ROLE) {
        Model storage m = _models[modelId];
        if (m.status == ModelStatus.None) revert ModelNotRegistered(modelId);
        if (m.status != ModelStatus.Registered) revert ModelInvalidStatus(modelId, m.status);
        if (m.registrar == msg.sender) revert ModelFourEyesViolation(modelId, msg.sender);
        m.status = ModelStatus.Approved;
        m.approver = msg.sender;
        m.approvedAt = uint64(block.timestamp);
        emit ModelApproved(modelId, msg.sender);
    }

    /// @notice Revokes a Registered or Approved model; scores it made can no longer approve loans.
    /// @dev MODEL_APPROVER_ROLE. Emits ModelRevoked.
    function revoke(bytes32 modelId, uint8 reasonCode) external onlyRole(MODEL_APPROVER_ROLE) {
        Model storage m = _models[modelId];
        if (m.status == ModelStatus.None) revert ModelNotRegistered(modelId);
        if (m.status == ModelStatus.Revoked) revert ModelInvalidStatus(modelId, m.status);
        m.status = ModelStatus.Revoked;
        m.revokeReason = reasonCode;
        emit ModelRevoked(modelId, msg.sender, reasonCode);
    }

    /// @notice Attaches a zero-knowledge circuit to a Registered model, so scores of it may also be
    /// recorded with a proof (CreditScoreRegistry.submitProven). Set before approval and by the
    /// model's own registrar, once: the approver's four eyes cover the circuit with the model, and
    /// no one can swap the verifier of an approved model.
    /// @dev MODEL_REGISTRAR_ROLE and the model's registrar; `verifier` must hold code, `vkHash` be
    /// non-zero and `outputScale` at most MAX_ZK_OUTPUT_SCALE. Emits ModelZkCircuitSet.
    function setZkCircuit(bytes32 modelId, address verifier, bytes32 vkHash, uint8 outputScale)
        external
        onlyRole(MODEL_REGISTRAR_ROLE)
    {
        Model storage m = _models[modelId];
        if (m.status == ModelStatus.None) revert ModelNotRegistered(modelId);
        if (m.status != ModelStatus.Registered) revert ModelInvalidStatus(modelId, m.status);
        if (m.registrar != msg.sender) revert ModelNotRegistrar(modelId, msg.sender);
        if (_zkCircuits[modelId].verifier != address(0)) revert ModelZkCircuitAlreadySet(modelId);
        if (verifier.code.length == 0 || vkHash == bytes32(0) || outputScale > MAX_ZK_OUTPUT_SCALE) {
            revert ModelZkCircuitInvalid(modelId);
        }
        _zkCircuits[modelId] = ZkCircuit(verifier, outputScale, vkHash);
        emit ModelZkCircuitSet(modelId, verifier, vkHash, outputScale);
    }

    /// @notice The zero-knowledge circuit of `modelId` (all zero if it has none).
    function zkCircuit(bytes32 modelId) external view returns (address verifier, bytes32 vkHash, uint8 outputScale) {
        ZkCircuit storage c = _zkCircuits[modelId];
        return (c.verifier, c.vkHash, c.outputScale);
    }

    /// @notice True if `modelId` is approved and not revoked.
    function isApproved(bytes32 modelId) external view returns (bool) {
        return _models[modelId].status == ModelStatus.Approved;
    }

    /// @notice The index of `modelId` if it is approved and not revoked, else 0 (one SLOAD: the
    /// score registry's check and the index it records).
    function approvedIndex(bytes32 modelId) external view returns (uint256 index) {
        Model storage m = _models[modelId];
        return m.status == ModelStatus.Approved ? m.index : 0;
    }

    /// @notice The model registered as number `index` (zero if none).
    function modelIdAt(uint256 index) external view returns (bytes32 modelId) {
        return _modelIds[index];
    }

    /// @notice The number of models registered so far.
    function modelCount() external view returns (uint256) {
        return _modelCount;
    }

    /// @notice The stored record of `modelId` (all zero if unknown).
    function getModel(bytes32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }
}
