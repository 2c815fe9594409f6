// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @title Assertions
/// @notice The cheatcode handle and assertions that revert with a typed error naming the property,
/// shared by test contracts and handlers (forge-std's Test is not installed here).
abstract contract Assertions {
    /// @notice A checked property did not hold: `what` names it; `actual` and `expected` are the
    /// values compared (0/1 for booleans, addresses and bytes32 as integers).
    error InvariantViolated(string what, uint256 actual, uint256 expected);

    /// @notice A call that should have reverted with `expected` succeeded or reverted otherwise.
    error UnexpectedOutcome(string what, bool succeeded, bytes expected, bytes actual);

    Vm internal constant vm = Vm(VM_ADDRESS);

    function assertTrue(bool condition, string memory what) internal pure {
        if (!condition) revert InvariantViolated(what, 0, 1);
    }

    function assertEq(uint256 actual, uint256 expected, string memory what) internal pure {
        if (actual != expected) revert InvariantViolated(what, actual, expected);
    }

    function assertEq(bool actual, bool expected, string memory what) internal pure {
        if (actual != expected) revert InvariantViolated(what, actual ? 1 : 0, expected ? 1 : 0);
    }

    function assertEq(address actual, address expected, string memory what) internal pure {
        if (actual != expected) revert InvariantViolated(what, uint160(actual), uint160(expected));
    }

    function assertEq(bytes32 actual, bytes32 expected, string memory what) internal pure {
        if (actual != expected) revert InvariantViolated(what, uint256(actual), uint256(expected));
    }

    function assertLe(uint256 actual, uint256 limit, string memory what) internal pure {
        if (actual > limit) revert InvariantViolated(what, actual, limit);
    }

    /// @dev Calls `target` as `from` and requires it to revert with exactly `expected` (a custom
    /// error's ABI encoding).
    function expectRevertAs(address from, address target, bytes memory data, bytes memory expected, string memory what)
        internal
    {
        vm.prank(from);
        (bool ok, bytes memory ret) = target.call(data);
        if (ok || keccak256(ret) != keccak256(expected)) revert UnexpectedOutcome(what, ok, expected, ret);
    }

    /// @dev Calls `target` as `from` and requires it to succeed (bubbling nothing: the revert data
    /// is reported in UnexpectedOutcome).
    function callAs(address from, address target, bytes memory data, string memory what)
        internal
        returns (bytes memory ret)
    {
        vm.prank(from);
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) revert UnexpectedOutcome(what, false, "", ret);
    }

    /// @dev x mapped into [lo, hi] (lo <= hi), uniform enough for fuzzing and never reverting.
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        return lo + x % (hi - lo + 1);
    }
}
