// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ScorechainAccess} from "./ScorechainAccess.sol";
import {IComplianceRules} from "../interfaces/IComplianceRules.sol";
import {IBorrowerRegistry} from "../interfaces/IBorrowerRegistry.sol";
import {ICreditScoreRegistry} from "../interfaces/ICreditScoreRegistry.sol";
import {IModelRegistry} from "../interfaces/IModelRegistry.sol";

/// @title ComplianceRules
/// @notice Regulators set a versioned rule set (max PD, principal cap per score band, usury cap,
/// term range, allowed jurisdictions, max active loans, cool-off after a default, max score age);
/// `check` evaluates a loan against it, the borrower registry, the latest score and the model
/// registry. Loan counters are passed in by the caller (LoanManager) so the two contracts do not
/// depend on each other's addresses.
contract ComplianceRules is IComplianceRules, ScorechainAccess {
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    uint256 private constant _MAX_BPS = 10_000;
    /// @notice Upper bound of maxActiveLoans: LoanManager walks a borrower's funded loans to find a
    /// past-due one, so their number must stay small.
    uint256 public constant MAX_ACTIVE_LOANS = 16;
    /// @notice Upper bound of publicDefaultDelaySeconds: no loan waits longer than this (after due
    /// date + grace) before anyone may mark its default.
    uint256 public constant MAX_PUBLIC_DEFAULT_DELAY = 365 days;
    /// @notice Upper bound of requestTtlSeconds and fundingWindowSeconds: deadlines are stored as
    /// uint40 times, and a window of years would be no deadline at all.
    uint256 public constant MAX_WINDOW = 365 days;
    /// @notice Upper bound of the number of score bands (they are stored in fixed arrays).
    uint256 public constant MAX_BANDS = 16;

    IBorrowerRegistry private immutable _borrowers;
    ICreditScoreRegistry private immutable _scores;
    IModelRegistry private immutable _models;

    // The rule set as stored (ruleSet() returns it as RuleSet): the scalars and the version in two
    // slots and the bands in fixed arrays (no length slots), so check() reads four slots of its
    // own where RuleSet's layout took nine (gas, reports/gas.md). The bounds setRuleSet enforces
    // make the narrower types exact.
    struct StoredRules {
        // slot 0
        uint16 maxPdBps;
        uint16 maxAprBps;
        uint8 maxActiveLoans;
        uint16 lateInterestPremiumBps;
        uint8 bandCount;
        uint32 publicDefaultDelaySeconds;
        uint64 minTermSeconds;
        uint64 maxTermSeconds;
        uint32 version;
        // slot 1
        uint64 maxScoreAgeSeconds;
        uint64 coolOffSeconds;
        uint64 requestTtlSeconds;
        uint64 fundingWindowSeconds;
        // slot 2
        uint16[16] bandMinScores;
        // slots 3-18
        uint256[16] bandMaxPrincipal;
    }

    StoredRules private _rules;
    mapping(bytes2 jurisdiction => bool) private _jurisdictionAllowed;

    constructor(
        address admin,
        IBorrowerRegistry borrowers_,
        ICreditScoreRegistry scores_,
        IModelRegistry models_
    ) ScorechainAccess(admin) {
        if (
            address(borrowers_) == address(0) || address(scores_) == address(0)
                || address(models_) == address(0)
        ) revert ComplianceZeroAddress();
        // The score registry must consult the same model registry this contract checks.
        address scoresModels = scores_.modelRegistry();
        if (scoresModels != address(models_)) revert ComplianceRegistryMismatch(address(models_), scoresModels);
        _borrowers = borrowers_;
        _scores = scores_;
        _models = models_;
    }

    /// @notice Replaces the rule set and bumps the version.
    /// @dev REGULATOR_ROLE. maxPdBps, maxAprBps <= 10000, 1 <= maxActiveLoans <= MAX_ACTIVE_LOANS,
    /// maxScoreAge, requestTtl and fundingWindow non-zero, requestTtl and fundingWindow <= MAX_WINDOW,
    /// minTerm <= maxTerm, bands non-empty and at most MAX_BANDS,
    /// equal length, bandMinScores strictly ascending, lateInterestPremiumBps <= maxAprBps,
    /// 0 < publicDefaultDelaySeconds <= MAX_PUBLIC_DEFAULT_DELAY. Emits ComplianceRuleSetUpdated(newVersion, rules).
    function setRuleSet(RuleSet calldata rules) external onlyRole(REGULATOR_ROLE) {
        if (rules.maxPdBps > _MAX_BPS) revert ComplianceInvalidBps(rules.maxPdBps);
        if (rules.maxAprBps > _MAX_BPS) revert ComplianceInvalidBps(rules.maxAprBps);
        if (rules.maxActiveLoans == 0 || rules.maxActiveLoans > MAX_ACTIVE_LOANS) {
            revert ComplianceInvalidMaxActiveLoans(rules.maxActiveLoans, MAX_ACTIVE_LOANS);
        }
        if (rules.maxScoreAgeSeconds == 0) revert ComplianceZeroDuration("maxScoreAgeSeconds");
        if (rules.requestTtlSeconds == 0) revert ComplianceZeroDuration("requestTtlSeconds");
        if (rules.fundingWindowSeconds == 0) revert ComplianceZeroDuration("fundingWindowSeconds");
        if (rules.requestTtlSeconds > MAX_WINDOW) {
            revert ComplianceDurationTooLong("requestTtlSeconds", rules.requestTtlSeconds, MAX_WINDOW);
        }
        if (rules.fundingWindowSeconds > MAX_WINDOW) {
            revert ComplianceDurationTooLong("fundingWindowSeconds", rules.fundingWindowSeconds, MAX_WINDOW);
        }
        if (rules.lateInterestPremiumBps > rules.maxAprBps) {
            revert ComplianceLatePremiumAboveCap(rules.lateInterestPremiumBps, rules.maxAprBps);
        }
        if (rules.publicDefaultDelaySeconds == 0) revert ComplianceZeroDuration("publicDefaultDelaySeconds");
        if (rules.publicDefaultDelaySeconds > MAX_PUBLIC_DEFAULT_DELAY) {
            revert ComplianceDurationTooLong(
                "publicDefaultDelaySeconds", rules.publicDefaultDelaySeconds, MAX_PUBLIC_DEFAULT_DELAY
            );
        }
        if (rules.minTermSeconds > rules.maxTermSeconds) {
            revert ComplianceInvalidTermRange(rules.minTermSeconds, rules.maxTermSeconds);
        }
        uint256 bands = rules.bandMinScores.length;
        if (bands != rules.bandMaxPrincipal.length) {
            revert ComplianceBandsLengthMismatch(bands, rules.bandMaxPrincipal.length);
        }
        if (bands == 0) revert ComplianceBandsEmpty();
        if (bands > MAX_BANDS) revert ComplianceTooManyBands(bands, MAX_BANDS);
        for (uint256 i = 1; i < bands; ++i) {
            if (rules.bandMinScores[i] <= rules.bandMinScores[i - 1]) revert ComplianceBandsNotAscending(i);
        }
        StoredRules storage r = _rules;
        r.maxPdBps = rules.maxPdBps;
        r.maxAprBps = rules.maxAprBps;
        r.maxActiveLoans = rules.maxActiveLoans;
        r.lateInterestPremiumBps = rules.lateInterestPremiumBps;
        r.bandCount = uint8(bands);
        r.publicDefaultDelaySeconds = uint32(rules.publicDefaultDelaySeconds);
        r.minTermSeconds = rules.minTermSeconds;
        r.maxTermSeconds = rules.maxTermSeconds;
        r.maxScoreAgeSeconds = rules.maxScoreAgeSeconds;
        r.coolOffSeconds = rules.coolOffSeconds;
        r.requestTtlSeconds = rules.requestTtlSeconds;
        r.fundingWindowSeconds = rules.fundingWindowSeconds;
        for (uint256 i = 0; i < bands; ++i) {
            r.bandMinScores[i] = rules.bandMinScores[i];
            r.bandMaxPrincipal[i] = rules.bandMaxPrincipal[i];
        }
        uint256 newVersion = ++r.version;
        emit ComplianceRuleSetUpdated(newVersion, rules);
    }

    /// @notice Allows or disallows borrowers from `jurisdiction` (ISO 3166-1 alpha-2) and bumps the version.
    /// @dev REGULATOR_ROLE. Emits ComplianceJurisdictionSet(newVersion, jurisdiction, allowed).
    function setJurisdictionAllowed(bytes2 jurisdiction, bool allowed) external onlyRole(REGULATOR_ROLE) {
        _jurisdictionAllowed[jurisdiction] = allowed;
        uint256 newVersion = ++_rules.version;
        emit ComplianceJurisdictionSet(newVersion, jurisdiction, allowed);
    }

    /// @notice Checks a loan against the current rules; the first failing rule (in `Reason`
    /// order) is returned. Also returns the borrower's latest score record (zero if none).
    /// @dev Deterministic given chain state and `history`. A rule set must have been set.
    function check(
        address borrower,
        uint256 principal,
        uint16 aprBps,
        uint64 termSeconds,
        LoanHistory calldata history
    ) external view returns (bool ok, Reason reason, ICreditScoreRegistry.ScoreRecord memory score) {
        if (_rules.bandCount == 0) return (false, Reason.RulesNotSet, score);
        (bool eligible, bytes2 jurisdiction) = _borrowers.eligibility(borrower);
        if (!eligible) return (false, Reason.BorrowerIneligible, score);
        if (!_jurisdictionAllowed[jurisdiction]) return (false, Reason.JurisdictionNotAllowed, score);
        reason = _checkTerms(aprBps, termSeconds, history);
        if (reason != Reason.None) return (false, reason, score);
        score = _scores.latestScore(borrower);
        reason = _checkScore(score, principal, history.minScoreNonce);
        return (reason == Reason.None, reason, score);
    }

    /// @notice What funding an approved loan re-checks: the borrower still eligible (KYC valid,
    /// not suspended or banned), their jurisdiction still allowed and the deciding model still
    /// approved. Returns Reason.None if all hold, else the first failure.
    function checkFunding(address borrower, bytes32 modelId) external view returns (Reason reason) {
        (bool eligible, bytes2 jurisdiction) = _borrowers.eligibility(borrower);
        if (!eligible) return Reason.BorrowerIneligible;
        if (!_jurisdictionAllowed[jurisdiction]) return Reason.JurisdictionNotAllowed;
        if (!_models.isApproved(modelId)) return Reason.ModelNotApproved;
        return Reason.None;
    }

    /// @notice How long a request may wait for a decision (seconds; after that anyone may expire it).
    function requestTtlSeconds() external view returns (uint64) {
        return _rules.requestTtlSeconds;
    }

    /// @notice How long an approval may wait for a lender (seconds).
    function fundingWindowSeconds() external view returns (uint64) {
        return _rules.fundingWindowSeconds;
    }

    /// @notice What LoanManager snapshots into a loan on approval: the funding window, the usury
    /// cap, the late-interest premium and the public default delay of the current rule set.
    function servicingTerms()
        external
        view
        returns (
            uint64 fundingWindowSeconds_,
            uint16 maxAprBps,
            uint16 lateInterestPremiumBps,
            uint64 publicDefaultDelaySeconds
        )
    {
        StoredRules storage r = _rules;
        return (r.fundingWindowSeconds, r.maxAprBps, r.lateInterestPremiumBps, r.publicDefaultDelaySeconds);
    }

    /// @notice The current rule set.
    function ruleSet() external view returns (RuleSet memory rules) {
        StoredRules storage r = _rules;
        uint256 bands = r.bandCount;
        rules.maxPdBps = r.maxPdBps;
        rules.maxAprBps = r.maxAprBps;
        rules.maxActiveLoans = r.maxActiveLoans;
        rules.minTermSeconds = r.minTermSeconds;
        rules.maxTermSeconds = r.maxTermSeconds;
        rules.maxScoreAgeSeconds = r.maxScoreAgeSeconds;
        rules.coolOffSeconds = r.coolOffSeconds;
        rules.requestTtlSeconds = r.requestTtlSeconds;
        rules.fundingWindowSeconds = r.fundingWindowSeconds;
        rules.lateInterestPremiumBps = r.lateInterestPremiumBps;
        rules.publicDefaultDelaySeconds = r.publicDefaultDelaySeconds;
        rules.bandMinScores = new uint16[](bands);
        rules.bandMaxPrincipal = new uint256[](bands);
        for (uint256 i = 0; i < bands; ++i) {
            rules.bandMinScores[i] = r.bandMinScores[i];
            rules.bandMaxPrincipal[i] = r.bandMaxPrincipal[i];
        }
    }

    /// @notice The current rules version (0 = never set; bumped by every change).
    function version() external view returns (uint256) {
        return _rules.version;
    }

    /// @notice True if borrowers from `jurisdiction` may borrow.
    function isJurisdictionAllowed(bytes2 jurisdiction) external view returns (bool) {
        return _jurisdictionAllowed[jurisdiction];
    }

    /// @notice The borrower registry consulted by `check` and `checkFunding`.
    function borrowerRegistry() external view returns (address) {
        return address(_borrowers);
    }

    /// @notice The score registry whose latest record `check` reads.
    function scoreRegistry() external view returns (address) {
        return address(_scores);
    }

    /// @notice The model registry consulted by `check` and `checkFunding`.
    function modelRegistry() external view returns (address) {
        return address(_models);
    }

    function _checkTerms(uint16 aprBps, uint64 termSeconds, LoanHistory calldata history)
        private
        view
        returns (Reason)
    {
        StoredRules storage r = _rules;
        if (termSeconds < r.minTermSeconds) return Reason.TermTooShort;
        if (termSeconds > r.maxTermSeconds) return Reason.TermTooLong;
        if (aprBps > r.maxAprBps) return Reason.AprTooHigh;
        if (history.activeLoans >= r.maxActiveLoans) return Reason.TooManyActiveLoans;
        if (history.lastDefaultAt != 0 && block.timestamp < uint256(history.lastDefaultAt) + r.coolOffSeconds) {
            return Reason.CoolOffActive;
        }
        if (history.delinquent) return Reason.Delinquent;
        return Reason.None;
    }

    function _checkScore(ICreditScoreRegistry.ScoreRecord memory score, uint256 principal, uint64 minScoreNonce)
        private
        view
        returns (Reason)
    {
        StoredRules storage r = _rules;
        if (score.issuedAt == 0) return Reason.NoScore;
        if (score.nonce < minScoreNonce) return Reason.ScoreBeforeRequest;
        if (score.validUntil <= block.timestamp) return Reason.ScoreExpired;
        if (block.timestamp - score.issuedAt > r.maxScoreAgeSeconds) return Reason.ScoreStale;
        if (!_models.isApproved(score.modelId)) return Reason.ModelNotApproved;
        if (score.pdBps > r.maxPdBps) return Reason.PdTooHigh;
        uint256 i = r.bandCount;
        while (i > 0 && score.score < r.bandMinScores[i - 1]) --i;
        if (i == 0) return Reason.ScoreBelowMinimum;
        if (principal > r.bandMaxPrincipal[i - 1]) return Reason.PrincipalTooHigh;
        return Reason.None;
    }
}
