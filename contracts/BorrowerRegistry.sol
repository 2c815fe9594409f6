// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {IBorrowerRegistry} from "../interfaces/IBorrowerRegistry.sol";

/// @title BorrowerRegistry
/// @notice KYC providers register borrowers by a salted identity commitment made off chain (no PII
/// on chain); regulators suspend, ban and reinstate them.
contract BorrowerRegistry is IBorrowerRegistry, ScorechainAccess {
    bytes32 public constant KYC_PROVIDER_ROLE = keccak256("KYC_PROVIDER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    mapping(address borrower => Borrower) private _borrowers;

    constructor(address admin) ScorechainAccess(admin) {
    }

    /// @notice Registers `borrower` as Active.
    /// @dev KYC_PROVIDER_ROLE. Requires a new, non-zero borrower, a non-zero commitment, an
    /// uppercase A-Z two-letter jurisdiction and a KYC expiry in the future. Emits BorrowerRegistered.
    function register(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external
        onlyRole(KYC_PROVIDER_ROLE)
    {
        if (borrower == address(0)) revert BorrowerZeroAddress();
        if (_borrowers[borrower].status != BorrowerStatus.None) revert BorrowerAlreadyRegistered(borrower);
        _validate(borrower, identityCommitment, jurisdiction, kycExpiry);
        _borrowers[borrower] = Borrower({
            identityCommitment: identityCommitment,
            jurisdiction: jurisdiction,
            kycExpiry: kycExpiry,
            status: BorrowerStatus.Active,
            reasonCode: 0,
            updatedAt: uint64(block.timestamp)
        });
        emit BorrowerRegistered(borrower, identityCommitment, jurisdiction, kycExpiry);
    }

    /// @notice Replaces a registered borrower's commitment, jurisdiction and KYC expiry (re-KYC).
    /// @dev KYC_PROVIDER_ROLE. Status is unchanged; banned borrowers cannot be updated.
    /// Emits BorrowerUpdated.
    function update(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external
        onlyRole(KYC_PROVIDER_ROLE)
    {
        Borrower storage b = _borrowers[borrower];
        if (b.status == BorrowerStatus.None) revert BorrowerNotRegistered(borrower);
        if (b.status == BorrowerStatus.Banned) revert BorrowerInvalidStatus(borrower, b.status);
        _validate(borrower, identityCommitment, jurisdiction, kycExpiry);
        b.identityCommitment = identityCommitment;
        b.jurisdiction = jurisdiction;
        b.kycExpiry = kycExpiry;
        b.updatedAt = uint64(block.timestamp);
        emit BorrowerUpdated(borrower, identityCommitment, jurisdiction, kycExpiry);
    }

    /// @notice Suspends an Active borrower with a reason code.
    /// @dev REGULATOR_ROLE. Emits BorrowerSuspended.
    function suspend(address borrower, uint8 reasonCode) external onlyRole(REGULATOR_ROLE) {
        Borrower storage b = _borrowers[borrower];
        if (b.status != BorrowerStatus.Active) revert BorrowerInvalidStatus(borrower, b.status);
        b.status = BorrowerStatus.Suspended;
        b.reasonCode = reasonCode;
        b.updatedAt = uint64(block.timestamp);
        emit BorrowerSuspended(borrower, reasonCode);
    }

    /// @notice Bans an Active or Suspended borrower with a reason code.
    /// @dev REGULATOR_ROLE. Emits BorrowerBanned.
    function ban(address borrower, uint8 reasonCode) external onlyRole(REGULATOR_ROLE) {
        Borrower storage b = _borrowers[borrower];
        if (b.status != BorrowerStatus.Active && b.status != BorrowerStatus.Suspended) {
            revert BorrowerInvalidStatus(borrower, b.status);
        }
        b.status = BorrowerStatus.Banned;
        b.reasonCode = reasonCode;
        b.updatedAt = uint64(block.timestamp);
        emit BorrowerBanned(borrower, reasonCode);
    }

    /// @notice Returns a Suspended or Banned borrower to Active and clears the reason code.
    /// @dev REGULATOR_ROLE. Emits BorrowerReinstated.
    function reinstate(address borrower) external onlyRole(REGULATOR_ROLE) {
        Borrower storage b = _borrowers[borrower];
        if (b.status != BorrowerStatus.Suspended && b.status != BorrowerStatus.Banned) {
            revert BorrowerInvalidStatus(borrower, b.status);
        }
        b.status = BorrowerStatus.Active;
        b.reasonCode = 0;
        b.updatedAt = uint64(block.timestamp);
        emit BorrowerReinstated(borrower);
    }

    /// @notice True if `borrower` is registered, Active (so not suspended or banned) and KYC has not expired.
    function isEligible(address borrower) external view returns (bool) {
        Borrower storage b = _borrowers[borrower];
        return b.status == BorrowerStatus.Active && b.kycExpiry > block.timestamp;
    }

    /// @notice Eligibility and jurisdiction in one call (read by ComplianceRules).
    function eligibility(address borrower) external view returns (bool eligible, bytes2 jurisdiction) {
        Borrower storage b = _borrowers[borrower];
        return (b.status == BorrowerStatus.Active && b.kycExpiry > block.timestamp, b.jurisdiction);
    }

    /// @notice The stored record of `borrower` (all zero if unknown).
    function getBorrower(address borrower) external view returns (Borrower memory) {
        return _borrowers[borrower];
    }

    function _validate(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        private
        view
    {
        if (identityCommitment == bytes32(0)) revert BorrowerZeroCommitment(borrower);
        if (!_isCountryCode(jurisdiction)) revert BorrowerInvalidJurisdiction(borrower, jurisdiction);
        if (kycExpiry <= block.timestamp) revert BorrowerKycExpired(borrower, kycExpiry);
    }

    function _isCountryCode(bytes2 code) private pure returns (bool) {
        bytes1 a = code[0];
        bytes1 b = code[1];
        return a >= "A" && a <= "Z" && b >= "A" && b <= "Z";
    }
}
