// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {Assertions} from "./Assertions.sol";

/// @title InvariantBase
/// @notice A minimal stand-in for forge-std's StdInvariant: the target/exclude hooks forge reads by
/// ABI from the test contract after setUp, before an invariant campaign.
/// @dev Forge reads targetContracts(), targetSelectors() and excludeSenders() (among others it
/// finds missing and treats as empty). An empty list means "no filter"; a targeted selector list
/// restricts the fuzzer to those functions of that contract.
abstract contract InvariantBase is Assertions {
    /// @dev The shape forge decodes from targetSelectors() (as forge-std's StdInvariant.FuzzSelector).
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;
    address[] private _excludedSenders;

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }
}
