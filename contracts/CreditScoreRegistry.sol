// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ICreditScoreRegistry} from "../interfaces/ICreditScoreRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";

/// @title CreditScoreRegistry
/// @notice Records credit scores attested by at least `threshold` distinct registered oracle
/// signers over EIP-712 typed data (domain name "Scorechain", version "1", chainId, this contract).
/// Anyone may relay an attestation (pull mode).
/// A loan request calls `advanceNonce` (SCORE_REQUESTER_ROLE, held by LoanManager): every
/// attestation signed for the borrower before the request carries a lower nonce and can no longer
/// be recorded, and the loan accepts only a record whose nonce is at least the advanced one, so a
/// loan is decided only by a score signed after it was requested.
/// @dev Signatures may come in any order; distinctness is checked with a bitmap over signer
/// positions. The first `threshold` signatures must be valid and from distinct registered signers;
/// any beyond them are ignored. `submit` reverts on the first failed check;
/// `submitBatch` skips a failing entry and emits `ScoreSkipped` carrying the ABI-encoded error
/// `submit` would have raised, so one stale entry does not sink the rest of the batch.
contract CreditScoreRegistry is ICreditScoreRegistry, ScorechainAccess, EIP712, Nonces {
    bytes32 public constant ORACLE_ADMIN_ROLE = keccak256("ORACLE_ADMIN_ROLE");
    bytes32 public constant SCORE_REQUESTER_ROLE = keccak256("SCORE_REQUESTER_ROLE");

    /// @notice The EIP-712 type hash of ScoreAttestation.
    bytes32 public constant SCORE_ATTESTATION_TYPEHASH = keccak256(
        "ScoreAttestation(address borrower,bytes32 modelId,bytes32 featuresHash,uint16 pdBps,uint16 score,"
        "uint32 reasonCodes,uint64 issuedAt,uint64 validUntil,uint256 nonce)"
    );

    /// @notice Signer positions index a 256-bit bitmap.
    uint256 public constant MAX_SIGNERS = 256;
    uint16 private constant _MAX_PD_BPS = 10_000;

    IModelRegistry private immutable _modelRegistry;

    address[] private _signers;
    mapping(address signer => uint256 position) private _signerPosition; // 1-based, 0 = not a signer
    uint256 private _threshold;
    mapping(address borrower => ScoreRecord) private _scores;

    constructor(address admin, IModelRegistry modelRegistry_, address[] memory initialSigners, uint256 threshold_)
        ScorechainAccess(admin)
        EIP712("Scorechain", "1")
    {
        if (address(modelRegistry_) == address(0)) revert CreditScoreZeroAddress();
        _modelRegistry = modelRegistry_;
        for (uint256 i = 0; i < initialSigners.length; ++i) {
            _addSigner(initialSigners[i]);
        }
        _setThreshold(threshold_);
    }

    // ---------------------------------------------------------------- attestations

    /// @notice Records `att` if it carries at least `threshold` valid signatures from distinct
    /// registered signers.
    /// @dev Requires pdBps <= 10000, issuedAt <= now < validUntil <= 2**40 - 1, nonce == nonces(borrower),
    /// issuedAt newer than the borrower's last score, and an approved model. Reverts with the
    /// first failed check's CreditScore* error. Emits ScoreRecorded.
    function submit(ScoreAttestation calldata att, bytes[] calldata signatures) external {
        _record(att, signatures, true, 0);
    }

    /// @notice Records many attestations in one transaction. A failing entry is skipped (its
    /// error is emitted in ScoreSkipped) and the others are still recorded.
    /// @dev Reverts only if the two arrays differ in length. Emits ScoreRecorded or ScoreSkipped
    /// per entry. Returns the number recorded.
    function submitBatch(ScoreAttestation[] calldata atts, bytes[][] calldata signatures)
        external
        returns (uint256 recorded)
    {
        if (atts.length != signatures.length) revert CreditScoreBatchLengthMismatch(atts.length, signatures.length);
        for (uint256 i = 0; i < atts.length; ++i) {
            if (_record(atts[i], signatures[i], false, i)) ++recorded;
        }
    }

    /// @notice Voids every attestation signed so far for `borrower` and returns the nonce the
    /// next one must carry (called when the borrower requests a loan).
    /// @dev SCORE_REQUESTER_ROLE. Emits ScoreNonceAdvanced.
    function advanceNonce(address borrower) external onlyRole(SCORE_REQUESTER_ROLE) returns (uint256 nonce) {
        nonce = _useNonce(borrower) + 1;
        emit ScoreNonceAdvanced(borrower, nonce);
    }

    // ---------------------------------------------------------------- oracle signer set

    /// @notice Adds an oracle signer.
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerAdded.
    function addSigner(address signer) external onlyRole(ORACLE_ADMIN_ROLE) {
        _addSigner(signer);
    }

    /// @notice Removes an oracle signer; the threshold must still be reachable afterwards.
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerRemoved.
    function removeSigner(address signer) external onlyRole(ORACLE_ADMIN_ROLE) {
        uint256 pos = _signerPosition[signer];
        if (pos == 0) revert CreditScoreSignerNotRegistered(signer);
        uint256 count = _signers.length - 1;
        if (_threshold > count) revert CreditScoreInvalidThreshold(_threshold, count);
        address last = _signers[count];
        _signers[pos - 1] = last;
        _signerPosition[last] = pos;
        _signers.pop();
        delete _signerPosition[signer];
        emit OracleSignerRemoved(signer, count);
    }

    /// @notice Replaces `oldSigner` by `newSigner` in place (same position, threshold unchanged).
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleSignerRotated.
    function rotateSigner(address oldSigner, address newSigner) external onlyRole(ORACLE_ADMIN_ROLE) {
        uint256 pos = _signerPosition[oldSigner];
        if (pos == 0) revert CreditScoreSignerNotRegistered(oldSigner);
        if (newSigner == address(0)) revert CreditScoreZeroAddress();
        if (_signerPosition[newSigner] != 0) revert CreditScoreSignerAlreadyRegistered(newSigner);
        _signers[pos - 1] = newSigner;
        _signerPosition[newSigner] = pos;
        delete _signerPosition[oldSigner];
        emit OracleSignerRotated(oldSigner, newSigner);
    }

    /// @notice Sets the number of distinct signatures required (1 <= threshold <= signer count).
    /// @dev ORACLE_ADMIN_ROLE. Emits OracleThresholdChanged.
    function setThreshold(uint256 newThreshold) external onlyRole(ORACLE_ADMIN_ROLE) {
        _setThreshold(newThreshold);
    }

    // ---------------------------------------------------------------- views

    /// @notice The EIP-712 digest of `att` that signers sign.
    function hashAttestation(ScoreAttestation calldata att) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(SCORE_ATTESTATION_TYPEHASH, att)));
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The latest recorded score of `borrower` (all zero if none).
    function latestScore(address borrower) external view returns (ScoreRecord memory) {
        return _scores[borrower];
    }

    /// @notice Seconds since the latest score of `borrower` was issued (issuedAt, not recordedAt).
    /// @dev Reverts CreditScoreNotFound if the borrower has no score.
    function scoreAge(address borrower) external view returns (uint256 ageSeconds) {
        uint64 issuedAt = _scores[borrower].issuedAt;
        if (issuedAt == 0) revert CreditScoreNotFound(borrower);
        return block.timestamp - issuedAt;
    }

    /// @notice Number of distinct signatures required.
    function threshold() external view returns (uint256) {
        return _threshold;
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
    function nonces(address borrower) public view override(ICreditScoreRegistry, Nonces) returns (uint256) {
        return super.nonces(borrower);
    }

    // ---------------------------------------------------------------- internals

    function _record(ScoreAttestation calldata att, bytes[] calldata signatures, bool strict, uint256 index)
        private
        returns (bool)
    {
        address borrower = att.borrower;
        if (borrower == address(0)) {
            return _fail(strict, index, att, abi.encodeWithSelector(CreditScoreZeroAddress.selector));
        }
        if (att.pdBps > _MAX_PD_BPS) {
            return _fail(strict, index, att, abi.encodeWithSelector(CreditScoreInvalidPd.selector, borrower, att.pdBps));
        }
        if (att.issuedAt > block.timestamp) {
            return _fail(
                strict,
                index,
                att,
                abi.encodeWithSelector(CreditScoreNotYetValid.selector, borrower, att.issuedAt, block.timestamp)
            );
        }
        if (att.validUntil > type(uint40).max) {
            return _fail(
                strict, index, att, abi.encodeWithSelector(CreditScoreValidityTooLong.selector, borrower, att.validUntil)
            );
        }
        if (att.validUntil <= block.timestamp) {
            return _fail(
                strict,
                index,
                att,
                abi.encodeWithSelector(CreditScoreExpired.selector, borrower, att.validUntil, block.timestamp)
            );
        }
        ScoreRecord storage rec = _scores[borrower];
        uint64 lastIssuedAt = rec.issuedAt;
        if (att.issuedAt <= lastIssuedAt) {
            return _fail(
                strict, index, att, abi.encodeWithSelector(CreditScoreStale.selector, borrower, att.issuedAt, lastIssuedAt)
            );
        }
        uint256 expectedNonce = nonces(borrower);
        if (att.nonce != expectedNonce) {
            return _fail(
                strict,
                index,
                att,
                abi.encodeWithSelector(CreditScoreInvalidNonce.selector, borrower, att.nonce, expectedNonce)
            );
        }
        if (!_modelRegistry.isApproved(att.modelId)) {
            return _fail(strict, index, att, abi.encodeWithSelector(CreditScoreModelNotApproved.selector, att.modelId));
        }
        bytes memory sigError = _verifySignatures(hashAttestation(att), signatures);
        if (sigError.length != 0) return _fail(strict, index, att, sigError);

        _useNonce(borrower);
        _store(rec, att);
        return true;
    }

    /// @dev Writes the two-slot record and emits ScoreRecorded (split out to keep the stack shallow).
    function _store(ScoreRecord storage rec, ScoreAttestation calldata att) private {
        rec.modelId = att.modelId;
        // One SSTORE for the packed slot instead of a read-modify-write per member. Layout is
        // Solidity's for ScoreRecord (first member in the lowest bits); the getters read it back
        // through the struct, and the tests check every field.
        // issuedAt <= now and validUntil <= type(uint40).max were checked; the nonce equals the
        // borrower's nonce count, which cannot reach 2**64.
        uint256 packed = uint256(att.pdBps) | (uint256(att.score) << 16) | (uint256(att.reasonCodes) << 32)
            | (uint256(att.issuedAt) << 64) | (uint256(att.validUntil) << 104) | (block.timestamp << 144)
            | (uint256(uint64(att.nonce)) << 184);
        assembly ("memory-safe") {
            sstore(add(rec.slot, 1), packed)
        }
        emit ScoreRecorded(
            att.borrower,
            att.modelId,
            att.featuresHash,
            att.pdBps,
            att.score,
            att.reasonCodes,
            att.issuedAt,
            att.validUntil,
            att.nonce
        );
    }

    /// @dev Returns the ABI-encoded error for the first bad signature, or empty bytes if at least
    /// `threshold` signatures all recover to distinct registered signers.
    function _verifySignatures(bytes32 digest, bytes[] calldata signatures) private view returns (bytes memory) {
        uint256 required = _threshold;
        uint256 n = signatures.length;
        if (n < required) {
            return abi.encodeWithSelector(CreditScoreInsufficientSignatures.selector, n, required);
        }
        uint256 seen;
        for (uint256 i = 0; i < n; ++i) {
            bytes calldata sig = signatures[i];
            if (sig.length != 65) return abi.encodeWithSelector(CreditScoreInvalidSignature.selector, i);
            bytes32 r;
            bytes32 s;
            uint8 v;
            // Read r, s, v straight from calldata (as OZ 5.x ECDSA.tryRecoverCalldata does) and let
            // ECDSA.tryRecover reject malleable (high-s) and invalid signatures.
            assembly ("memory-safe") {
                r := calldataload(sig.offset)
                s := calldataload(add(sig.offset, 0x20))
                v := byte(0, calldataload(add(sig.offset, 0x40)))
            }
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
            if (err != ECDSA.RecoverError.NoError) {
                return abi.encodeWithSelector(CreditScoreInvalidSignature.selector, i);
            }
            uint256 pos = _signerPosition[signer];
            if (pos == 0) return abi.encodeWithSelector(CreditScoreUnknownSigner.selector, signer);
            uint256 bit = 1 << (pos - 1);
            if (seen & bit != 0) return abi.encodeWithSelector(CreditScoreDuplicateSigner.selector, signer);
            seen |= bit;
            // k valid distinct signatures decide; whatever follows is not read (a relayer that adds
            // a spare or a bad one cannot sink the record, and pays for no extra recovery).
            if (i + 1 == required) return "";
        }
        return "";
    }

    /// @dev In strict mode reverts with `reason` (an ABI-encoded custom error); otherwise emits
    /// ScoreSkipped. Returns false so callers can `return _fail(...)`.
    function _fail(bool strict, uint256 index, ScoreAttestation calldata att, bytes memory reason)
        private
        returns (bool)
    {
        if (strict) {
            assembly ("memory-safe") {
                revert(add(reason, 0x20), mload(reason))
            }
        }
        emit ScoreSkipped(index, att.borrower, att.nonce, reason);
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

    function _setThreshold(uint256 newThreshold) private {
        uint256 count = _signers.length;
        if (newThreshold == 0 || newThreshold > count) revert CreditScoreInvalidThreshold(newThreshold, count);
        uint256 old = _threshold;
        _threshold = newThreshold;
        emit OracleThresholdChanged(old, newThreshold);
    }
}
