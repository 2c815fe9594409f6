// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ReentrantToken
/// @notice TESTS ONLY. A malicious 6-decimal ERC-20: once armed, it calls back into a target contract
/// in the middle of a transfer (after the balances move, before `transfer`/`transferFrom` returns),
/// the shape of an ERC-777 hook or a hostile token. Used to show that LoanManager's `nonReentrant`
/// guard stops a token from re-entering `fund`, `repay` or `recover`.
/// @dev The hook fires once per arming (it disarms itself before the call, so the nested call's own
/// transfer does not re-enter again). If the nested call reverts, its revert data is bubbled up so
/// the outer transaction fails with the callee's error (e.g. ReentrancyGuardReentrantCall()); if it
/// succeeds, ReentryCallSucceeded is emitted. Nested calls are made with this contract as
/// msg.sender, so it holds its own balance and allowance (see `approveFromToken`).
contract ReentrantToken is ERC20, Ownable {
    address private _target;
    bytes private _callData;
    bool private _armed;

    /// @notice The nested call made during a transfer returned successfully.
    event ReentryCallSucceeded(address indexed target, bytes callData);

    constructor() ERC20("Reentrant Test USD", "rUSD") Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`.
    /// @dev Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Approves `spender` to move this contract's own tokens (so nested calls can pay).
    /// @dev Owner only.
    function approveFromToken(address spender, uint256 amount) external onlyOwner {
        _approve(address(this), spender, amount);
    }

    /// @notice Arms the hook: the next transfer (not a mint) calls `target` with `callData`.
    /// @dev Owner only.
    function arm(address target, bytes calldata callData) external onlyOwner {
        _target = target;
        _callData = callData;
        _armed = true;
    }

    /// @notice True while the hook is armed.
    function armed() external view returns (bool) {
        return _armed;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!_armed || from == address(0)) return;
        _armed = false;
        address target = _target;
        bytes memory callData = _callData;
        (bool ok, bytes memory returnData) = target.call(callData);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(returnData, 0x20), mload(returnData))
            }
        }
        emit ReentryCallSucceeded(target, callData);
    }
}
