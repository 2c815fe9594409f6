// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestStablecoin
/// @notice A 6-decimal ERC-20 for local chains and tests only; on testnets use any ERC-20.
/// @dev Like USDC, the owner can blacklist an address: tokens can neither leave nor reach it, which
/// lets tests show that a blacklisted lender cannot block repayments.
contract TestStablecoin is ERC20, Ownable {
    error TestStablecoinBlacklisted(address account);

    event BlacklistSet(address indexed account, bool blacklisted);

    mapping(address account => bool) private _blacklisted;

    constructor() ERC20("Scorechain Test USD", "tUSD") Ownable(msg.sender) {}

    /// @notice Blacklists or clears `account`.
    /// @dev Owner only. Emits BlacklistSet.
    function setBlacklisted(address account, bool blacklisted) external onlyOwner {
        _blacklisted[account] = blacklisted;
        emit BlacklistSet(account, blacklisted);
    }

    /// @notice True if `account` can neither send nor receive.
    function isBlacklisted(address account) external view returns (bool) {
        return _blacklisted[account];
    }

    /// @notice Mints `amount` to `to`.
    /// @dev Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (_blacklisted[from]) revert TestStablecoinBlacklisted(from);
        if (_blacklisted[to]) revert TestStablecoinBlacklisted(to);
        super._update(from, to, value);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
