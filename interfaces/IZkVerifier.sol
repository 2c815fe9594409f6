// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IZkVerifier
/// @notice What the score registry calls on a model's proof verifier: EZKL's generated
/// Halo2Verifier (`python -m models zk verifier`), one per circuit, its verifying key in its code.
/// @dev Declared view so the registry calls it with STATICCALL (the generated contract only reads
/// calldata and calls precompiles); false or a revert both mean "not a valid proof".
interface IZkVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool);
}
