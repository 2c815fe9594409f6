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

    IBorrowerRegistry private immutable _borrowers;
    ICreditScoreRegistry private immutable _scores;
    IModelRegistry private immutable _models;

    RuleSet private _rules;
    uint256 private _version;
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
    /// minTerm <= maxTerm, bands non-empty,
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
        for (uint256 i = 1; i < bands; ++i) {
            if (rules.bandMinScores[i] <= rules.bandMinScores[i - 1]) revert ComplianceBandsNotAscending(i);
        }
        _rules.maxPdBps = rules.maxPdBps;
        _rules.maxAprBps = rules.maxAprBps;
        _rules.maxActiveLoans = rules.maxActiveLoans;
        _rules.minTermSeconds = rules.minTermSeconds;
        _rules.maxTermSeconds = rules.maxTermSeconds;
        _rules.maxScoreAgeSeconds = rules.maxScoreAgeSeconds;
        _rules.coolOffSeconds = rules.coolOffSeconds;
        _rules.requestTtlSeconds = rules.requestTtlSeconds;
        _rules.fundingWindowSeconds = rules.fundingWindowSeconds;
        _rules.lateInterestPremiumBps = rules.lateInterestPremiumBps;
        _rules.publicDefaultDelaySeconds = rules.publicDefaultDelaySeconds;
        _rules.bandMinScores = rules.bandMinScores;
        _rules.bandMaxPrincipal = rules.bandMaxPrincipal;
        uint256 newVersion = ++_version;
        emit ComplianceRuleSetUpdated(newVersion, rules);
    }

    /// @notice Allows or disallows borrowers from `jurisdiction` (ISO 3166-1 alpha-2) and bumps the version.
    /// @dev REGULATOR_ROLE. Emits ComplianceJurisdictionSet(newVersion, jurisdiction, allowed).
    function setJurisdictionAllowed(bytes2 jurisdiction, bool allowed) external onlyRole(REGULATOR_ROLE) {
        _jurisdictionAllowed[jurisdiction] = allowed;
        uint256 newVersion = ++_version;
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
        if (_version == 0 || _rules.bandMinScores.length == 0) return (false, Reason.RulesNotSet, score);
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
        RuleSet storage r = _rules;
        return (r.fundingWindowSeconds, r.maxAprBps, r.lateInterestPremiumBps, r.publicDefaultDelaySeconds);
    }

    /// @notice The current rule set.
    function ruleSet() external view returns (RuleSet memory) {
        return _rules;
    }

    /// @notice The current rules version (0 = never set; bumped by every change).
    function version() external view returns (uint256) {
        return _version;
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
        RuleSet storage r = _rules;
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
        RuleSet storage r = _rules;
        if (score.issuedAt == 0) return Reason.NoScore;
        if (score.nonce < minScoreNonce) return Reason.ScoreBeforeRequest;
        if (score.validUntil <= block.timestamp) return Reason.ScoreExpired;
        if (block.timestamp - score.issuedAt > r.maxScoreAgeSeconds) return Reason.ScoreStale;
        if (!_models.isApproved(score.modelId)) return Reason.ModelNotApproved;
        if (score.pdBps > r.maxPdBps) return Reason.PdTooHigh;
        uint16[] storage mins = r.bandMinScores;
        uint256 i = mins.length;
        while (i > 0 && score.score < mins[i - 1]) --i;
        if (i == 0) return Reason.ScoreBelowMinimum;
        if (principal > r.bandMaxPrincipal[i - 1]) return Reason.PrincipalTooHigh;
        return Reason.None;
    }
}
