// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestStablecoin
/// @notice A 6-decimal ERC-20 for local chains and tests only; on testnets use any ERC-20.
contract TestStablecoin is ERC20, Ownable {
    constructor() ERC20("Scorechain Test USD", "tUSD") Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`.
    /// @dev Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
