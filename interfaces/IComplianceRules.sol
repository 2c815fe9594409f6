// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {ICreditScoreRegistry} from "./ICreditScoreRegistry.sol";

/// @title IComplianceRules
/// @notice A versioned rule set set by regulators and a deterministic `check` of a loan against it.
interface IComplianceRules {
    /// @notice Why a loan does not comply. `check` tests them in this order (first failure wins):
    /// RulesNotSet, BorrowerIneligible, JurisdictionNotAllowed, TermTooShort, TermTooLong,
    /// AprTooHigh, TooManyActiveLoans, CoolOffActive, Delinquent, NoScore, ScoreBeforeRequest,
    /// ScoreExpired, ScoreStale, ModelNotApproved, PdTooHigh, ScoreBelowMinimum, PrincipalTooHigh.
    /// New reasons are appended so that recorded values keep their meaning.
    enum Reason {
        None,
        RulesNotSet,
        BorrowerIneligible,
        JurisdictionNotAllowed,
        TermTooShort,
        TermTooLong,
        AprTooHigh,
        TooManyActiveLoans,
        CoolOffActive,
        NoScore,
        ScoreExpired,
        ScoreStale,
        ModelNotApproved,
        PdTooHigh,
        ScoreBelowMinimum,
        PrincipalTooHigh,
        ScoreBeforeRequest,
        Delinquent
    }

    /// @notice maxActiveLoans is 1..MAX_ACTIVE_LOANS; maxScoreAgeSeconds, requestTtlSeconds (how
    /// long a request may wait for a decision) and fundingWindowSeconds (how long an approval may
    /// wait for a lender) are non-zero; maxPdBps and maxAprBps at most 10000.
    /// Servicing: lateInterestPremiumBps is the penalty rate (annual, bps) on overdue principal, at
    /// most maxAprBps; each loan snapshots min(lateInterestPremiumBps, maxAprBps - aprBps) at
    /// approval, so its effective rate (aprBps + penalty) never exceeds the usury cap.
    /// publicDefaultDelaySeconds (1..MAX_PUBLIC_DEFAULT_DELAY, snapshotted at approval) is how long
    /// after due date + grace only the lender or a servicer may mark a default; after it, anyone.
    /// Score bands: a score s falls in the highest band i with bandMinScores[i] <= s and
    /// may borrow at most bandMaxPrincipal[i] (token base units). bandMinScores strictly ascending.
    struct RuleSet {
        uint16 maxPdBps;
        uint16 maxAprBps;
        uint8 maxActiveLoans;
        uint64 minTermSeconds;
        uint64 maxTermSeconds;
        uint64 maxScoreAgeSeconds;
        uint64 coolOffSeconds;
        uint64 requestTtlSeconds;
        uint64 fundingWindowSeconds;
        uint16 lateInterestPremiumBps;
        uint64 publicDefaultDelaySeconds;
        uint16[] bandMinScores;
        uint256[] bandMaxPrincipal;
    }

    /// @notice What the caller knows about the borrower's loans (LoanManager passes its counters).
    /// minScoreNonce: the score must carry at least this nonce (the one the request fixed), so a
    /// score signed before the request never decides it. delinquent: a loan past due or a default
    /// neither recovered nor written off.
    struct LoanHistory {
        uint256 activeLoans;
        uint64 lastDefaultAt;
        uint64 minScoreNonce;
        bool delinquent;
    }

    error ComplianceZeroAddress();
    error ComplianceInvalidBps(uint256 value);
    error ComplianceInvalidTermRange(uint64 minTermSeconds, uint64 maxTermSeconds);
    error ComplianceBandsLengthMismatch(uint256 scores, uint256 principals);
    error ComplianceBandsEmpty();
    error ComplianceTooManyBands(uint256 bands, uint256 max);
    error ComplianceBandsNotAscending(uint256 index);
    error ComplianceInvalidMaxActiveLoans(uint256 value, uint256 cap);
    error ComplianceZeroDuration(string field);
    error ComplianceRegistryMismatch(address expected, address actual);
    error ComplianceLatePremiumAboveCap(uint256 lateInterestPremiumBps, uint256 maxAprBps);
    error ComplianceDurationTooLong(string field, uint256 value, uint256 max);

    event ComplianceRuleSetUpdated(uint256 indexed version, RuleSet rules);
    event ComplianceJurisdictionSet(uint256 indexed version, bytes2 indexed jurisdiction, bool allowed);

    function setRuleSet(RuleSet calldata rules) external;
    function setJurisdictionAllowed(bytes2 jurisdiction, bool allowed) external;

    function check(
        address borrower,
        uint256 principal,
        uint16 aprBps,
        uint64 termSeconds,
        LoanHistory calldata history
    ) external view returns (bool ok, Reason reason, ICreditScoreRegistry.ScoreRecord memory score);

    function checkFunding(address borrower, bytes32 modelId) external view returns (Reason reason);
    function requestTtlSeconds() external view returns (uint64);
    function fundingWindowSeconds() external view returns (uint64);
    function servicingTerms()
        external
        view
        returns (
            uint64 fundingWindowSeconds_,
            uint16 maxAprBps,
            uint16 lateInterestPremiumBps,
            uint64 publicDefaultDelaySeconds
        );

    function ruleSet() external view returns (RuleSet memory);
    function version() external view returns (uint256);
    function isJurisdictionAllowed(bytes2 jurisdiction) external view returns (bool);
    function borrowerRegistry() external view returns (address);
    function scoreRegistry() external view returns (address);
    function modelRegistry() external view returns (address);
}
