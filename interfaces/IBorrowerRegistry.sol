// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title IBorrowerRegistry
/// @notice Borrowers known to Scorechain, kept per person: an identity is a salted commitment made
/// off chain by the KYC provider who enrolled it (no PII on chain), with an ISO 3166-1 alpha-2
/// jurisdiction, a KYC expiry and a status; it maps explicitly to the addresses linked to it.
///
/// Identity rules:
/// - One commitment, one identity. Registering a commitment already in use reverts
///   (BorrowerCommitmentInUse), whoever registers it. The commitment must be deterministic per
///   person for a given provider (keccak256(providerSecret || canonical identity), one secret per
///   provider, not one salt per person), so that provider cannot enrol the same person twice.
///   Uniqueness therefore holds per KYC provider only: a person salted differently by two
///   providers is two commitments and two identities. Closing that needs a provider-independent
///   nullifier (e.g. a zero-knowledge proof over a government credential, or one shared
///   deduplication service all providers query); see reports/security.md §10.
/// - Linking another address to an identity (`linkAddress`) and unlinking one (`unlinkAddress`)
///   are deliberate actions of the provider who enrolled the identity.
/// - An address is enrolled only by its own consent transaction (`consent`), carrying the hash
///   of the consent terms it agreed to; until then it is Pending: not eligible, no identity.
/// - Once enrolled, an address belongs to its identity for good: `identityOf` keeps answering
///   after an unlink, so loans it took stay in that person's book (LoanManager relies on this),
///   and it can never be registered again or linked to another identity. Unlinking only makes
///   it ineligible; it cannot escape a ban, a cool-off or a delinquency.
/// - Status (Active, Suspended, Banned) is the identity's: banning one address bans every address
///   linked to it.
///
/// What is public (the consent terms say so): this contract is on a public chain, so anyone can
/// read which addresses are linked to one identity (`addressesOf`, `identityOf`, the events),
/// and with them all loans and scores of that person's addresses. Only the salted commitment is
/// stored, never a name, document or feature.
interface IBorrowerRegistry {
    enum BorrowerStatus {
        None,
        Active,
        Suspended,
        Banned
    }

    /// @notice An address's place in an identity: Pending (linked by the provider, not yet
    /// consented), Enrolled (consented) or Unlinked (retired by the provider; still the
    /// identity's for accounting, never eligible again).
    enum LinkStatus {
        None,
        Pending,
        Enrolled,
        Unlinked
    }

    /// @notice An identity. Slot 0 packs provider .. reasonCode (32 bytes).
    struct Identity {
        address provider; // the KYC account that registered the commitment
        bytes2 jurisdiction;
        uint64 kycExpiry;
        BorrowerStatus status;
        uint8 reasonCode;
        uint64 updatedAt;
    }

    /// @notice An address's link to an identity and the consent it gave.
    struct Link {
        bytes32 identity;
        bytes32 consentTermsHash; // the terms agreed to (zero until consent)
        uint64 consentedAt;
        LinkStatus status;
    }

    /// @notice One address's view: its identity's record and its own link status.
    struct Borrower {
        bytes32 identityCommitment;
        bytes2 jurisdiction;
        uint64 kycExpiry;
        BorrowerStatus status;
        uint8 reasonCode;
        uint64 updatedAt;
        LinkStatus link;
    }

    error BorrowerZeroAddress();
    error BorrowerZeroCommitment(address borrower);
    error BorrowerInvalidJurisdiction(address borrower, bytes2 jurisdiction);
    error BorrowerKycExpired(address borrower, uint64 kycExpiry);
    error BorrowerAlreadyRegistered(address borrower);
    error BorrowerNotRegistered(address borrower);
    error BorrowerInvalidStatus(address borrower, BorrowerStatus status);
    error BorrowerCommitmentInUse(bytes32 identity, address provider);
    error BorrowerUnknownIdentity(bytes32 identity);
    error BorrowerNotProvider(bytes32 identity, address caller);
    error BorrowerIdentityBanned(bytes32 identity);
    error BorrowerNotPending(address borrower, LinkStatus link);
    error BorrowerConsentTermsMismatch(bytes32 expected, bytes32 given);
    error BorrowerZeroTerms();
    error BorrowerNotAProvider(address account);

    /// @notice A provider registered a new identity and linked its first address (Pending).
    event BorrowerRegistered(
        address indexed borrower,
        bytes32 indexed identity,
        address indexed provider,
        bytes2 jurisdiction,
        uint64 kycExpiry
    );
    /// @notice A provider linked another address to an identity (Pending until it consents).
    event BorrowerAddressLinked(bytes32 indexed identity, address indexed borrower, address indexed provider);
    /// @notice An address consented to enrolment under `termsHash` and is now Enrolled.
    event BorrowerConsented(bytes32 indexed identity, address indexed borrower, bytes32 termsHash);
    /// @notice A provider unlinked an address: `wasEnrolled` false means a pending link was
    /// withdrawn (the address is free again); true means the address is retired.
    event BorrowerAddressUnlinked(bytes32 indexed identity, address indexed borrower, bool wasEnrolled);
    event BorrowerUpdated(bytes32 indexed identity, bytes2 jurisdiction, uint64 kycExpiry);
    event BorrowerSuspended(bytes32 indexed identity, address indexed via, uint8 reasonCode);
    event BorrowerBanned(bytes32 indexed identity, address indexed via, uint8 reasonCode);
    event BorrowerReinstated(bytes32 indexed identity, address indexed via);
    /// @notice The consent terms new enrolments must agree to changed.
    event BorrowerConsentTermsSet(bytes32 termsHash);
    /// @notice The admin moved an identity to another KYC provider (e.g. the first one lost its
    /// role): only the new one may renew, link or unlink it from now on.
    event BorrowerProviderReassigned(bytes32 indexed identity, address indexed previous, address indexed provider);

    function register(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external;
    function linkAddress(bytes32 identity, address borrower) external;
    function unlinkAddress(address borrower) external;
    function consent(bytes32 termsHash) external;
    function update(bytes32 identity, bytes2 jurisdiction, uint64 kycExpiry) external;
    function suspend(address borrower, uint8 reasonCode) external;
    function ban(address borrower, uint8 reasonCode) external;
    function reinstate(address borrower) external;
    function setConsentTerms(bytes32 termsHash) external;

    function isEligible(address borrower) external view returns (bool);
    function eligibility(address borrower) external view returns (bool eligible, bytes2 jurisdiction);
    function identityOf(address account) external view returns (bytes32);
    function linkedIdentity(address account) external view returns (bytes32);
    function getBorrower(address borrower) external view returns (Borrower memory);
    function getIdentity(bytes32 identity) external view returns (Identity memory);
    function getLink(address account) external view returns (Link memory);
    function reassignProvider(bytes32 identity, address provider) external;
    function addressesOf(bytes32 identity) external view returns (address[] memory);
    function consentTerms() external view returns (bytes32);
}
