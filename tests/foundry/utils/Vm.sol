// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title Vm
/// @notice The few Foundry cheatcodes these suites use (forge-std is not installed: no network).
/// @dev Signatures as in forge-std's Vm.sol; the cheatcode contract lives at VM_ADDRESS.
interface Vm {
    function warp(uint256 newTimestamp) external;
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function label(address account, string calldata newLabel) external;
}

/// @dev keccak256("hevm cheat code") truncated to an address, as forge defines it.
address constant VM_ADDRESS = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D;
