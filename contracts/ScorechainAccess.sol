// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";

/// @title ScorechainAccess
/// @notice The roles base of every Scorechain contract: OpenZeppelin AccessControl whose default
/// admin is a single account handed over in two steps (begin, then accept after a delay), never
/// granted or revoked directly, and never zero.
/// @dev The delay starts at ADMIN_TRANSFER_DELAY; the admin may change it (itself delayed, see
/// AccessControlDefaultAdminRules).
abstract contract ScorechainAccess is AccessControlDefaultAdminRules {
    /// @notice Initial wait between starting a default-admin transfer and accepting it.
    uint48 public constant ADMIN_TRANSFER_DELAY = 2 days;

    constructor(address admin) AccessControlDefaultAdminRules(ADMIN_TRANSFER_DELAY, admin) {}
}
