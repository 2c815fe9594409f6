// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ILoanManager} from "../interfaces/ILoanManager.sol";
import {IBorrowerRegistry} from "../interfaces/IBorrowerRegistry.sol";
import {IComplianceRules} from "../interfaces/IComplianceRules.sol";
import {ICreditScoreRegistry} from "../interfaces/ICreditScoreRegistry.sol";

/// @title LoanManager
/// @notice ERC-20 loans from request to repayment or default.
/// @dev Rules, all deterministic:
/// - Interest is simple interest on principal at aprBps over the whole term:
///   interest = principal * aprBps * termSeconds / (10_000 * 365 days) (rounded down). It is fixed by
///   the request terms and becomes owed at funding; totalDue = principal + interest.
/// - Installment i (1..n) falls due at fundedAt + termSeconds * i / n; by then a cumulative
///   totalDue * i / n must have been repaid. Installment i is late once now > dueDate(i) + grace.
///   A loan whose repaid total is below the cumulative amount of its late installments may be
///   marked defaulted by anyone.
/// - Payments are split pro rata between principal and interest: principal repaid =
///   paid * principal / totalDue. Outstanding principal = principal - that, for Funded and Defaulted
///   loans; a write-off removes what is left. Payments go straight from payer to lender.
/// - approve: a compliance failure caused by the score (none, expired, stale, model not approved)
///   or missing rules reverts LoanNotDecidable and leaves the loan Requested, so nobody can get a
///   loan rejected by calling approve before the oracle posts a fresh score; any other failure
///   rejects the loan and records the reason.
/// - Pause (REGULATOR_ROLE) stops request, approve, fund and markDefault; repay, recover, cancel
///   and writeOff stay open so borrowers can always pay.
contract LoanManager is ILoanManager, AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");
    uint256 private constant _BPS = 10_000;
    uint256 private constant _YEAR_SECONDS = 365 days;

    struct BorrowerBook {
        uint128 activeLoans; // Approved or Funded
        uint64 lastDefaultAt;
    }

    IERC20 private immutable _token;
    IBorrowerRegistry private immutable _borrowers;
    IComplianceRules private immutable _compliance;
    uint64 private immutable _gracePeriodSeconds;

    mapping(uint256 loanId => Loan) private _loans;
    mapping(address borrower => BorrowerBook) private _books;
    uint256 private _loanCount;
    uint256 private _totalOutstandingPrincipal;

    constructor(
        address admin,
        IERC20 token_,
        IBorrowerRegistry borrowers_,
        IComplianceRules compliance_,
        uint64 gracePeriodSeconds_
    ) {
        if (
            admin == address(0) || address(token_) == address(0) || address(borrowers_) == address(0)
                || address(compliance_) == address(0)
        ) revert LoanZeroAddress();
        _token = token_;
        _borrowers = borrowers_;
        _compliance = compliance_;
        _gracePeriodSeconds = gracePeriodSeconds_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ---------------------------------------------------------------- lifecycle

    /// @notice Requests a loan; the caller is the borrower.
    /// @dev Caller must be eligible in the borrower registry; 0 < principal and totalDue fit in
    /// uint96; 1 <= installments <= termSeconds. Not when paused. Emits ScoreRequested.
    function request(uint256 principal, uint16 aprBps, uint64 termSeconds, uint8 installments)
        external
        whenNotPaused
        returns (uint256 loanId)
    {
        if (!_borrowers.isEligible(msg.sender)) revert LoanBorrowerIneligible(msg.sender);
        if (installments == 0 || termSeconds < installments) revert LoanInvalidTerm(termSeconds, installments);
        uint256 totalDue = principal + (principal * aprBps * termSeconds) / (_BPS * _YEAR_SECONDS);
        if (principal == 0 || totalDue > type(uint96).max) revert LoanInvalidPrincipal(principal);
        loanId = ++_loanCount;
        Loan storage l = _loans[loanId];
        l.borrower = msg.sender;
        l.aprBps = aprBps;
        l.state = LoanState.Requested;
        l.installments = installments;
        l.termSeconds = termSeconds;
        l.principal = uint96(principal);
        l.totalDue = uint96(totalDue);
        emit ScoreRequested(loanId, msg.sender, principal, aprBps, termSeconds);
    }

    /// @notice Decides a Requested loan against the compliance rules and the borrower's latest
    /// score at this moment. Callable by anyone.
    /// @dev Not when paused. Reverts LoanNotDecidable if the score (or the rule set) is not usable
    /// yet; otherwise approves (recording the score snapshot) or rejects (recording the reason).
    /// Emits LoanApproved or LoanRejected. Returns true if approved.
    function approve(uint256 loanId) external whenNotPaused returns (bool approved) {
        Loan storage l = _loanIn(loanId, LoanState.Requested);
        address borrower = l.borrower;
        BorrowerBook storage book = _books[borrower];
        (bool ok, IComplianceRules.Reason reason, ICreditScoreRegistry.ScoreRecord memory score) = _compliance.check(
            borrower,
            l.principal,
            l.aprBps,
            l.termSeconds,
            IComplianceRules.LoanHistory({activeLoans: book.activeLoans, lastDefaultAt: book.lastDefaultAt})
        );
        if (!ok && _isDeferred(reason)) revert LoanNotDecidable(loanId, reason);
        uint256 ruleVersion = _compliance.version();
        l.decidedAt = uint40(block.timestamp);
        if (!ok) {
            l.state = LoanState.Rejected;
            l.rejectReason = reason;
            emit LoanRejected(loanId, borrower, reason, ruleVersion);
            return false;
        }
        l.state = LoanState.Approved;
        l.modelId = score.modelId;
        l.pdBps = score.pdBps;
        l.score = score.score;
        l.scoreIssuedAt = score.issuedAt;
        book.activeLoans += 1;
        emit LoanApproved(loanId, borrower, score.modelId, score.pdBps, score.score, score.issuedAt, ruleVersion);
        return true;
    }

    /// @notice Funds an Approved loan: the caller becomes its lender and principal moves from the
    /// caller to the borrower.
    /// @dev Caller must have approved this contract for the principal and must not be the borrower;
    /// the borrower must still be eligible. Not when paused. Emits LoanFunded.
    function fund(uint256 loanId) external whenNotPaused nonReentrant {
        Loan storage l = _loanIn(loanId, LoanState.Approved);
        address borrower = l.borrower;
        if (msg.sender == borrower) revert LoanSelfFunding(loanId);
        if (!_borrowers.isEligible(borrower)) revert LoanBorrowerIneligible(borrower);
        uint256 principal = l.principal;
        l.state = LoanState.Funded;
        l.fundedAt = uint64(block.timestamp);
        l.lender = msg.sender;
        _totalOutstandingPrincipal += principal;
        emit LoanFunded(loanId, msg.sender, borrower, principal, l.totalDue, uint64(block.timestamp));
        _token.safeTransferFrom(msg.sender, borrower, principal);
    }

    /// @notice Repays `amount` of a Funded loan (anyone may pay); the tokens go to the lender.
    /// @dev 0 < amount <= amountOwed. Works while paused. Emits LoanRepaid, and LoanFullyRepaid
    /// when nothing is left owing (state Repaid).
    function repay(uint256 loanId, uint256 amount) external nonReentrant {
        Loan storage l = _loanIn(loanId, LoanState.Funded);
        uint256 paidBefore = l.repaid;
        uint256 remaining = _checkPayment(l, loanId, amount, paidBefore);
        uint256 paidAfter = paidBefore + amount;
        l.repaid = uint96(paidAfter);
        _totalOutstandingPrincipal -= _principalShare(l, paidAfter) - _principalShare(l, paidBefore);
        emit LoanRepaid(loanId, msg.sender, amount, paidAfter, remaining - amount);
        if (remaining == amount) {
            address borrower = l.borrower;
            l.state = LoanState.Repaid;
            _books[borrower].activeLoans -= 1;
            emit LoanFullyRepaid(loanId, borrower);
        }
        _token.safeTransferFrom(msg.sender, l.lender, amount);
    }

    /// @notice Marks a Funded loan Defaulted once a late installment (past due date + grace) is
    /// not covered by what has been repaid. Callable by anyone.
    /// @dev Not when paused. Emits LoanDefaulted. Starts the borrower's cool-off.
    function markDefault(uint256 loanId) external whenNotPaused {
        Loan storage l = _loanIn(loanId, LoanState.Funded);
        if (l.repaid >= _minimumRepaid(l)) revert LoanNotOverdue(loanId);
        address borrower = l.borrower;
        l.state = LoanState.Defaulted;
        BorrowerBook storage book = _books[borrower];
        book.activeLoans -= 1;
        book.lastDefaultAt = uint64(block.timestamp);
        emit LoanDefaulted(loanId, borrower, l.repaid, l.totalDue - l.repaid);
    }

    /// @notice Writes off a Defaulted loan: its remaining principal leaves the outstanding total.
    /// @dev Lender of the loan or REGULATOR_ROLE. Emits LoanWrittenOff.
    function writeOff(uint256 loanId) external {
        Loan storage l = _loanIn(loanId, LoanState.Defaulted);
        if (msg.sender != l.lender && !hasRole(REGULATOR_ROLE, msg.sender)) revert LoanUnauthorized(loanId, msg.sender);
        uint256 principalLeft = l.principal - _principalShare(l, uint256(l.repaid) + l.recovered);
        l.state = LoanState.WrittenOff;
        _totalOutstandingPrincipal -= principalLeft;
        emit LoanWrittenOff(loanId, msg.sender, principalLeft);
    }

    /// @notice Pays `amount` towards a Defaulted or WrittenOff loan (recovery); tokens go to the lender.
    /// @dev 0 < amount <= amountOwed. Reduces outstanding principal only while Defaulted.
    /// Emits LoanRecovered.
    function recover(uint256 loanId, uint256 amount) external nonReentrant {
        Loan storage l = _requireLoan(loanId);
        LoanState state = l.state;
        if (state != LoanState.Defaulted && state != LoanState.WrittenOff) revert LoanInvalidState(loanId, state);
        uint256 paidBefore = uint256(l.repaid) + l.recovered;
        _checkPayment(l, loanId, amount, paidBefore);
        uint256 recovered = uint256(l.recovered) + amount;
        l.recovered = uint96(recovered);
        if (state == LoanState.Defaulted) {
            _totalOutstandingPrincipal -= _principalShare(l, paidBefore + amount) - _principalShare(l, paidBefore);
        }
        emit LoanRecovered(loanId, msg.sender, amount, recovered);
        _token.safeTransferFrom(msg.sender, l.lender, amount);
    }

    /// @notice Cancels a Requested or Approved (unfunded) loan.
    /// @dev Borrower only. Emits LoanCancelled.
    function cancel(uint256 loanId) external {
        Loan storage l = _requireLoan(loanId);
        address borrower = l.borrower;
        if (msg.sender != borrower) revert LoanNotBorrower(loanId, msg.sender);
        LoanState state = l.state;
        if (state != LoanState.Requested && state != LoanState.Approved) revert LoanInvalidState(loanId, state);
        if (state == LoanState.Approved) _books[borrower].activeLoans -= 1;
        l.state = LoanState.Cancelled;
        emit LoanCancelled(loanId, borrower);
    }

    /// @notice Pauses request, approve, fund and markDefault.
    /// @dev REGULATOR_ROLE. Emits Paused.
    function pause() external onlyRole(REGULATOR_ROLE) {
        _pause();
    }

    /// @notice Lifts the pause.
    /// @dev REGULATOR_ROLE. Emits Unpaused.
    function unpause() external onlyRole(REGULATOR_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored loan (all zero if unknown).
    function getLoan(uint256 loanId) external view returns (Loan memory) {
        return _loans[loanId];
    }

    /// @notice Number of loans ever requested (ids run 1..loanCount).
    function loanCount() external view returns (uint256) {
        return _loanCount;
    }

    /// @notice What is still owed on a Funded, Defaulted or WrittenOff loan (0 otherwise).
    function amountOwed(uint256 loanId) external view returns (uint256) {
        Loan storage l = _loans[loanId];
        LoanState s = l.state;
        if (s != LoanState.Funded && s != LoanState.Defaulted && s != LoanState.WrittenOff) return 0;
        return uint256(l.totalDue) - l.repaid - l.recovered;
    }

    /// @notice Due date of installment `installment` (1..n) of a funded loan.
    function dueDate(uint256 loanId, uint256 installment) external view returns (uint256) {
        Loan storage l = _requireLoan(loanId);
        if (l.fundedAt == 0) revert LoanInvalidState(loanId, l.state);
        if (installment == 0 || installment > l.installments) revert LoanInvalidInstallment(loanId, installment);
        return uint256(l.fundedAt) + (uint256(l.termSeconds) * installment) / l.installments;
    }

    /// @notice Number of installments whose due date + grace period has passed (0 if not funded).
    function installmentsLate(uint256 loanId) external view returns (uint256) {
        return _installmentsLate(_loans[loanId]);
    }

    /// @notice The repaid total below which a Funded loan can be marked defaulted right now.
    function minimumRepaidNow(uint256 loanId) external view returns (uint256) {
        return _minimumRepaid(_loans[loanId]);
    }

    /// @notice True if `markDefault(loanId)` would succeed now (ignoring pause).
    function isDefaultable(uint256 loanId) external view returns (bool) {
        Loan storage l = _loans[loanId];
        return l.state == LoanState.Funded && l.repaid < _minimumRepaid(l);
    }

    /// @notice Principal not yet repaid on a Funded or Defaulted loan (0 otherwise).
    function outstandingPrincipal(uint256 loanId) external view returns (uint256) {
        Loan storage l = _loans[loanId];
        if (l.state != LoanState.Funded && l.state != LoanState.Defaulted) return 0;
        return l.principal - _principalShare(l, uint256(l.repaid) + l.recovered);
    }

    /// @notice Sum of outstandingPrincipal over all loans.
    function totalOutstandingPrincipal() external view returns (uint256) {
        return _totalOutstandingPrincipal;
    }

    /// @notice Loans of `borrower` that are Approved or Funded.
    function activeLoanCount(address borrower) external view returns (uint256) {
        return _books[borrower].activeLoans;
    }

    /// @notice When `borrower` last defaulted (0 = never).
    function lastDefaultAt(address borrower) external view returns (uint64) {
        return _books[borrower].lastDefaultAt;
    }

    /// @notice Grace period after each installment's due date before a default may be marked.
    function gracePeriodSeconds() external view returns (uint64) {
        return _gracePeriodSeconds;
    }

    /// @notice The ERC-20 lent and repaid.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The borrower registry consulted on request and funding.
    function borrowerRegistry() external view returns (address) {
        return address(_borrowers);
    }

    /// @notice The compliance rules consulted on approval.
    function complianceRules() external view returns (address) {
        return address(_compliance);
    }

    // ---------------------------------------------------------------- internals

    function _requireLoan(uint256 loanId) private view returns (Loan storage l) {
        l = _loans[loanId];
        if (l.state == LoanState.None) revert LoanNotFound(loanId);
    }

    function _loanIn(uint256 loanId, LoanState expected) private view returns (Loan storage l) {
        l = _requireLoan(loanId);
        if (l.state != expected) revert LoanInvalidState(loanId, l.state);
    }

    /// @dev Returns what remains owed before this payment; reverts on zero or over-payment.
    function _checkPayment(Loan storage l, uint256 loanId, uint256 amount, uint256 paidBefore)
        private
        view
        returns (uint256 remaining)
    {
        if (amount == 0) revert LoanZeroAmount(loanId);
        remaining = uint256(l.totalDue) - paidBefore;
        if (amount > remaining) revert LoanOverpayment(loanId, amount, remaining);
    }

    function _principalShare(Loan storage l, uint256 paid) private view returns (uint256) {
        return (paid * l.principal) / l.totalDue;
    }

    function _installmentsLate(Loan storage l) private view returns (uint256) {
        uint256 fundedAt = l.fundedAt;
        if (fundedAt == 0 || block.timestamp <= fundedAt + _gracePeriodSeconds) return 0;
        // Installment i is late iff fundedAt + floor(term * i / n) + grace < now
        // <=> term * i < t * n with t = now - fundedAt - grace  <=> i <= (t * n - 1) / term.
        uint256 t = block.timestamp - fundedAt - _gracePeriodSeconds;
        uint256 n = l.installments;
        uint256 late = (t * n - 1) / l.termSeconds;
        return late > n ? n : late;
    }

    function _minimumRepaid(Loan storage l) private view returns (uint256) {
        uint256 late = _installmentsLate(l);
        return late == 0 ? 0 : (uint256(l.totalDue) * late) / l.installments;
    }

    function _isDeferred(IComplianceRules.Reason reason) private pure returns (bool) {
        return reason == IComplianceRules.Reason.RulesNotSet || reason == IComplianceRules.Reason.NoScore
            || reason == IComplianceRules.Reason.ScoreExpired || reason == IComplianceRules.Reason.ScoreStale
            || reason == IComplianceRules.Reason.ModelNotApproved;
    }
}
