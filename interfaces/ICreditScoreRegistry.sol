// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title ICreditScoreRegistry
/// @notice Credit scores attested off chain by k of n oracle signers (EIP-712, domain "Scorechain"
/// version "1") and recorded per borrower.
interface ICreditScoreRegistry {
    /// @notice The signed message. EIP-712 type string (do not reorder; the oracle signs it):
    /// ScoreAttestation(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,
    /// uint16 score,uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce)
    /// @dev reasonCodes packs four one-byte codes, most important in the most significant byte
    /// (c0<<24|c1<<16|c2<<8|c3), 0 = none. pdBps is 0..10000. nonce is the borrower's next nonce.
    struct ScoreAttestation {
        address borrower;
        bytes32 modelId;
        bytes32 featuresHash;
        uint16 pdBps;
        uint16 score;
        uint32 reasonCodes;
        uint64 issuedAt;
        uint64 validUntil;
        uint256 nonce;
    }

    /// @notice What is stored per borrower: two slots (modelId; then the rest packed). The features
    /// hash lives in the `ScoreRecorded` event only. `nonce` is the attestation's nonce: a loan is
    /// decided only by a record whose nonce is at least the one its request fixed (see
    /// `advanceNonce`), i.e. by a score signed after the request. Times are uint40 seconds.
    struct ScoreRecord {
        bytes32 modelId;
        uint16 pdBps;
        uint16 score;
        uint32 reasonCodes;
        uint40 issuedAt;
        uint40 validUntil;
        uint40 recordedAt;
        uint64 nonce;
    }

    error CreditScoreZeroAddress();
    error CreditScoreInvalidThreshold(uint256 threshold, uint256 signerCount);
    error CreditScoreTooManySigners(uint256 signerCount, uint256 maxSigners);
    error CreditScoreSignerAlreadyRegistered(address signer);
    error CreditScoreSignerNotRegistered(address signer);
    error CreditScoreInvalidPd(address borrower, uint16 pdBps);
    error CreditScoreNotYetValid(address borrower, uint64 issuedAt, uint256 nowSeconds);
    error CreditScoreExpired(address borrower, uint64 validUntil, uint256 nowSeconds);
    error CreditScoreStale(address borrower, uint64 issuedAt, uint64 lastIssuedAt);
    error CreditScoreInvalidNonce(address borrower, uint256 nonce, uint256 expectedNonce);
    error CreditScoreModelNotApproved(bytes32 modelId);
    error CreditScoreInsufficientSignatures(uint256 provided, uint256 threshold);
    error CreditScoreInvalidSignature(uint256 index);
    error CreditScoreUnknownSigner(address signer);
    error CreditScoreDuplicateSigner(address signer);
    error CreditScoreBatchLengthMismatch(uint256 attestations, uint256 signatureSets);
    error CreditScoreNotFound(address borrower);
    error CreditScoreValidityTooLong(address borrower, uint64 validUntil);

    /// @notice A score was recorded; carries every attestation field.
    event ScoreRecorded(
        address indexed borrower,
        bytes32 indexed modelId,
        bytes32 featuresHash,
        uint16 pdBps,
        uint16 score,
        uint32 reasonCodes,
        uint64 issuedAt,
        uint64 validUntil,
        uint256 nonce
    );
    /// @notice A batch entry was skipped; `reason` is the ABI-encoded custom error that `submit`
    /// would have reverted with (decode it with this interface's ABI).
    event ScoreSkipped(uint256 indexed index, address indexed borrower, uint256 nonce, bytes reason);
    /// @notice A loan request fixed the nonce the borrower's next attestation must carry; every
    /// attestation signed for this borrower before it is void (it carries a lower nonce).
    event ScoreNonceAdvanced(address indexed borrower, uint256 nonce);
    event OracleSignerAdded(address indexed signer, uint256 signerCount);
    event OracleSignerRemoved(address indexed signer, uint256 signerCount);
    event OracleSignerRotated(address indexed oldSigner, address indexed newSigner);
    event OracleThresholdChanged(uint256 oldThreshold, uint256 newThreshold);

    function submit(ScoreAttestation calldata att, bytes[] calldata signatures) external;
    function submitBatch(ScoreAttestation[] calldata atts, bytes[][] calldata signatures)
        external
        returns (uint256 recorded);

    function advanceNonce(address borrower) external returns (uint256 nonce);

    function addSigner(address signer) external;
    function removeSigner(address signer) external;
    function rotateSigner(address oldSigner, address newSigner) external;
    function setThreshold(uint256 newThreshold) external;

    function hashAttestation(ScoreAttestation calldata att) external view returns (bytes32);
    function latestScore(address borrower) external view returns (ScoreRecord memory);
    function scoreAge(address borrower) external view returns (uint256 ageSeconds);
    function threshold() external view returns (uint256);
    function signers() external view returns (address[] memory);
    function isSigner(address account) external view returns (bool);
    function modelRegistry() external view returns (address);
    function nonces(address borrower) external view returns (uint256);
}
