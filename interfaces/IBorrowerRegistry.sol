// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IBorrowerRegistry
/// @notice Borrowers known to Scorechain: a salted identity commitment made off chain (no PII on
/// chain), an ISO 3166-1 alpha-2 jurisdiction, a KYC expiry and a status.
interface IBorrowerRegistry {
    enum BorrowerStatus {
        None,
        Active,
        Suspended,
        Banned
    }

    /// @dev Two slots: the commitment, then everything else packed.
    struct Borrower {
        bytes32 identityCommitment;
        bytes2 jurisdiction;
        uint64 kycExpiry;
        BorrowerStatus status;
        uint8 reasonCode;
        uint64 updatedAt;
    }

    error BorrowerZeroAddress();
    error BorrowerZeroCommitment(address borrower);
    error BorrowerInvalidJurisdiction(address borrower, bytes2 jurisdiction);
    error BorrowerKycExpired(address borrower, uint64 kycExpiry);
    error BorrowerAlreadyRegistered(address borrower);
    error BorrowerNotRegistered(address borrower);
    error BorrowerInvalidStatus(address borrower, BorrowerStatus status);

    event BorrowerRegistered(
        address indexed borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry
    );
    event BorrowerUpdated(
        address indexed borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry
    );
    event BorrowerSuspended(address indexed borrower, uint8 reasonCode);
    event BorrowerBanned(address indexed borrower, uint8 reasonCode);
    event BorrowerReinstated(address indexed borrower);

    function register(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external;
    function update(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external;
    function suspend(address borrower, uint8 reasonCode) external;
    function ban(address borrower, uint8 reasonCode) external;
    function reinstate(address borrower) external;

    function isEligible(address borrower) external view returns (bool);
    function eligibility(address borrower) external view returns (bool eligible, bytes2 jurisdiction);
    function getBorrower(address borrower) external view returns (Borrower memory);
}
