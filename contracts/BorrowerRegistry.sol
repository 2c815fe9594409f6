// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {IBorrowerRegistry} from "../interfaces/IBorrowerRegistry.sol";

/// @title BorrowerRegistry
/// @notice Borrowers per person. A KYC provider registers an identity by a salted commitment made
/// off chain (no PII on chain) and links addresses to it; each address enrols only by its own
/// consent transaction; regulators suspend, ban and reinstate identities (every linked address at
/// once). See IBorrowerRegistry for the identity rules and what is public.
/// @dev Consent terms: the borrower agrees that (1) names, documents and the features behind any
/// score never go on chain, only the provider's salted commitment; (2) a score is posted for them
/// when they request a loan and refreshed before it expires (the oracles' pull interface is not yet
/// restricted to them, and the text says so); (3) on this public chain anyone can read which addresses are
/// linked to their identity and so every loan and score of those addresses, for ever; (4) an
/// enrolled address stays attributed to them even if unlinked. The full text is
/// interfaces/borrower-consent.md; its keccak256 is `consentTerms()`.
contract BorrowerRegistry is IBorrowerRegistry, ScorechainAccess {
    bytes32 public constant KYC_PROVIDER_ROLE = keccak256("KYC_PROVIDER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    mapping(bytes32 identity => Identity) private _identities;
    mapping(bytes32 identity => address[]) private _addresses; // enrolled (and later unlinked) ones
    mapping(address account => Link) private _links;
    bytes32 private _consentTerms;

    /// @param consentTermsHash keccak256 of the consent text new enrolments agree to (non-zero).
    constructor(address admin, bytes32 consentTermsHash) ScorechainAccess(admin) {
        _setConsentTerms(consentTermsHash);
    }

    // ---------------------------------------------------------------- KYC provider

    /// @notice Registers a new identity `identityCommitment` and links `borrower` to it, pending
    /// the borrower's consent (not eligible before).
    /// @dev KYC_PROVIDER_ROLE; the caller is recorded as the identity's provider. Requires a
    /// non-zero address never registered before, a non-zero commitment not in use (uniqueness per
    /// provider, see IBorrowerRegistry), an uppercase A-Z two-letter jurisdiction and a KYC expiry
    /// in the future. Emits BorrowerRegistered.
    function register(address borrower, bytes32 identityCommitment, bytes2 jurisdiction, uint64 kycExpiry)
        external
        onlyRole(KYC_PROVIDER_ROLE)
    {
        _requireFree(borrower);
        _validate(borrower, identityCommitment, jurisdiction, kycExpiry);
        Identity storage id = _identities[identityCommitment];
        if (id.status != BorrowerStatus.None) revert BorrowerCommitmentInUse(identityCommitment, id.provider);
        _identities[identityCommitment] = Identity({
            provider: msg.sender,
            jurisdiction: jurisdiction,
            kycExpiry: kycExpiry,
            status: BorrowerStatus.Active,
            reasonCode: 0,
            updatedAt: uint64(block.timestamp)
        });
        _links[borrower].identity = identityCommitment;
        _links[borrower].status = LinkStatus.Pending;
        emit BorrowerRegistered(borrower, identityCommitment, msg.sender, jurisdiction, kycExpiry);
    }

    /// @notice Links another address of the same person to `identity`, pending its consent.
    /// @dev KYC_PROVIDER_ROLE and the provider who registered the identity; the identity not
    /// banned; the address non-zero and never registered. Emits BorrowerAddressLinked.
    function linkAddress(bytes32 identity, address borrower) external onlyRole(KYC_PROVIDER_ROLE) {
        Identity storage id = _providedBy(identity);
        if (id.status == BorrowerStatus.Banned) revert BorrowerIdentityBanned(identity);
        _requireFree(borrower);
        _links[borrower].identity = identity;
        _links[borrower].status = LinkStatus.Pending;
        emit BorrowerAddressLinked(identity, borrower, msg.sender);
    }

    /// @notice Unlinks `borrower` from its identity. A pending link is withdrawn (the address is
    /// free again); an enrolled address is retired: no longer eligible, still the identity's for
    /// accounting (`identityOf` unchanged, its loans stay in that person's book), and never
    /// registrable or linkable again, so unlinking cannot escape a ban, cool-off or delinquency.
    /// @dev KYC_PROVIDER_ROLE and the provider who registered the identity; the address must be
    /// Pending or Enrolled. Emits BorrowerAddressUnlinked.
    function unlinkAddress(address borrower) external onlyRole(KYC_PROVIDER_ROLE) {
        Link storage link = _links[borrower];
        bytes32 identity = link.identity;
        LinkStatus status = link.status;
        if (status != LinkStatus.Pending && status != LinkStatus.Enrolled) revert BorrowerNotRegistered(borrower);
        _providedBy(identity);
        bool wasEnrolled = status == LinkStatus.Enrolled;
        if (wasEnrolled) link.status = LinkStatus.Unlinked;
        else delete _links[borrower];
        emit BorrowerAddressUnlinked(identity, borrower, wasEnrolled);
    }

    /// @notice Moves `identity` to another KYC provider, which alone may renew, link or unlink it
    /// from now on: the way out when its provider lost its role (nobody could renew the identity's
    /// KYC any more) or a dispute between providers is settled.
    /// @dev DEFAULT_ADMIN_ROLE; `provider` must hold KYC_PROVIDER_ROLE. Emits BorrowerProviderReassigned.
    function reassignProvider(bytes32 identity, address provider) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Identity storage id = _identities[identity];
        if (id.status == BorrowerStatus.None) revert BorrowerUnknownIdentity(identity);
        if (!hasRole(KYC_PROVIDER_ROLE, provider)) revert BorrowerNotAProvider(provider);
        address previous = id.provider;
        id.provider = provider;
        emit BorrowerProviderReassigned(identity, previous, provider);
    }

    /// @notice Renews an identity's KYC: new jurisdiction and expiry (the commitment cannot change:
    /// it is the identity).
    /// @dev KYC_PROVIDER_ROLE and the identity's provider; not Banned. Emits BorrowerUpdated.
    function update(bytes32 identity, bytes2 jurisdiction, uint64 kycExpiry) external onlyRole(KYC_PROVIDER_ROLE) {
        Identity storage id = _providedBy(identity);
        if (id.status == BorrowerStatus.Banned) revert BorrowerIdentityBanned(identity);
        _validate(address(0), identity, jurisdiction, kycExpiry);
        id.jurisdiction = jurisdiction;
        id.kycExpiry = kycExpiry;
        id.updatedAt = uint64(block.timestamp);
        emit BorrowerUpdated(identity, jurisdiction, kycExpiry);
    }

    // ---------------------------------------------------------------- borrower

    /// @notice The caller (a Pending address) consents to enrolment under the current consent
    /// terms and becomes Enrolled: eligible while its identity is Active with KYC valid.
    /// @dev By consenting the borrower agrees to the terms whose keccak256 is `termsHash` (must
    /// equal `consentTerms()`): no PII or features on chain, only a salted commitment; scores only
    /// on their loan requests; the link of this address to their identity readable by anyone on
    /// this public chain, for ever; an enrolled address stays theirs even if unlinked.
    /// Emits BorrowerConsented.
    function consent(bytes32 termsHash) external {
        Link storage link = _links[msg.sender];
        if (link.status != LinkStatus.Pending) revert BorrowerNotPending(msg.sender, link.status);
        if (termsHash != _consentTerms) revert BorrowerConsentTermsMismatch(_consentTerms, termsHash);
        bytes32 identity = link.identity;
        link.status = LinkStatus.Enrolled;
        link.consentTermsHash = termsHash;
        link.consentedAt = uint64(block.timestamp);
        _addresses[identity].push(msg.sender);
        emit BorrowerConsented(identity, msg.sender, termsHash);
    }

    // ---------------------------------------------------------------- regulator and admin

    /// @notice Suspends the Active identity of `borrower` (every linked address) with a reason code.
    /// @dev REGULATOR_ROLE; `borrower` any address linked to it (pending included). Emits BorrowerSuspended.
    function suspend(address borrower, uint8 reasonCode) external onlyRole(REGULATOR_ROLE) {
        (bytes32 identity, Identity storage id) = _identityFor(borrower);
        if (id.status != BorrowerStatus.Active) revert BorrowerInvalidStatus(borrower, id.status);
        _setStatus(id, BorrowerStatus.Suspended, reasonCode);
        emit BorrowerSuspended(identity, borrower, reasonCode);
    }

    /// @notice Bans the Active or Suspended identity of `borrower` (every linked address).
    /// @dev REGULATOR_ROLE. Emits BorrowerBanned.
    function ban(address borrower, uint8 reasonCode) external onlyRole(REGULATOR_ROLE) {
        (bytes32 identity, Identity storage id) = _identityFor(borrower);
        if (id.status != BorrowerStatus.Active && id.status != BorrowerStatus.Suspended) {
            revert BorrowerInvalidStatus(borrower, id.status);
        }
        _setStatus(id, BorrowerStatus.Banned, reasonCode);
        emit BorrowerBanned(identity, borrower, reasonCode);
    }

    /// @notice Returns the Suspended or Banned identity of `borrower` to Active, clearing the reason.
    /// @dev REGULATOR_ROLE. Emits BorrowerReinstated.
    function reinstate(address borrower) external onlyRole(REGULATOR_ROLE) {
        (bytes32 identity, Identity storage id) = _identityFor(borrower);
        if (id.status != BorrowerStatus.Suspended && id.status != BorrowerStatus.Banned) {
            revert BorrowerInvalidStatus(borrower, id.status);
        }
        _setStatus(id, BorrowerStatus.Active, 0);
        emit BorrowerReinstated(identity, borrower);
    }

    /// @notice Publishes new consent terms (keccak256 of the text); later consents must carry it.
    /// Addresses enrolled before keep the hash they agreed to.
    /// @dev DEFAULT_ADMIN_ROLE; non-zero. Emits BorrowerConsentTermsSet.
    function setConsentTerms(bytes32 termsHash) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setConsentTerms(termsHash);
    }

    // ---------------------------------------------------------------- views

    /// @notice True if `borrower` is Enrolled (consented, not unlinked) and its identity is Active
    /// with KYC not expired.
    function isEligible(address borrower) external view returns (bool eligible) {
        (eligible,) = _eligibility(borrower);
    }

    /// @notice Eligibility and the identity's jurisdiction in one call (read by ComplianceRules).
    function eligibility(address borrower) external view returns (bool eligible, bytes2 jurisdiction) {
        return _eligibility(borrower);
    }

    /// @notice The identity `account` is enrolled under (also after an unlink); zero if it never
    /// consented. LoanManager keys its per-person book by this; it never changes once non-zero.
    function identityOf(address account) external view returns (bytes32) {
        Link storage link = _links[account];
        LinkStatus s = link.status;
        return s == LinkStatus.Enrolled || s == LinkStatus.Unlinked ? link.identity : bytes32(0);
    }

    /// @notice The identity the KYC provider linked `account` to, whatever the link's status
    /// (pending consent, enrolled or unlinked); zero if never linked. One SLOAD: LoanManager's
    /// self-funding check, where the link alone says who a lender is.
    function linkedIdentity(address account) external view returns (bytes32) {
        return _links[account].identity;
    }

    /// @notice `borrower`'s view: its identity's record and its own link status (all zero if unknown).
    function getBorrower(address borrower) external view returns (Borrower memory b) {
        Link storage link = _links[borrower];
        Identity storage id = _identities[link.identity];
        if (link.status == LinkStatus.None) return b;
        b = Borrower({
            identityCommitment: link.identity,
            jurisdiction: id.jurisdiction,
            kycExpiry: id.kycExpiry,
            status: id.status,
            reasonCode: id.reasonCode,
            updatedAt: id.updatedAt,
            link: link.status
        });
    }

    /// @notice The record of `identity` (all zero if unknown).
    function getIdentity(bytes32 identity) external view returns (Identity memory) {
        return _identities[identity];
    }

    /// @notice `account`'s link and consent (all zero if unknown).
    function getLink(address account) external view returns (Link memory) {
        return _links[account];
    }

    /// @notice Addresses that consented to `identity`, in order (unlinked ones included; see getLink).
    function addressesOf(bytes32 identity) external view returns (address[] memory) {
        return _addresses[identity];
    }

    /// @notice keccak256 of the consent terms a new enrolment must agree to.
    function consentTerms() external view returns (bytes32) {
        return _consentTerms;
    }

    // ---------------------------------------------------------------- internals

    function _eligibility(address borrower) private view returns (bool, bytes2) {
        Link storage link = _links[borrower];
        Identity storage id = _identities[link.identity];
        bool eligible = link.status == LinkStatus.Enrolled && id.status == BorrowerStatus.Active
            && id.kycExpiry > block.timestamp;
        return (eligible, id.jurisdiction);
    }

    function _requireFree(address borrower) private view {
        if (borrower == address(0)) revert BorrowerZeroAddress();
        if (_links[borrower].status != LinkStatus.None) revert BorrowerAlreadyRegistered(borrower);
    }

    function _providedBy(bytes32 identity) private view returns (Identity storage id) {
        id = _identities[identity];
        if (id.status == BorrowerStatus.None) revert BorrowerUnknownIdentity(identity);
        if (id.provider != msg.sender) revert BorrowerNotProvider(identity, msg.sender);
    }

    /// @dev An unknown address has identity zero, which is never registered (commitments are non-zero).
    function _identityFor(address borrower) private view returns (bytes32 identity, Identity storage id) {
        identity = _links[borrower].identity;
        id = _identities[identity];
        if (id.status == BorrowerStatus.None) revert BorrowerNotRegistered(borrower);
    }

    function _setStatus(Identity storage id, BorrowerStatus status, uint8 reasonCode) private {
        id.status = status;
        id.reasonCode = reasonCode;
        id.updatedAt = uint64(block.timestamp);
    }

    function _setConsentTerms(bytes32 termsHash) private {
        if (termsHash == bytes32(0)) revert BorrowerZeroTerms();
        _consentTerms = termsHash;
        emit BorrowerConsentTermsSet(termsHash);
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
