// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {Assertions} from "../utils/Assertions.sol";
import {LoanMath} from "../utils/LoanMath.sol";
import {ILoanManager} from "../../../interfaces/ILoanManager.sol";
import {IComplianceRules} from "../../../interfaces/IComplianceRules.sol";
import {TestStablecoin} from "../../../contracts/test/TestStablecoin.sol";
import {BorrowerRegistry} from "../../../contracts/BorrowerRegistry.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {CreditScoreRegistry} from "../../../contracts/CreditScoreRegistry.sol";
import {ComplianceRules} from "../../../contracts/ComplianceRules.sol";
import {LoanManager} from "../../../contracts/LoanManager.sol";

/// @notice The deployed contracts a lifecycle handler drives.
struct Scorechain {
    TestStablecoin token;
    BorrowerRegistry borrowers;
    ModelRegistry models;
    CreditScoreRegistry scores;
    ComplianceRules compliance;
    LoanManager loans;
}

/// @notice Who does what: three borrowers, two lenders, a relayer (any third party) and the role
/// holders; oracleKeys sign attestations (the registry takes 2 of the 3).
struct Actors {
    address[3] borrowers;
    address[2] lenders;
    address relayer;
    address servicer;
    address kyc;
    address regulator;
    address registrar;
    address approver;
    uint256[3] oracleKeys;
}

/// @title LifecycleGhost
/// @notice The ghost model of the lending market kept beside the real contracts: every loan's
/// terms, state and payments, each borrower's status, score and counters, token balances and
/// claimable amounts, the rules in force, and a Solidity twin of ComplianceRules.check (first
/// failing reason, in the contract's order) and of the delinquency test. The handler updates it
/// from what it predicts, then checks the chain agrees; invariants compare the two.
/// The book (status, KYC expiry, active loans, last default, unresolved defaults) is kept per
/// person, under the person's first address (`_person`): borrowers[1] and borrowers[2] are one
/// identity, so their limits, cool-off, delinquency and status are shared. Scores stay per address.
/// @dev Mirrors LendingMachine in tests/contracts/test_lifecycle_state_machine.py.
abstract contract LifecycleGhost is Assertions {
    uint8 internal constant NONE = 0;
    uint8 internal constant REQUESTED = 1;
    uint8 internal constant APPROVED = 2;
    uint8 internal constant REJECTED = 3;
    uint8 internal constant CANCELLED = 4;
    uint8 internal constant FUNDED = 5;
    uint8 internal constant REPAID = 6;
    uint8 internal constant DEFAULTED = 7;
    uint8 internal constant WRITTEN_OFF = 8;
    uint8 internal constant EXPIRED = 9;

    uint8 internal constant ACTIVE = 1;
    uint8 internal constant SUSPENDED = 2;
    uint8 internal constant BANNED = 3;

    bytes2 internal constant GB = "GB";
    /// @dev States a loan can still leave: Requested, Approved, Funded, Defaulted.
    uint16 internal constant OPEN_STATES = (1 << 1) | (1 << 2) | (1 << 5) | (1 << 7);

    struct GhostLoan {
        address borrower;
        uint8 state;
        uint8 installments;
        uint16 aprBps;
        uint64 termSeconds;
        uint256 principal;
        uint256 totalDue;
        uint256 repaid;
        uint256 recovered;
        address lender;
        uint256 fundedAt;
        uint256 requestedAt;
        uint256 fundBy;
        uint256 scoreNonce;
        // the score record the approval read (set only when approved)
        bool approved;
        uint256 decidedNonce;
        bytes32 decidedModel;
        uint256 decidedIssuedAt;
        // servicing: terms snapshotted at approval, impairment, late fee, who defaulted
        uint256 lateRateBps;
        uint256 publicDelay;
        uint256 capAtApproval; // maxAprBps in force at approval
        uint256 impairedAt;
        uint256 feeAccrued;
        uint256 feePaid;
        uint256 accruedTo;
        bool defaultedByAnyone; // marked by neither the lender nor a servicer
        bool publicWindowAtDefault;
    }

    /// @notice An open loan as the invariants read it: the ghost loan and the twin's views.
    struct OpenLoan {
        uint256 id;
        GhostLoan loan;
        bool defaultable;
        bool publiclyDefaultable;
        uint256 lateFeeOwed;
        uint256 expiresAt;
    }

    struct GhostScore {
        bytes32 modelId;
        uint16 pdBps;
        uint16 score;
        uint64 issuedAt; // 0 = none
        uint64 validUntil;
        uint64 nonce;
        bool requested; // a loan request since the last record: one score may be recorded
    }

    /// @dev Book fields live under the person's address (`_person`), `score` under each address.
    struct GhostBorrower {
        uint8 status;
        uint64 kycExpiry;
        uint256 active; // Approved or Funded
        uint256 lastDefaultAt;
        uint256 unresolvedDefaults; // Defaulted, neither recovered in full nor written off
        GhostScore score;
    }

    Scorechain internal s;
    Actors internal a;
    uint256 internal immutable _grace;

    IComplianceRules.RuleSet internal _rules;
    uint256 internal _now;

    mapping(uint256 loanId => GhostLoan) internal _loans;
    uint256 internal _loanCount;
    mapping(address borrower => GhostBorrower) internal _book;

    bytes32[] internal _modelIds;
    mapping(bytes32 modelId => bool) internal _modelApproved;

    mapping(address account => uint256) internal _balance;
    mapping(address lender => uint256) internal _claimable;
    uint256 internal _held; // tokens the LoanManager holds for lenders
    uint256 internal _supply;

    /// @dev Allowed state edges as bitmasks: _edges[from] has bit `to` set.
    uint16[10] internal _edges;

    constructor(
        Scorechain memory system,
        Actors memory actors_,
        IComplianceRules.RuleSet memory rules,
        bytes32 firstModel
    ) {
        s = system;
        a = actors_;
        _grace = system.loans.gracePeriodSeconds();
        _now = block.timestamp;
        _setGhostRules(rules);
        _modelIds.push(firstModel);
        _modelApproved[firstModel] = system.models.isApproved(firstModel);
        for (uint256 i = 0; i < 3; ++i) {
            address b = actors_.borrowers[i];
            _book[_person(b)].status = ACTIVE;
            _book[_person(b)].kycExpiry = system.borrowers.getBorrower(b).kycExpiry;
            _balance[b] = system.token.balanceOf(b);
        }
        for (uint256 i = 0; i < 2; ++i) {
            _balance[actors_.lenders[i]] = system.token.balanceOf(actors_.lenders[i]);
        }
        _supply = system.token.totalSupply();
        _edges[REQUESTED] = uint16((1 << APPROVED) | (1 << REJECTED) | (1 << CANCELLED) | (1 << EXPIRED));
        _edges[APPROVED] = uint16((1 << CANCELLED) | (1 << FUNDED) | (1 << EXPIRED));
        _edges[FUNDED] = uint16((1 << REPAID) | (1 << DEFAULTED));
        _edges[DEFAULTED] = uint16(1 << WRITTEN_OFF);
    }

    // ---------------------------------------------------------------- views for the invariants

    /// @notice The ghost loans whose state is in `states` (a bitmask over LoanState), with their ids,
    /// in one call (the invariants run after every call, so they read the ghost in bulk).
    function ghostLoans(uint16 states) external view returns (uint256[] memory ids, GhostLoan[] memory loans) {
        uint256 count;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            if ((states >> _loans[id].state) & 1 == 1) ++count;
        }
        ids = new uint256[](count);
        loans = new GhostLoan[](count);
        uint256 k;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            if ((states >> _loans[id].state) & 1 == 1) {
                ids[k] = id;
                loans[k++] = _loans[id];
            }
        }
    }

    /// @notice The loans that can still change state (Requested, Approved, Funded, Defaulted) with the
    /// twin's isDefaultable, isPubliclyDefaultable, lateFeeOwed and expiresAt for each, and a time by
    /// which anyone can close all of them: after every open request's or approval's expiry and
    /// every funded loan's last installment plus grace plus its public default delay.
    function ghostOpenLoans() external view returns (OpenLoan[] memory open, uint256 closableAt) {
        uint256 count;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            if ((OPEN_STATES >> _loans[id].state) & 1 == 1) ++count;
        }
        open = new OpenLoan[](count);
        closableAt = _now;
        uint256 k;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            GhostLoan storage g = _loans[id];
            if ((OPEN_STATES >> g.state) & 1 == 0) continue;
            // A funded loan is closable by anyone once its last installment is past grace + public delay.
            uint256 end =
                g.state == FUNDED ? g.fundedAt + g.termSeconds + _grace + g.publicDelay : ghostExpiresAt(id);
            if (end > closableAt) closableAt = end;
            open[k++] = OpenLoan({
                id: id,
                loan: g,
                defaultable: ghostDefaultable(id),
                publiclyDefaultable: ghostPubliclyDefaultable(id),
                lateFeeOwed: ghostLateFeeOwed(id),
                expiresAt: ghostExpiresAt(id)
            });
        }
        closableAt += 1;
    }

    /// @notice The three borrower addresses' ghost books (their person's counters, their own
    /// score) and the twin's delinquency answer for each.
    function ghostBorrowers() external view returns (GhostBorrower[3] memory books, bool[3] memory delinquent) {
        for (uint256 i = 0; i < 3; ++i) {
            books[i] = _book[_person(a.borrowers[i])];
            books[i].score = _book[a.borrowers[i]].score;
            delinquent[i] = ghostDelinquent(a.borrowers[i]);
        }
    }

    /// @notice Token balances of the five actors (borrowers, then lenders), the lenders' claimable
    /// amounts, what the manager holds and the supply, as the ghost has them.
    function ghostAccounts()
        external
        view
        returns (uint256[5] memory balances, uint256[2] memory claimables, uint256 held, uint256 supply)
    {
        for (uint256 i = 0; i < 3; ++i) {
            balances[i] = _balance[a.borrowers[i]];
        }
        for (uint256 i = 0; i < 2; ++i) {
            balances[3 + i] = _balance[a.lenders[i]];
            claimables[i] = _claimable[a.lenders[i]];
        }
        return (balances, claimables, _held, _supply);
    }

    /// @notice Loans the ghost has seen requested (ids run 1..count).
    function ghostLoanCount() external view returns (uint256) {
        return _loanCount;
    }

    /// @notice The run's clock: the handler warps here at the start of every action.
    function ghostNow() external view returns (uint256) {
        return _now;
    }

    /// @notice maxActiveLoans of the rule set the ghost last set.
    function ghostMaxActiveLoans() external view returns (uint256) {
        return _rules.maxActiveLoans;
    }

    /// @notice True if a loan may move from state `from` to state `to` (the lifecycle's edges).
    function isAllowedEdge(uint8 from, uint8 to) public view returns (bool) {
        return from < 10 && (_edges[from] >> to) & 1 == 1;
    }

    /// @notice The twin's answer to "is the person behind `borrower` delinquent now?"
    /// (LoanManager.isDelinquent: any of their addresses).
    function ghostDelinquent(address borrower) public view returns (bool) {
        address person = _person(borrower);
        if (_book[person].unresolvedDefaults != 0) return true;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            GhostLoan storage g = _loans[id];
            if (_person(g.borrower) == person && g.state == FUNDED && (g.impairedAt != 0 || g.repaid < _minimumRepaid(g, 0))) {
                return true;
            }
        }
        return false;
    }

    /// @notice The twin's answer to "may the lender or a servicer mark `loanId` defaulted now?"
    /// (LoanManager.isDefaultable): a late installment past grace, or impaired for longer than grace.
    function ghostDefaultable(uint256 loanId) public view returns (bool) {
        GhostLoan storage g = _loans[loanId];
        if (g.state != FUNDED) return false;
        if (g.impairedAt != 0 && _now > g.impairedAt + _grace) return true;
        return g.repaid < _minimumRepaid(g, _grace);
    }

    /// @notice The twin's answer to "may anyone mark `loanId` defaulted now?"
    /// (LoanManager.isPubliclyDefaultable): an installment past grace + the loan's public delay.
    function ghostPubliclyDefaultable(uint256 loanId) public view returns (bool) {
        GhostLoan storage g = _loans[loanId];
        return g.state == FUNDED && g.repaid < _minimumRepaid(g, _grace + g.publicDelay);
    }

    /// @notice The twin's unpaid late fee (LoanManager.lateFeeOwed): charged and unpaid, plus, while
    /// Funded, what has run since the last charge.
    function ghostLateFeeOwed(uint256 loanId) public view returns (uint256) {
        GhostLoan storage g = _loans[loanId];
        if (g.state != FUNDED && g.state != DEFAULTED && g.state != WRITTEN_OFF) return 0;
        uint256 owed = g.feeAccrued - g.feePaid;
        if (g.state == FUNDED) owed += _feeSinceCharge(g);
        return owed;
    }

    /// @notice When a Requested or Approved loan may be expired (after this second; else 0).
    function ghostExpiresAt(uint256 loanId) public view returns (uint256) {
        GhostLoan storage g = _loans[loanId];
        if (g.state == APPROVED) return g.fundBy;
        if (g.state == REQUESTED) return g.requestedAt + _rules.requestTtlSeconds;
        return 0;
    }

    // ---------------------------------------------------------------- twins

    /// @notice The address under which the book of `borrower`'s person is kept: borrowers[1] and
    /// borrowers[2] are one identity (ScorechainFixture links them).
    function _person(address borrower) internal view returns (address) {
        return borrower == a.borrowers[2] ? a.borrowers[1] : borrower;
    }

    /// @notice The identity commitment of `borrower`'s person (as ScorechainFixture registered it).
    function ghostIdentity(address borrower) public view returns (bytes32) {
        return keccak256(abi.encode("identity", _person(borrower)));
    }

    function _eligible(address borrower) internal view returns (bool) {
        GhostBorrower storage b = _book[_person(borrower)];
        return b.status == ACTIVE && b.kycExpiry > _now;
    }

    function _minimumRepaid(GhostLoan storage g, uint256 graceSeconds) internal view returns (uint256) {
        return LoanMath.minimumRepaid(_now, g.fundedAt, g.termSeconds, g.installments, graceSeconds, g.totalDue);
    }

    /// @dev ComplianceRules.check's first failing reason for a Requested loan (0 = compliant).
    /// Jurisdiction is always allowed here (every borrower is GB) and the rules are always set.
    function _compliance(GhostLoan storage g) internal view returns (uint8) {
        IComplianceRules.RuleSet storage r = _rules;
        GhostBorrower storage b = _book[_person(g.borrower)];
        if (!_eligible(g.borrower)) return uint8(IComplianceRules.Reason.BorrowerIneligible);
        if (g.termSeconds < r.minTermSeconds) return uint8(IComplianceRules.Reason.TermTooShort);
        if (g.termSeconds > r.maxTermSeconds) return uint8(IComplianceRules.Reason.TermTooLong);
        if (g.aprBps > r.maxAprBps) return uint8(IComplianceRules.Reason.AprTooHigh);
        if (b.active >= r.maxActiveLoans) return uint8(IComplianceRules.Reason.TooManyActiveLoans);
        if (b.lastDefaultAt != 0 && _now < b.lastDefaultAt + r.coolOffSeconds) {
            return uint8(IComplianceRules.Reason.CoolOffActive);
        }
        if (ghostDelinquent(g.borrower)) return uint8(IComplianceRules.Reason.Delinquent);
        GhostScore storage sc = _book[g.borrower].score;
        if (sc.issuedAt == 0) return uint8(IComplianceRules.Reason.NoScore);
        if (sc.nonce < g.scoreNonce) return uint8(IComplianceRules.Reason.ScoreBeforeRequest);
        if (sc.validUntil <= _now) return uint8(IComplianceRules.Reason.ScoreExpired);
        if (_now - sc.issuedAt > r.maxScoreAgeSeconds) return uint8(IComplianceRules.Reason.ScoreStale);
        if (!_modelApproved[sc.modelId]) return uint8(IComplianceRules.Reason.ModelNotApproved);
        if (sc.pdBps > r.maxPdBps) return uint8(IComplianceRules.Reason.PdTooHigh);
        uint256 band = r.bandMinScores.length;
        while (band > 0 && sc.score < r.bandMinScores[band - 1]) --band;
        if (band == 0) return uint8(IComplianceRules.Reason.ScoreBelowMinimum);
        if (g.principal > r.bandMaxPrincipal[band - 1]) return uint8(IComplianceRules.Reason.PrincipalTooHigh);
        return 0;
    }

    /// @dev Failures a later event may lift: approve reverts LoanNotDecidable and the loan waits.
    function _isDeferred(uint8 reason) internal pure returns (bool) {
        IComplianceRules.Reason r = IComplianceRules.Reason(reason);
        return r == IComplianceRules.Reason.RulesNotSet || r == IComplianceRules.Reason.NoScore
            || r == IComplianceRules.Reason.ScoreBeforeRequest || r == IComplianceRules.Reason.ScoreExpired
            || r == IComplianceRules.Reason.ScoreStale || r == IComplianceRules.Reason.ModelNotApproved
            || r == IComplianceRules.Reason.TooManyActiveLoans || r == IComplianceRules.Reason.CoolOffActive
            || r == IComplianceRules.Reason.Delinquent;
    }

    function _feeSinceCharge(GhostLoan storage g) internal view returns (uint256) {
        uint256 from = g.accruedTo > g.fundedAt ? g.accruedTo : g.fundedAt;
        return LoanMath.lateFee(
            from, _now, g.fundedAt, g.termSeconds, g.installments, g.totalDue, g.principal, g.repaid, g.lateRateBps
        );
    }

    // ---------------------------------------------------------------- ghost updates

    /// @dev LoanManager charges the late fee before a payment on (or the default of) a loan that is
    /// overdue now; returns the unpaid fee after the charge.
    function _chargeLateFee(GhostLoan storage g) internal returns (uint256 feeDue) {
        if (g.repaid < _minimumRepaid(g, 0)) {
            g.feeAccrued += _feeSinceCharge(g);
            g.accruedTo = _now;
        }
        return g.feeAccrued - g.feePaid;
    }

    /// @dev Moves a loan in the ghost after checking the edge is allowed and the chain agrees.
    function _move(uint256 loanId, uint8 to) internal {
        GhostLoan storage g = _loans[loanId];
        if (!isAllowedEdge(g.state, to)) {
            revert InvariantViolated("allowed state edge (from * 16 + to)", uint256(g.state) * 16 + to, 0);
        }
        assertEq(uint8(s.loans.getLoan(loanId).state), to, "on-chain state after the action");
        g.state = to;
    }

    /// @dev A repayment or recovery: held by the manager as the lender's claimable balance.
    function _pay(address payer, address lender, uint256 amount) internal {
        _balance[payer] -= amount;
        _claimable[lender] += amount;
        _held += amount;
    }

    function _setGhostRules(IComplianceRules.RuleSet memory r) internal {
        _rules.maxPdBps = r.maxPdBps;
        _rules.maxAprBps = r.maxAprBps;
        _rules.maxActiveLoans = r.maxActiveLoans;
        _rules.minTermSeconds = r.minTermSeconds;
        _rules.maxTermSeconds = r.maxTermSeconds;
        _rules.maxScoreAgeSeconds = r.maxScoreAgeSeconds;
        _rules.coolOffSeconds = r.coolOffSeconds;
        _rules.requestTtlSeconds = r.requestTtlSeconds;
        _rules.fundingWindowSeconds = r.fundingWindowSeconds;
        _rules.lateInterestPremiumBps = r.lateInterestPremiumBps;
        _rules.publicDefaultDelaySeconds = r.publicDefaultDelaySeconds;
        _rules.bandMinScores = r.bandMinScores;
        _rules.bandMaxPrincipal = r.bandMaxPrincipal;
    }

    /// @dev The index (1-based id) of the `pick`-th loan (mod count) in one of `states` (bitmask), or 0.
    function _pickLoan(uint256 pick, uint16 states) internal view returns (uint256) {
        uint256 matching;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            if ((states >> _loans[id].state) & 1 == 1) ++matching;
        }
        if (matching == 0) return 0;
        uint256 k = pick % matching;
        for (uint256 id = 1; id <= _loanCount; ++id) {
            if ((states >> _loans[id].state) & 1 == 1) {
                if (k == 0) return id;
                --k;
            }
        }
        return 0;
    }
}
