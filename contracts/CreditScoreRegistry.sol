// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SSTORE2} from "solady/utils/SSTORE2.sol";
import {ICreditScoreRegistry} from "../interfaces/ICreditScoreRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";
import {IZkVerifier} from "../interfaces/IZkVerifier.sol";
import {ScoreMath} from "./zk/ScoreMath.sol";

/// @title CreditScoreRegistry
/// @notice Records credit scores signed by at least `threshold` distinct registered oracle signers
/// over EIP-712 typed data (domain name "Scorechain", version "2", chainId, this contract), either
/// one borrower at a time (`submit`, `submitBatch`: pull mode, anyone may relay) or as a
/// report-signed batch (`submitReport`: k signatures for many scores). The schemas are in
/// ICreditScoreRegistry's NatSpec.
/// A model with a zero-knowledge circuit (ModelRegistry.setZkCircuit) may also be scored by proof
/// (`submitProven`): k signers attest the borrower's features commitment after the request, the
/// model's verifier checks a proof that the circuit maps those committed features to a logit, and
/// the PD and score are derived here (ScoreMath); the record and every check after it are those
/// of `submit`, so the compliance rules and the loan treat both paths alike.
/// Every signature is bound to the signer-set configuration by its config digest (OCR2 style):
/// adding, removing or rotating a signer or changing the threshold voids everything signed before.
/// A loan request calls `advanceNonce` (SCORE_REQUESTER_ROLE, held by LoanManager): every
/// attestation signed for the borrower before the request carries a lower nonce and can no longer
/// be recorded, and the loan accepts only a record whose nonce is at least the advanced one, so a
/// loan is decided only by a score signed after it was requested. A score is recordable only while
/// a request is open, and recording one closes it: no score of a borrower who did not request a
/// loan is ever published, and one request publishes one score.
/// Gas layout: one storage slot per borrower (the model as its registry index), and the signer
/// list of each configuration written once as contract code (Solady SSTORE2 at an address derived
/// from the config digest), so a verification reads it with one EXTCODECOPY instead of one SLOAD
/// per signer.
/// @dev Signatures may come in any order; distinctness is checked with a bitmap over signer
/// positions. The first `threshold` signatures must be valid and from distinct registered signers;
/// any beyond them are ignored. `submit` reverts on the first failed check; `submitBatch` and
/// `submitReport` skip a failing entry and emit `ScoreSkipped` carrying the ABI-encoded error
/// `submit` would have raised, so one stale entry does not sink the rest.
contract CreditScoreRegistry is ICreditScoreRegistry, ScorechainAccess, EIP712 {
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");
    bytes32 public constant SCORE_REQUESTER_ROLE = keccak256("SCORE_REQUESTER_ROLE");

    /// @notice The EIP-712 type hash of ScoreAttestation.
    bytes32 public constant SCORE_ATTESTATION_TYPEHASH = keccak256(
        "ScoreAttestation(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,uint16 score,"
        "uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash,"
        "bytes32 configDigest)"
    );
    /// @notice The EIP-712 type hash of ScoreEntry (a report's element).
    bytes32 public constant SCORE_ENTRY_TYPEHASH = keccak256(
        "ScoreEntry(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,uint16 score,"
        "uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash)"
    );
    /// @notice The EIP-712 type hash of ScoreReport (referenced struct types appended, per EIP-712).
    bytes32 public constant SCORE_REPORT_TYPEHASH = keccak256(
        "ScoreReport(bytes32 configDigest,ScoreEntry[] entries)"
        "ScoreEntry(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,uint16 score,"
        "uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash)"
    );

    /// @notice The EIP-712 type hash of FeaturesAttestation (the signed half of a proven score).
    bytes32 public constant FEATURES_ATTESTATION_TYPEHASH = keccak256(
        "FeaturesAttestation(address borrower,bytes32 modelId,bytes32 featuresCommitment,uint32 reasonCodes,"
        "uint64 issuedAt,uint64 validUntil,uint256 nonce,bytes32 extensionHash,bytes32 configDigest)"
    );

    /// @notice Signer positions index a 256-bit bitmap.
    uint256 public constant MAX_SIGNERS = 256;
    uint16 private constant _MAX_PD_BPS = 10_000;

    IModelRegistry private immutable _modelRegistry;

    // Record bit layout (see ICreditScoreRegistry.ScoreRecord).
    uint256 private constant _ISSUED_AT_SHIFT = 64;
    uint256 private constant _VALID_UNTIL_SHIFT = 104;
    uint256 private constant _NONCE_SHIFT = 144;
    uint256 private constant _NEXT_NONCE_SHIFT = 184;
    uint256 private constant _MODEL_SHIFT = 224;
    uint256 private constant _MASK40 = type(uint40).max;
    // A proof's public values after [commitment, logit]: the borrower and loan request, keccak in
    // 22-bit chunks (models.zk.circuit.LOAN_CHUNKS).
    uint256 private constant _LOAN_CHUNKS = 6;
    uint256 private constant _LOAN_BITS = 22;

    address[] private _signers;
    mapping(address signer => uint256 position) private _signerPosition; // 1-based, 0 = not a signer
    // The config digest; its top 16 bits are the threshold, so one SLOAD gives both to every
    // verification, and it is the SSTORE2 salt of the configuration's signer list.
    bytes32 private _configDigest;
    uint64 private _configCount;
    uint32 private _configBlock;
    mapping(address borrower => uint256 packed) private _records;

    constructor(address admin, IModelRegistry modelRegistry_, address[] memory initialSigners, uint256 threshold_)
        ScorechainAccess(admin)
        EIP712("Scorechain", "2")
    {
        if (address(modelRegistry_) == address(0)) revert CreditScoreZeroAddress();
        _modelRegistry = modelRegistry_;
        for (uint256 i = 0; i < initialSigners.length; ++i) {
            _addSigner(initialSigners[i]);
        }
        _setConfig(threshold_);
    }

    // ---------------------------------------------------------------- attestations

    /// @notice Records `att` if it carries at least `threshold` valid signatures from distinct
    /// registered signers, signed under the current config digest.
    /// @dev Requires configDigest == configDigest(), pdBps <= 10000, issuedAt <= now < validUntil
    /// <= 2**40 - 1, nonce == nonces(borrower), issuedAt newer than the borrower's last score, and an
    /// approved model. Reverts with the first failed check's CreditScore* error. Emits ScoreRecorded.
    function submit(ScoreAttestation calldata att, bytes[] calldata signatures) external {
        _recordAttestation(att, signatures, true, 0);
    }

    /// @notice Records many single attestations in one transaction. A failing entry is skipped
    /// (its error is emitted in ScoreSkipped) and the others are still recorded.
    /// @dev Reverts only if the two arrays differ in length. Emits ScoreRecorded or ScoreSkipped
    /// per entry. Returns the number recorded.
    function submitBatch(ScoreAttestation[] calldata atts, bytes[][] calldata signatures)
        external
        returns (uint256 recorded)
    {
        if (atts.length != signatures.length) revert CreditScoreBatchLengthMismatch(atts.length, signatures.length);
        for (uint256 i = 0; i < atts.length; ++i) {
            if (_recordAttestation(atts[i], signatures[i], false, i)) ++recorded;
        }
    }

    /// @notice Records a report-signed batch: k signatures over one ScoreReport cover every entry.
    /// The report as a whole must be signed under the current config digest by k distinct
    /// registered signers (else it reverts); each entry is then checked as `submit` checks an
    /// attestation and a failing one is skipped (ScoreSkipped), the others recorded.
    /// @dev Emits ScoreRecorded/ScoreSkipped per entry and ScoreReportSubmitted. Returns the number
    /// recorded.
    function submitReport(bytes32 signedDigest, ScoreEntry[] calldata entries, bytes[] calldata signatures)
        external
        returns (uint256 recorded)
    {
        if (entries.length == 0) revert CreditScoreEmptyReport();
        bytes32 current = _configDigest;
        if (signedDigest != current) revert CreditScoreConfigMismatch(signedDigest, current);
        bytes32 digest = hashReport(signedDigest, entries);
        bytes memory sigError = _verifySignatures(digest, signatures, current);
        if (sigError.length != 0) {
            assembly ("memory-safe") {
                revert(add(sigError, 0x20), mload(sigError))
            }
        }
        for (uint256 i = 0; i < entries.length; ++i) {
            if (_checkAndStore(entries[i], false, i)) ++recorded;
        }
        emit ScoreReportSubmitted(digest, signedDigest, entries.length, recorded);
    }

    /// @notice Records a score proven by zero knowledge: `att` (the features commitment, signed by k
    /// signers after the request) and a proof that the model's circuit maps the committed
    /// features to `logit`. PD and score are derived from `logit` here, not supplied.
    /// @dev The model must have a circuit (CreditScoreNotZkModel) and pass every check `submit`
    /// makes (config digest, validity window, nonce, open request, approved model, signatures);
    /// then the model's verifier is called (STATICCALL) with instances [featuresCommitment, logit,
    /// the loan's six chunks]: the borrower and the loan request are public inputs of the proof
    /// (keccak256(abi.encode(borrower, nonce)) in 22-bit chunks, lowest first; models.zk
    /// loan_binding), so a proof made for another borrower or another request of this one does
    /// not verify. False, a revert or a public value outside the field is
    /// CreditScoreInvalidProof. Emits ScoreRecorded and ScoreProven.
    function submitProven(
        FeaturesAttestation calldata att,
        bytes[] calldata signatures,
        bytes calldata proof,
        uint256 logit
    ) external {
        (address verifier, uint256 record) = _provenRecord(att, logit);
        bytes memory err = _verifySignatures(hashFeaturesAttestation(att), signatures, _configDigest);
        if (err.length != 0) {
            assembly ("memory-safe") {
                revert(add(err, 0x20), mload(err))
            }
        }
        if (!_proofValid(verifier, proof, att, logit)) revert CreditScoreInvalidProof(att.borrower);
        _records[att.borrower] = record;
        _emitProven(att, record, logit);
    }

    /// @notice Voids every attestation signed so far for `borrower` and returns the nonce the
    /// next one must carry (called when the borrower requests a loan).
    /// @dev SCORE_REQUESTER_ROLE. Emits ScoreNonceAdvanced.
    function advanceNonce(address borrower) external onlyRole(SCORE_REQUESTER_ROLE) returns (uint256 nonce) {
        uint256 rec = _records[borrower];
        nonce = ((rec >> _NEXT_NONCE_SHIFT) & _MASK40) + 1;
        if (nonce > _MASK40) revert CreditScoreNonceExhausted(borrower); // 2**40 requests: unreachable
        _records[borrower] = (rec & ~(_MASK40 << _NEXT_NONCE_SHIFT)) | (nonce << _NEXT_NONCE_SHIFT);
        emit ScoreNonceAdvanced(borrower, nonce);
    }

    // ---------------------------------------------------------------- oracle signer set

    /// @notice Adds an oracle signer (a new configuration: everything signed before is void).
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerAdded and ConfigSet.
    function addSigner(address signer) external onlyRole(ORACLE_ADMIN_ROLE) {
        _addSigner(signer);
        _setConfig(_threshold());
    }

    /// @notice Removes an oracle signer; the threshold must still be reachable afterwards.
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerRemoved and ConfigSet.
    function removeSigner(address signer) external onlyRole(ORACLE_ADMIN_ROLE) {
        uint256 pos = _signerPosition[signer];
        if (pos == 0) revert CreditScoreSignerNotRegistered(signer);
        uint256 count = _signers.length - 1;
        uint256 k = _threshold();
        if (k > count) revert CreditScoreInvalidThreshold(k, count);
        address last = _signers[count];
        _signers[pos - 1] = last;
        _signerPosition[last] = pos;
        _signers.pop();
        delete _signerPosition[signer];
        emit OracleSignerRemoved(signer, count);
        _setConfig(k);
    }

    /// @notice Replaces `oldSigner` by `newSigner` in place (same position, threshold unchanged).
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerRotated and ConfigSet.
    function rotateSigner(address oldSigner, address newSigner) external onlyRole(ORACLE_ADMIN_ROLE) {
        uint256 pos = _signerPosition[oldSigner];
        if (pos == 0) revert CreditScoreSignerNotRegistered(oldSigner);
        if (newSigner == address(0)) revert CreditScoreZeroAddress();
        if (_signerPosition[newSigner] != 0) revert CreditScoreSignerAlreadyRegistered(newSigner);
        _signers[pos - 1] = newSigner;
        _signerPosition[newSigner] = pos;
        delete _signerPosition[oldSigner];
        emit OracleSignerRotated(oldSigner, newSigner);
        _setConfig(_threshold());
    }

    /// @notice Sets the number of distinct signatures required (1 <= threshold <= signer count).
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleThresholdChanged and ConfigSet.
    function setThreshold(uint256 newThreshold) external onlyRole(ORACLE_ADMIN_ROLE) {
        _setConfig(newThreshold);
    }

    // ---------------------------------------------------------------- views

    /// @notice The EIP-712 digest of `att` that signers sign.
    function hashAttestation(ScoreAttestation calldata att) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(SCORE_ATTESTATION_TYPEHASH, att)));
    }

    /// @notice The EIP-712 digest of `att` that signers sign for a proven score.
    function hashFeaturesAttestation(FeaturesAttestation calldata att) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(FEATURES_ATTESTATION_TYPEHASH, att)));
    }

    /// @notice The PD (basis points) and score that a proof's `logit` gives for `modelId`: what
    /// `submitProven` records, and the canonical figures for a zk-scored model.
    /// @dev Reverts CreditScoreNotZkModel or, for a logit outside the field, CreditScoreInvalidProof.
    function provenPdAndScore(bytes32 modelId, uint256 logit) external view returns (uint16 pdBps, uint16 score) {
        (, pdBps, score) = _proven(modelId, logit);
    }

    /// @notice The EIP-712 digest of the ScoreReport (`signedDigest`, `entries`) that signers sign.
    function hashReport(bytes32 signedDigest, ScoreEntry[] calldata entries) public view returns (bytes32) {
        uint256 n = entries.length;
        bytes32[] memory hashes = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            hashes[i] = keccak256(abi.encode(SCORE_ENTRY_TYPEHASH, entries[i]));
        }
        bytes32 entriesHash;
        assembly ("memory-safe") {
            entriesHash := keccak256(add(hashes, 0x20), mul(n, 0x20))
        }
        return _hashTypedDataV4(keccak256(abi.encode(SCORE_REPORT_TYPEHASH, signedDigest, entriesHash)));
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The digest of the current signer-set configuration, which every signature must be
    /// made under (top two bytes: the threshold).
    function configDigest() external view returns (bytes32) {
        return _configDigest;
    }

    /// @notice The number of configurations so far, the block of the latest (its ConfigSet event)
    /// and its digest (OCR2's latestConfigDetails).
    function latestConfigDetails() external view returns (uint64 configCount, uint32 blockNumber, bytes32 digest) {
        return (_configCount, _configBlock, _configDigest);
    }

    /// @notice The latest recorded score of `borrower` (all zero if none), its model resolved from
    /// the registry index kept in the record to the model id.
    function latestScore(address borrower) external view returns (ScoreRecord memory r) {
        uint256 rec = _records[borrower];
        uint256 modelIndex = rec >> _MODEL_SHIFT;
        if (modelIndex != 0) r.modelId = _modelRegistry.modelIdAt(modelIndex);
        r.pdBps = uint16(rec);
        r.score = uint16(rec >> 16);
        r.reasonCodes = uint32(rec >> 32);
        r.issuedAt = uint40(rec >> _ISSUED_AT_SHIFT);
        r.validUntil = uint40(rec >> _VALID_UNTIL_SHIFT);
        r.nonce = uint48((rec >> _NONCE_SHIFT) & _MASK40);
        r.nextNonce = uint48((rec >> _NEXT_NONCE_SHIFT) & _MASK40);
    }

    /// @notice Seconds since the latest score of `borrower` was issued (issuedAt, not recordedAt).
    /// @dev Reverts CreditScoreNotFound if the borrower has no score.
    function scoreAge(address borrower) external view returns (uint256 ageSeconds) {
        uint256 rec = _records[borrower];
        // A record always has a model index (from 1); a slot with only nonces has no score.
        if (rec >> _MODEL_SHIFT == 0) revert CreditScoreNotFound(borrower);
        return block.timestamp - uint40(rec >> _ISSUED_AT_SHIFT);
    }

    /// @notice Number of distinct signatures required.
    function threshold() external view returns (uint256) {
        return _threshold();
    }

    /// @notice The registered oracle signers.
    function signers() external view returns (address[] memory) {
        return _signers;
    }

    /// @notice True if `account` is a registered oracle signer.
    function isSigner(address account) external view returns (bool) {
        return _signerPosition[account] != 0;
    }

    /// @notice The model registry consulted on every submission.
    function modelRegistry() external view returns (address) {
        return address(_modelRegistry);
    }

    /// @notice The next nonce expected for `borrower`.
    function nonces(address borrower) public view returns (uint256) {
        return (_records[borrower] >> _NEXT_NONCE_SHIFT) & _MASK40;
    }

    /// @notice True while a loan request of `borrower` awaits its score: an attestation carrying
    /// `nonces(borrower)` is recordable (oracles sign only then).
    function scoreRequested(address borrower) external view returns (bool) {
        uint256 rec = _records[borrower];
        return ((rec >> _NEXT_NONCE_SHIFT) & _MASK40) > ((rec >> _NONCE_SHIFT) & _MASK40);
    }

    // ---------------------------------------------------------------- internals

    function _recordAttestation(ScoreAttestation calldata att, bytes[] calldata signatures, bool strict, uint256 index)
        private
        returns (bool)
    {
        // A ScoreAttestation's first ten words are a ScoreEntry (same fields, same order; both are
        // static structs), so the checks below are the report's, read from the same calldata.
        ScoreEntry calldata entry;
        assembly ("memory-safe") {
            entry := att
        }
        bytes32 current = _configDigest;
        if (att.configDigest != current) {
            return _fail(
                strict,
                index,
                entry,
                abi.encodeWithSelector(CreditScoreConfigMismatch.selector, att.configDigest, current)
            );
        }
        // Field checks before signature recovery: each failure names its cause, and a relayer pays
        // for no recovery on an entry that is stale anyway.
        (bytes memory fieldError, uint256 modelIndex) = _fieldError(entry);
        if (fieldError.length != 0) return _fail(strict, index, entry, fieldError);
        bytes memory sigError = _verifySignatures(hashAttestation(att), signatures, current);
        if (sigError.length != 0) return _fail(strict, index, entry, sigError);
        _store(entry, modelIndex);
        return true;
    }

    function _checkAndStore(ScoreEntry calldata entry, bool strict, uint256 index) private returns (bool) {
        (bytes memory fieldError, uint256 modelIndex) = _fieldError(entry);
        if (fieldError.length != 0) return _fail(strict, index, entry, fieldError);
        _store(entry, modelIndex);
        return true;
    }

    /// @dev The ABI-encoded error of the first failed field check of `e` (or empty bytes) and the
    /// approved model's registry index.
    function _fieldError(ScoreEntry calldata e) private view returns (bytes memory, uint256 modelIndex) {
        return _checkFields(e.borrower, e.pdBps, e.issuedAt, e.validUntil, e.nonce, e.modelId);
    }

    /// @dev The checks every recorded score passes, whichever path brought it.
    function _checkFields(
        address borrower,
        uint16 pdBps,
        uint64 issuedAt,
        uint64 validUntil,
        uint256 nonce,
        bytes32 modelId
    ) private view returns (bytes memory, uint256 modelIndex) {
        if (borrower == address(0)) return (abi.encodeWithSelector(CreditScoreZeroAddress.selector), 0);
        if (pdBps > _MAX_PD_BPS) {
            return (abi.encodeWithSelector(CreditScoreInvalidPd.selector, borrower, pdBps), 0);
        }
        if (issuedAt > block.timestamp) {
            return (abi.encodeWithSelector(CreditScoreNotYetValid.selector, borrower, issuedAt, block.timestamp), 0);
        }
        if (validUntil > _MASK40) {
            return (abi.encodeWithSelector(CreditScoreValidityTooLong.selector, borrower, validUntil), 0);
        }
        if (validUntil <= block.timestamp) {
            return (abi.encodeWithSelector(CreditScoreExpired.selector, borrower, validUntil, block.timestamp), 0);
        }
        uint256 rec = _records[borrower];
        uint64 lastIssuedAt = uint40(rec >> _ISSUED_AT_SHIFT);
        if (issuedAt <= lastIssuedAt) {
            return (abi.encodeWithSelector(CreditScoreStale.selector, borrower, issuedAt, lastIssuedAt), 0);
        }
        uint256 expectedNonce = (rec >> _NEXT_NONCE_SHIFT) & _MASK40;
        if (nonce != expectedNonce) {
            return (abi.encodeWithSelector(CreditScoreInvalidNonce.selector, borrower, nonce, expectedNonce), 0);
        }
        // The expected nonce is the last recorded one until a request advances it (it is never
        // below it: `<=` reads as "no request since the last record").
        if (expectedNonce <= (rec >> _NONCE_SHIFT) & _MASK40) {
            return (abi.encodeWithSelector(CreditScoreNoOpenRequest.selector, borrower), 0);
        }
        modelIndex = _modelRegistry.approvedIndex(modelId);
        if (modelIndex == 0) return (abi.encodeWithSelector(CreditScoreModelNotApproved.selector, modelId), 0);
        return ("", modelIndex);
    }

    /// @dev The record a proven score writes, after the checks `submit` makes before signatures
    /// (config digest, then the fields, the PD and score being the ones `logit` gives).
    function _provenRecord(FeaturesAttestation calldata att, uint256 logit)
        private
        view
        returns (address verifier, uint256 record)
    {
        if (att.configDigest != _configDigest) revert CreditScoreConfigMismatch(att.configDigest, _configDigest);
        uint16 pdBps;
        uint16 score;
        (verifier, pdBps, score) = _proven(att.modelId, logit);
        uint256 modelIndex;
        {
            bytes memory err;
            (err, modelIndex) = _checkFields(att.borrower, pdBps, att.issuedAt, att.validUntil, att.nonce, att.modelId);
            if (err.length != 0) {
                assembly ("memory-safe") {
                    revert(add(err, 0x20), mload(err))
                }
            }
        }
        record = _pack(pdBps, score, att.reasonCodes, att.issuedAt, att.validUntil, att.nonce, modelIndex);
    }

    function _emitProven(FeaturesAttestation calldata att, uint256 record, uint256 logit) private {
        emit ScoreRecorded(att.borrower, att.modelId, att.featuresCommitment, record, att.extensionHash);
        emit ScoreProven(att.borrower, att.modelId, logit);
    }

    /// @dev The model's verifier and the PD and score its circuit's `logit` gives.
    function _proven(bytes32 modelId, uint256 logit)
        private
        view
        returns (address verifier, uint16 pdBps, uint16 score)
    {
        uint8 scale;
        (verifier,, scale) = _modelRegistry.zkCircuit(modelId);
        if (verifier == address(0)) revert CreditScoreNotZkModel(modelId);
        if (logit >= ScoreMath.FIELD) revert CreditScoreInvalidProof(address(0));
        pdBps = ScoreMath.pdBpsFromLogit(ScoreMath.feltToInt(logit), scale);
        score = ScoreMath.scoreFromPd(pdBps);
    }

    /// @dev True only if `verifier` answers true for `proof` over [commitment, logit]; a commitment
    /// outside the field (which a verifier might reduce) is refused before the call.
    function _proofValid(address verifier, bytes calldata proof, FeaturesAttestation calldata att, uint256 logit)
        private
        view
        returns (bool)
    {
        if (uint256(att.featuresCommitment) >= ScoreMath.FIELD) return false;
        uint256[] memory instances = new uint256[](2 + _LOAN_CHUNKS);
        instances[0] = uint256(att.featuresCommitment);
        instances[1] = logit;
        uint256 loan = uint256(keccak256(abi.encode(att.borrower, att.nonce)));
        for (uint256 i = 0; i < _LOAN_CHUNKS; ++i) {
            instances[2 + i] = (loan >> (_LOAN_BITS * i)) & ((1 << _LOAN_BITS) - 1);
        }
        try IZkVerifier(verifier).verifyProof(proof, instances) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    /// @dev Writes the borrower's one record slot (nextNonce = nonce: the request is closed) and
    /// emits ScoreRecorded.
    function _store(ScoreEntry calldata e, uint256 modelIndex) private {
        // Checked before: issuedAt <= now, validUntil < 2**40, nonce == the stored 40-bit
        // nextNonce, modelIndex < 2**16 (the registry's uint16).
        uint256 record = _pack(e.pdBps, e.score, e.reasonCodes, e.issuedAt, e.validUntil, e.nonce, modelIndex);
        _records[e.borrower] = record;
        emit ScoreRecorded(e.borrower, e.modelId, e.featuresHash, record, e.extensionHash);
    }

    /// @dev A borrower's record slot (see ICreditScoreRegistry.ScoreRecord); nextNonce = nonce: the
    /// request is closed.
    function _pack(
        uint256 pdBps,
        uint256 score,
        uint256 reasonCodes,
        uint256 issuedAt,
        uint256 validUntil,
        uint256 nonce,
        uint256 modelIndex
    ) private pure returns (uint256) {
        return pdBps | (score << 16) | (reasonCodes << 32) | (issuedAt << _ISSUED_AT_SHIFT)
            | (validUntil << _VALID_UNTIL_SHIFT) | (nonce << _NONCE_SHIFT) | (nonce << _NEXT_NONCE_SHIFT)
            | (modelIndex << _MODEL_SHIFT);
    }

    /// @dev Returns the ABI-encoded error for the first bad signature, or empty bytes if the first
    /// `threshold` signatures all recover to distinct registered signers. `config` is the current
    /// config digest, whose top 16 bits are the threshold.
    function _verifySignatures(bytes32 digest, bytes[] calldata signatures, bytes32 config)
        private
        view
        returns (bytes memory)
    {
        uint256 required = uint256(config) >> 240;
        if (signatures.length < required) {
            return abi.encodeWithSelector(CreditScoreInsufficientSignatures.selector, signatures.length, required);
        }
        // The configuration's signer list, one 32-byte word per signer in position order.
        bytes memory list = SSTORE2.read(SSTORE2.predictDeterministicAddress(config));
        uint256 count = list.length >> 5;
        uint256 seen = 0; // bitmap of the signer positions seen so far
        // k valid distinct signatures decide; whatever follows is not read (a relayer that adds a
        // spare or a bad one cannot sink the record, and pays for no extra recovery).
        for (uint256 i = 0; i < required; ++i) {
            address signer = _recover(digest, signatures[i]);
            if (signer == address(0)) return abi.encodeWithSelector(CreditScoreInvalidSignature.selector, i);
            uint256 pos = _position(list, count, signer);
            if (pos == 0) return abi.encodeWithSelector(CreditScoreUnknownSigner.selector, signer);
            uint256 bit = 1 << (pos - 1);
            if (seen & bit != 0) return abi.encodeWithSelector(CreditScoreDuplicateSigner.selector, signer);
            seen |= bit;
        }
        return "";
    }

    /// @dev The signer of a 65-byte `sig` over `digest`, or zero if it is malformed, malleable
    /// (high s) or invalid. r, s, v are read straight from calldata (as OZ 5.x ECDSA does for
    /// `bytes calldata`), and ECDSA.tryRecover does the checks.
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(sig.offset)
            s := calldataload(add(sig.offset, 0x20))
            v := byte(0, calldataload(add(sig.offset, 0x40)))
        }
        ECDSA.RecoverError err;
        (signer, err,) = ECDSA.tryRecover(digest, v, r, s);
        if (err != ECDSA.RecoverError.NoError) return address(0);
    }

    /// @dev In strict mode reverts with `reason` (an ABI-encoded custom error); otherwise emits
    /// ScoreSkipped. Returns false so callers can `return _fail(...)`.
    function _fail(bool strict, uint256 index, ScoreEntry calldata e, bytes memory reason) private returns (bool) {
        if (strict) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
        emit ScoreSkipped(index, e.borrower, e.nonce, reason);
        return false;
    }

    function _addSigner(address signer) private {
        if (signer == address(0)) revert CreditScoreZeroAddress();
        if (_signerPosition[signer] != 0) revert CreditScoreSignerAlreadyRegistered(signer);
        uint256 count = _signers.length + 1;
        if (count > MAX_SIGNERS) revert CreditScoreTooManySigners(count, MAX_SIGNERS);
        _signers.push(signer);
        _signerPosition[signer] = count;
        emit OracleSignerAdded(signer, count);
    }

    /// @dev The 1-based position of `signer` in `list` (`count` words), 0 if absent. A linear scan
    /// in memory: a few gas per signer, against 2,100 for a cold SLOAD of a position mapping.
    function _position(bytes memory list, uint256 count, address signer) private pure returns (uint256 pos) {
        assembly ("memory-safe") {
            let p := add(list, 0x20)
            for { let j := 0 } lt(j, count) { j := add(j, 1) } {
                if eq(mload(add(p, shl(5, j))), signer) {
                    pos := add(j, 1)
                    break
                }
            }
        }
    }

    function _threshold() private view returns (uint256) {
        return uint256(_configDigest) >> 240;
    }

    /// @dev Validates `newThreshold` against the signer count, then starts a new configuration:
    /// bumps the count and writes the digest (threshold in its top 16 bits).
    function _setConfig(uint256 newThreshold) private {
        uint256 count = _signers.length;
        if (newThreshold == 0 || newThreshold > count) revert CreditScoreInvalidThreshold(newThreshold, count);
        uint256 old = _threshold();
        if (old != newThreshold) emit OracleThresholdChanged(old, newThreshold);
        uint64 configCount = _configCount + 1;
        bytes32 h = keccak256(abi.encode(block.chainid, address(this), configCount, _signers, newThreshold));
        bytes32 digest = bytes32((newThreshold << 240) | (uint256(h) >> 16));
        uint32 previousBlock = _configBlock;
        // The digest is unique (it covers the configuration count), so it can salt the list.
        SSTORE2.writeDeterministic(abi.encodePacked(_signers), digest);
        _configDigest = digest;
        _configCount = configCount;
        _configBlock = uint32(block.number);
        emit ConfigSet(previousBlock, digest, configCount, _signers, newThreshold);
    }
}
