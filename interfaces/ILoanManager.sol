// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {IComplianceRules} from "./IComplianceRules.sol";

/// @title ILoanManager
/// @notice Loan lifecycle: request -> approve/reject -> fund -> repay, or default -> write-off /
/// recover; cancel before funding; a request or an approval that waits too long expires. A Funded
/// loan may be impaired (a flag, reversible); overdue amounts carry a late fee under the usury cap.
/// Payments accrue to the lender's claimable balance; the lender claims them (pull).
interface ILoanManager {
    enum LoanState {
        None,
        Requested,
        Approved,
        Rejected,
        Cancelled,
        Funded,
        Repaid,
        Defaulted,
        WrittenOff,
        Expired
    }

    /// @dev The loan as getLoan returns it; LoanManager stores it packed by when each field is first
    /// written (LoanManager.LoanSlots: termSeconds and scoreNonce in 32 bits, times in 40, the model
    /// as its registry index). Amounts are uint96 (7.9e28 base units; ample for 6- and 18-decimal tokens).
    /// scoreNonce: the nonce the request fixed; only a score record with at least this nonce (signed
    /// after the request) decides the loan. fundBy: the approval's funding deadline.
    /// Servicing (snapshotted at approval from the rule set): lateRateBps, the penalty rate on overdue
    /// principal (aprBps + lateRateBps <= the rule set's maxAprBps); publicDefaultDelay, how long
    /// after due date + grace only the lender or a servicer may mark a default. impairedAt: when the
    /// lender or a servicer impaired the loan (0 = not impaired); a flag on a Funded loan, not a state.
    /// repaid and recovered count payments towards totalDue; late fees are kept apart:
    /// lateFeeAccrued (charged so far), lateFeePaid, lateAccruedTo (the fee is charged up to here).
    struct Loan {
        address borrower;
        uint16 aprBps;
        LoanState state;
        uint8 installments;
        uint64 termSeconds;
        uint96 principal;
        uint96 totalDue;
        uint64 fundedAt;
        address lender;
        uint96 repaid;
        bytes32 modelId;
        uint16 pdBps;
        uint16 score;
        uint64 scoreIssuedAt;
        uint40 decidedAt;
        IComplianceRules.Reason rejectReason;
        uint96 recovered;
        uint64 scoreNonce;
        uint40 requestedAt;
        uint40 fundBy;
        uint16 lateRateBps;
        uint40 publicDefaultDelay;
        uint40 impairedAt;
        uint96 lateFeeAccrued;
        uint96 lateFeePaid;
        uint40 lateAccruedTo;
    }

    error LoanZeroAddress();
    error LoanBorrowerIneligible(address borrower);
    error LoanInvalidPrincipal(uint256 principal);
    error LoanInvalidTerm(uint64 termSeconds, uint8 installments);
    error LoanNotFound(uint256 loanId);
    error LoanInvalidState(uint256 loanId, LoanState state);
    error LoanNotBorrower(uint256 loanId, address caller);
    error LoanNotDecidable(uint256 loanId, IComplianceRules.Reason reason);
    error LoanSelfFunding(uint256 loanId);
    /// @notice The lender is another enrolled address of the borrower's identity (the same person).
    error LoanLenderSameIdentity(uint256 loanId, address lender, bytes32 identity);
    error LoanZeroAmount(uint256 loanId);
    error LoanNotExpired(uint256 loanId, uint256 expiresAt);
    error LoanApprovalExpired(uint256 loanId, uint256 fundBy);
    error LoanNotFundable(uint256 loanId, IComplianceRules.Reason reason);
    error LoanNothingToClaim(address lender);
    error LoanNotLender(uint256 loanId, address caller);
    error LoanNotPendingLender(uint256 loanId, address caller);
    error LoanRegistryMismatch(address expected, address actual);
    error LoanZeroGracePeriod();
    error LoanNotOverdue(uint256 loanId);
    error LoanUnauthorized(uint256 loanId, address caller);
    error LoanInvalidInstallment(uint256 loanId, uint256 installment);
    error LoanGracePeriodTooLong(uint256 gracePeriodSeconds, uint256 max);
    /// @notice The loan is defaultable by its lender or a servicer but the public window has not opened.
    error LoanDefaultReserved(uint256 loanId, address caller);
    error LoanAlreadyImpaired(uint256 loanId);
    error LoanNotImpaired(uint256 loanId);

    /// @notice A loan was requested; the oracle daemon listens to this and posts a fresh score.
    event ScoreRequested(
        uint256 indexed loanId, address indexed borrower, uint256 principal, uint16 aprBps, uint64 termSeconds
    );
    event LoanApproved(
        uint256 indexed loanId,
        address indexed borrower,
        bytes32 indexed modelId,
        uint16 pdBps,
        uint16 score,
        uint64 scoreIssuedAt,
        uint256 ruleVersion
    );
    event LoanRejected(
        uint256 indexed loanId, address indexed borrower, IComplianceRules.Reason reason, uint256 ruleVersion
    );
    event LoanCancelled(uint256 indexed loanId, address indexed borrower);
    event LoanFunded(
        uint256 indexed loanId,
        address indexed lender,
        address indexed borrower,
        uint256 principal,
        uint256 totalDue,
        uint64 fundedAt
    );
    event LoanRepaid(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 totalRepaid, uint256 remaining);
    event LoanFullyRepaid(uint256 indexed loanId, address indexed borrower);
    event LoanDefaulted(uint256 indexed loanId, address indexed borrower, uint256 repaid, uint256 remaining);
    event LoanWrittenOff(uint256 indexed loanId, address indexed by, uint256 principalWrittenOff);
    event LoanRecovered(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 totalRecovered);
    /// @notice A defaulted or written-off loan's debt, late fee included, was recovered in full (a
    /// Defaulted one no longer makes its borrower delinquent).
    event LoanFullyRecovered(uint256 indexed loanId, address indexed borrower);
    /// @notice A request no decision was reached on, or an approval no lender funded, expired.
    event LoanExpired(uint256 indexed loanId, address indexed borrower, LoanState previousState);
    /// @notice A lender withdrew what payments had accrued to them.
    event LenderClaimed(address indexed lender, address indexed to, uint256 amount);
    /// @notice The lender or a servicer impaired a funded loan: it counts as late from `impairedAt`
    /// (the borrower is delinquent; the lender or a servicer may default it after impairedAt + grace).
    event LoanImpaired(uint256 indexed loanId, address indexed by, uint40 impairedAt);
    event LoanImpairmentRemoved(uint256 indexed loanId, address indexed by);
    /// @notice Late interest was charged on overdue principal up to `accruedTo`.
    event LoanLateFeeAccrued(uint256 indexed loanId, uint256 amount, uint256 totalAccrued, uint40 accruedTo);
    /// @notice Part of a payment (repay or recover) went to the late fee.
    event LoanLateFeePaid(uint256 indexed loanId, address indexed payer, uint256 amount, uint256 totalPaid);
    /// @notice Who marked a default and whether the public window was open (lender/servicer otherwise).
    event LoanDefaultMarkedBy(uint256 indexed loanId, address indexed by, bool publicWindow);
    event LoanPositionTransferStarted(uint256 indexed loanId, address indexed lender, address indexed newLender);
    event LoanPositionTransferred(uint256 indexed loanId, address indexed previousLender, address indexed newLender);

    function request(uint256 principal, uint16 aprBps, uint64 termSeconds, uint8 installments)
        external
        returns (uint256 loanId);
    function approve(uint256 loanId) external returns (bool approved);
    function fund(uint256 loanId) external;
    function repay(uint256 loanId, uint256 amount) external;
    function markDefault(uint256 loanId) external;
    function impairLoan(uint256 loanId) external;
    function removeLoanImpairment(uint256 loanId) external;
    function writeOff(uint256 loanId) external;
    function recover(uint256 loanId, uint256 amount) external;
    function cancel(uint256 loanId) external;
    function expire(uint256 loanId) external;
    function claim(address to) external returns (uint256 amount);
    function transferPosition(uint256 loanId, address newLender) external;
    function acceptPosition(uint256 loanId) external;
    function pause() external;
    function unpause() external;

    function getLoan(uint256 loanId) external view returns (Loan memory);
    function loanCount() external view returns (uint256);
    function amountOwed(uint256 loanId) external view returns (uint256);
    function dueDate(uint256 loanId, uint256 installment) external view returns (uint256);
    function installmentsLate(uint256 loanId) external view returns (uint256);
    function minimumRepaidNow(uint256 loanId) external view returns (uint256);
    function isDefaultable(uint256 loanId) external view returns (bool);
    function isPubliclyDefaultable(uint256 loanId) external view returns (bool);
    function lateFeeOwed(uint256 loanId) external view returns (uint256);
    function outstandingPrincipal(uint256 loanId) external view returns (uint256);
    function totalOutstandingPrincipal() external view returns (uint256);
    function activeLoanCount(address borrower) external view returns (uint256);
    function lastDefaultAt(address borrower) external view returns (uint64);
    function isDelinquent(address borrower) external view returns (bool);
    function claimable(address lender) external view returns (uint256);
    function totalClaimable() external view returns (uint256);
    function pendingLender(uint256 loanId) external view returns (address);
    function expiresAt(uint256 loanId) external view returns (uint256);
    function scoreRegistry() external view returns (address);
    function gracePeriodSeconds() external view returns (uint64);
    function token() external view returns (address);
    function borrowerRegistry() external view returns (address);
    function complianceRules() external view returns (address);
}
