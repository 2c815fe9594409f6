// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

/// @title ICreditScoreRegistry
/// @notice Credit scores attested off chain by k of n oracle signers (EIP-712, domain "Scorechain"
/// version "2") and recorded per borrower.
/// @dev Two signed forms, one schema (settled once; later fields go in the extension):
///
/// Pull mode, one borrower, signed by k signers:
///   ScoreAttestation(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,uint16 score,
///     uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash,
///     bytes32 configDigest)
/// Report-signed batch, many borrowers, k signatures for the whole report:
///   ScoreReport(bytes32 configDigest,ScoreEntry[] entries)ScoreEntry(address borrower,bytes32 modelId,
///     bytes32 featuresHash,uint16 pdBps,uint16 score,uint32 reasonCodes,uint64 issuedAt,
///     uint64 validUntil,uint256 nonce,bytes32 extensionHash)
/// Proven mode (a model with a zero-knowledge circuit), one borrower, signed by k signers who hold
/// the borrower's features and attest only their Poseidon commitment; the PD comes from the proof:
///   FeaturesAttestation(address borrower,bytes32 modelId,bytes32 featuresCommitment,
///     uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash,
///     bytes32 configDigest)
/// (standard EIP-712: the array is hashed as keccak256 of its entries' struct hashes, so a
/// wallet's eth_signTypedData_v4 signs and displays either form.)
///
/// configDigest binds a signature to one signer-set configuration (as OCR2's config digest): its
/// top two bytes are the threshold, the other 30 the first 30 bytes of keccak256(abi.encode(chainId,
/// this contract, configCount, signers, threshold)) (i.e. threshold << 240 | hash >> 16); every change of signers or threshold bumps
/// configCount, emits ConfigSet and voids every attestation and report signed under the old one.
///
/// extensionHash is zero, or keccak256 of an ABI-encoded extension whose first word is its
/// version (see docs in reports/security.md "Formats"): version 1 is
/// abi.encode(uint16(1), bytes32 manifestHash, bytes32 vkHash, bytes32 featuresCommitment,
/// bytes32 dataCid). This contract records it (ScoreRecorded) and does not interpret it yet, so
/// the fields later work adds (bundle manifest, zk verifying key, Poseidon features commitment,
/// IPFS content id) change no signed schema.
interface ICreditScoreRegistry {
    /// @notice One score as it is recorded: the report entry. See the contract's NatSpec above for
    /// the type strings. reasonCodes packs four one-byte codes, most important in the most
    /// significant byte (c0<<24|c1<<16|c2<<8|c3), 0 = none. pdBps is 0..10000. nonce is the
    /// borrower's next nonce.
    struct ScoreEntry {
        address borrower;
        bytes32 modelId;
        bytes32 featuresHash;
        uint16 pdBps;
        uint16 score;
        uint32 reasonCodes;
        uint64 issuedAt;
        uint64 validUntil;
        uint256 nonce;
        bytes32 extensionHash;
    }

    /// @notice A single signed score (pull mode): a ScoreEntry's fields in the same order, then the
    /// signer-set configuration digest it was signed under. Do not reorder (the oracle signs it, and
    /// the contract reads the first ten words as a ScoreEntry).
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
        bytes32 extensionHash;
        bytes32 configDigest;
    }

    /// @notice The signed half of a proven score (`submitProven`): the k signers attest that
    /// `featuresCommitment` (the circuit's public Poseidon hash of the model's inputs, a BN254
    /// field element) commits to `borrower`'s features for the open request `nonce`, and give the
    /// reason codes; the proof supplies the logit, from which the registry derives PD and score.
    struct FeaturesAttestation {
        address borrower;
        bytes32 modelId;
        bytes32 featuresCommitment;
        uint32 reasonCodes;
        uint64 issuedAt;
        uint64 validUntil;
        uint256 nonce;
        bytes32 extensionHash;
        bytes32 configDigest;
    }

    /// @notice A borrower's latest score as `latestScore` returns it. Stored in ONE slot per borrower
    /// (pd 16 bits, score 16, reason codes 32, issuedAt 40, validUntil 40, nonce 40, nextNonce 40,
    /// the model's registry index 16, 16 spare): the model is kept as its ModelRegistry index and
    /// resolved to its id by this view. The features and extension hashes live in the
    /// `ScoreRecorded` event only. `nonce` is the recorded attestation's nonce: a loan is decided
    /// only by a record whose nonce is at least the one its request fixed (see `advanceNonce`), i.e.
    /// by a score signed after the request. `nextNonce` is the nonce the next attestation must carry
    /// (`nonces(borrower)`). A score is recordable only while a request is open (nextNonce > nonce,
    /// `scoreRequested`): recording closes it, so no score is published for a borrower who did not
    /// request a loan, and each request publishes one. issuedAt == 0 means no score yet.
    struct ScoreRecord {
        bytes32 modelId;
        uint16 pdBps;
        uint16 score;
        uint32 reasonCodes;
        uint40 issuedAt;
        uint40 validUntil;
        uint48 nonce;
        uint48 nextNonce;
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
    error CreditScoreConfigMismatch(bytes32 signedDigest, bytes32 currentDigest);
    error CreditScoreEmptyReport();
    error CreditScoreNoOpenRequest(address borrower);
    error CreditScoreNonceExhausted(address borrower);
    error CreditScoreNotZkModel(bytes32 modelId);
    error CreditScoreInvalidProof(address borrower);

    /// @notice A score was recorded. `record` is the borrower's record slot exactly as stored
    /// (see ScoreRecord): bits 0-15 pdBps, 16-31 score, 32-63 reasonCodes, 64-103 issuedAt,
    /// 104-143 validUntil, 144-183 nonce, 184-223 the next nonce (equal to nonce: recording closes
    /// the request), 224-239 the model's ModelRegistry index. One word for the six small fields
    /// instead of six (measured: 2,450 gas less per recorded score, reports/gas.md); the oracle's
    /// codec (oracle.chain.unpack_record) and `latestScore` read the same layout.
    event ScoreRecorded(
        address indexed borrower,
        bytes32 indexed modelId,
        bytes32 featuresHash,
        uint256 record,
        bytes32 extensionHash
    );
    /// @notice The score just recorded (ScoreRecorded, its featuresHash the commitment) came with a
    /// valid proof that the model's circuit maps the committed features to `logit` (a field
    /// element, see ScoreMath); its PD and score were derived on chain.
    event ScoreProven(address indexed borrower, bytes32 indexed modelId, uint256 logit);
    /// @notice A report of `entries` scores signed under `configDigest` was submitted; `recorded`
    /// of them were recorded (the others emitted ScoreSkipped). `reportDigest` is the EIP-712
    /// digest the signers signed.
    event ScoreReportSubmitted(bytes32 indexed reportDigest, bytes32 configDigest, uint256 entries, uint256 recorded);
    /// @notice The signer set or threshold changed (as OCR2's ConfigSet: a verifier reads the
    /// signer set that a digest names from this event, no archive node needed). Every attestation
    /// signed under an earlier digest is void.
    event ConfigSet(
        uint32 previousConfigBlockNumber, bytes32 configDigest, uint64 configCount, address[] signers, uint256 threshold
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
    function submitReport(bytes32 configDigest, ScoreEntry[] calldata entries, bytes[] calldata signatures)
        external
        returns (uint256 recorded);

    function submitProven(
        FeaturesAttestation calldata att,
        bytes[] calldata signatures,
        bytes calldata proof,
        uint256 logit
    ) external;

    function advanceNonce(address borrower) external returns (uint256 nonce);

    function addSigner(address signer) external;
    function removeSigner(address signer) external;
    function rotateSigner(address oldSigner, address newSigner) external;
    function setThreshold(uint256 newThreshold) external;

    function hashAttestation(ScoreAttestation calldata att) external view returns (bytes32);
    function hashFeaturesAttestation(FeaturesAttestation calldata att) external view returns (bytes32);
    function provenPdAndScore(bytes32 modelId, uint256 logit) external view returns (uint16 pdBps, uint16 score);
    function hashReport(bytes32 configDigest, ScoreEntry[] calldata entries) external view returns (bytes32);
    function configDigest() external view returns (bytes32);
    function latestConfigDetails()
        external
        view
        returns (uint64 configCount, uint32 blockNumber, bytes32 configDigest);
    function latestScore(address borrower) external view returns (ScoreRecord memory);
    function scoreAge(address borrower) external view returns (uint256 ageSeconds);
    function threshold() external view returns (uint256);
    function signers() external view returns (address[] memory);
    function isSigner(address account) external view returns (bool);
    function modelRegistry() external view returns (address);
    function nonces(address borrower) external view returns (uint256);
    function scoreRequested(address borrower) external view returns (bool);
}
