// SPDX-License-Identifier: MIT
pragma solidity 0.8.24;

import {LifecycleGhost} from "./LifecycleGhost.sol";
import {LoanMath} from "../utils/LoanMath.sol";
import {ILoanManager} from "../../../interfaces/ILoanManager.sol";
import {ICreditScoreRegistry} from "../../../interfaces/ICreditScoreRegistry.sol";

/// @title BorrowerActions
/// @notice The first half of the lifecycle handler: per-action counters, shared helpers and what a
/// borrower (or the oracle on their behalf) does: request, score, approve, repay, cancel.
/// @dev Each action bounds its inputs, predicts the outcome with the ghost twin, asserts the chain
/// does exactly that (the call succeeds, or reverts with the predicted custom error), checks every
/// state edge and updates the ghost. An action that does not apply (no loan in the right state,
/// not enough tokens) is skipped, never reverted, so the campaign runs with fail_on_revert = true
/// and any revert is a finding. Counters per action (calls; done = state changed; refused = the
/// predicted revert was asserted) show that every action really ran.
abstract contract BorrowerActions is LifecycleGhost {
    enum Action {
        Request,
        Score,
        Approve,
        Fund,
        Repay,
        MarkDefault,
        WriteOff,
        Recover,
        Cancel,
        Expire,
        Claim,
        Warp,
        Model,
        BanOrReinstate,
        ChangeRules,
        RenewKyc,
        Impair
    }

    uint256 public constant ACTIONS = 17;
    /// @dev Caps that keep one run's loops short (a run is at most `depth` calls anyway).
    uint256 public constant MAX_LOANS = 48;
    uint256 public constant MAX_MODELS = 64;

    uint256[17] internal _calls;
    uint256[17] internal _done;
    uint256[17] internal _refused;
    /// @dev approve() outcomes by ComplianceRules.Reason (None = approved; deferred ones included).
    uint256[18] internal _decisions;

    modifier step(Action action) {
        vm.warp(_now); // time moves only through warp(); an invariant's probe cannot leak into the run
        ++_calls[uint256(action)];
        _;
    }

    /// @notice How many times `action` (an Action) was called in this run.
    function calls(uint256 action) external view returns (uint256) {
        return _calls[action];
    }

    /// @notice How many of those calls changed state.
    function done(uint256 action) external view returns (uint256) {
        return _done[action];
    }

    /// @notice How many of those calls met a predicted refusal (the custom error was asserted).
    function refused(uint256 action) external view returns (uint256) {
        return _refused[action];
    }

    /// @notice How many approve() calls the twin expected to end with `reason` (0 = approved).
    function decisions(uint256 reason) external view returns (uint256) {
        return _decisions[reason];
    }

    // ---------------------------------------------------------------- borrower actions

    /// @notice A borrower requests a loan (an ineligible one is refused): 1 to 12 installments,
    /// mostly within the lowest band's cap at up to the maximum APR over 7 to 120 days; one time
    /// in four (eight for the APR) anything up to 60,000 tokens, 4,000 bps and 800 days.
    function request(uint256 borrowerSeed, uint256 principal, uint256 aprBps, uint256 termDays, uint256 installments)
        external
        step(Action.Request)
    {
        if (_loanCount >= MAX_LOANS) return;
        address b = a.borrowers[borrowerSeed % 3];
        uint16 apr;
        uint64 term;
        uint8 n;
        (principal, apr, term, n) = _terms(principal, aprBps, termDays, installments);
        bytes memory data = abi.encodeCall(ILoanManager.request, (principal, apr, term, n));
        if (!_eligible(b)) {
            expectRevertAs(b, address(s.loans), data, _err(ILoanManager.LoanBorrowerIneligible.selector, b), "request");
            ++_refused[uint256(Action.Request)];
            return;
        }
        uint256 nonceBefore = s.scores.nonces(b);
        uint256 loanId = abi.decode(callAs(b, address(s.loans), data, "request"), (uint256));
        assertEq(loanId, _loanCount + 1, "loan ids run 1..loanCount");
        ILoanManager.Loan memory l = s.loans.getLoan(loanId);
        // The request voids every attestation held for the borrower: the next must carry a new nonce.
        assertEq(s.scores.nonces(b), nonceBefore + 1, "request advances the attestation nonce");
        assertEq(l.scoreNonce, nonceBefore + 1, "loan fixes the advanced nonce");
        _book[b].score.requested = true;
        assertEq(l.totalDue, LoanMath.totalDue(principal, apr, term), "totalDue");
        assertEq(l.requestedAt, _now, "requestedAt");
        _loanCount = loanId;
        GhostLoan storage g = _loans[loanId];
        g.borrower = b;
        g.principal = principal;
        g.aprBps = apr;
        g.termSeconds = term;
        g.installments = n;
        g.totalDue = l.totalDue;
        g.requestedAt = _now;
        g.scoreNonce = l.scoreNonce;
        g.state = REQUESTED;
        assertEq(uint8(l.state), REQUESTED, "on-chain state after request");
        ++_done[uint256(Action.Request)];
    }

    /// @notice The oracle signs (2 of 3 keys) and a relayer submits a score, usually for the borrower
    /// of a Requested loan (as the daemon does on ScoreRequested), issued up to ageSeconds ago and
    /// valid for a while; one in eight replays a nonce the last request voided.
    function score(uint256 pick, uint256 pdBps, uint256 scoreSeed, uint256 ageSeconds, uint256 seed)
        external
        step(Action.Score)
    {
        uint256 requested = _oneIn(4, pick, 4) ? 0 : _pickLoan(pick, uint16(1 << REQUESTED));
        address b = requested == 0 ? a.borrowers[pick % 3] : _loans[requested].borrower;
        ICreditScoreRegistry.ScoreAttestation memory att = _attestation(b, pdBps, scoreSeed, ageSeconds, seed);
        bytes memory data = abi.encodeCall(ICreditScoreRegistry.submit, (att, _sign(att, seed)));
        uint256 nonce = s.scores.nonces(b);
        if (att.nonce != nonce) {
            bytes memory e =
                abi.encodeWithSelector(ICreditScoreRegistry.CreditScoreInvalidNonce.selector, b, att.nonce, nonce);
            expectRevertAs(a.relayer, address(s.scores), data, e, "held attestation is void");
            ++_refused[uint256(Action.Score)];
            return;
        }
        assertEq(s.scores.scoreRequested(b), _book[b].score.requested, "open score request");
        if (!_book[b].score.requested) {
            // No loan request since the last record (or ever): no score may be published.
            bytes memory e = abi.encodeWithSelector(ICreditScoreRegistry.CreditScoreNoOpenRequest.selector, b);
            expectRevertAs(a.relayer, address(s.scores), data, e, "score without a request");
            ++_refused[uint256(Action.Score)];
            return;
        }
        if (!_modelApproved[att.modelId]) {
            bytes memory e =
                abi.encodeWithSelector(ICreditScoreRegistry.CreditScoreModelNotApproved.selector, att.modelId);
            expectRevertAs(a.relayer, address(s.scores), data, e, "score by a revoked model");
            ++_refused[uint256(Action.Score)];
            return;
        }
        callAs(a.relayer, address(s.scores), data, "score");
        ICreditScoreRegistry.ScoreRecord memory rec = s.scores.latestScore(b);
        assertEq(rec.nonce, nonce, "recorded nonce");
        assertEq(rec.issuedAt, att.issuedAt, "recorded issuedAt");
        _book[b].score = GhostScore({
            modelId: att.modelId,
            pdBps: att.pdBps,
            score: att.score,
            issuedAt: att.issuedAt,
            validUntil: att.validUntil,
            nonce: uint64(nonce),
            requested: false
        });
        ++_done[uint256(Action.Score)];
    }

    /// @notice The borrower decides a Requested loan (half the time a third party tries first and is
    /// refused). Half the time the pick moves on to the next loan the twin would approve, so
    /// approvals (and what follows them) are not starved by loans waiting for a score or doomed.
    function approve(uint256 loanPick, uint256 seed) external step(Action.Approve) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << REQUESTED));
        if (loanId == 0) return;
        if (_oneIn(2, seed, 15)) loanId = _nextApprovable(loanId);
        GhostLoan storage g = _loans[loanId];
        bytes memory data = abi.encodeCall(ILoanManager.approve, (loanId));
        if (_oneIn(2, seed, 5)) {
            bytes memory e = _err2(ILoanManager.LoanNotBorrower.selector, loanId, uint160(a.relayer));
            expectRevertAs(a.relayer, address(s.loans), data, e, "a third party never decides");
        }
        uint8 expected = _compliance(g);
        ++_decisions[expected];
        if (_isDeferred(expected)) {
            bytes memory e = _err2(ILoanManager.LoanNotDecidable.selector, loanId, expected);
            expectRevertAs(g.borrower, address(s.loans), data, e, "deferred approval");
            ++_refused[uint256(Action.Approve)];
            return;
        }
        ICreditScoreRegistry.ScoreRecord memory rec = s.scores.latestScore(g.borrower);
        bool approved = abi.decode(callAs(g.borrower, address(s.loans), data, "approve"), (bool));
        ILoanManager.Loan memory l = s.loans.getLoan(loanId);
        assertEq(l.decidedAt, _now, "decidedAt");
        if (expected != 0) {
            assertTrue(!approved, "twin rejects, chain approved");
            assertEq(uint8(l.rejectReason), expected, "reject reason");
            _move(loanId, REJECTED);
            ++_done[uint256(Action.Approve)];
            return;
        }
        assertTrue(approved, "twin approves, chain rejected");
        // The snapshot is the record the registry held at approval time, signed after the request.
        assertEq(l.modelId, rec.modelId, "approved modelId is the record's");
        assertEq(l.pdBps, rec.pdBps, "approved pdBps is the record's");
        assertEq(l.score, rec.score, "approved score is the record's");
        assertEq(l.scoreIssuedAt, rec.issuedAt, "approved issuedAt is the record's");
        assertTrue(rec.nonce >= l.scoreNonce, "approved on a score signed after the request");
        assertEq(l.fundBy, _now + _rules.fundingWindowSeconds, "fundBy");
        // Servicing terms: the late rate fills at most the room under the usury cap.
        uint256 room = _rules.maxAprBps - g.aprBps;
        g.lateRateBps = _rules.lateInterestPremiumBps < room ? _rules.lateInterestPremiumBps : room;
        g.publicDelay = _rules.publicDefaultDelaySeconds;
        g.capAtApproval = _rules.maxAprBps;
        assertEq(l.lateRateBps, g.lateRateBps, "lateRateBps snapshot");
        assertEq(l.publicDefaultDelay, g.publicDelay, "publicDefaultDelay snapshot");
        GhostBorrower storage b = _book[_person(g.borrower)];
        assertTrue(b.active < _rules.maxActiveLoans, "approved within maxActiveLoans");
        ++b.active;
        g.approved = true;
        g.decidedNonce = rec.nonce;
        g.decidedModel = rec.modelId;
        g.decidedIssuedAt = rec.issuedAt;
        g.fundBy = l.fundBy;
        _move(loanId, APPROVED);
        ++_done[uint256(Action.Approve)];
    }

    /// @notice The borrower pays a little, part, all, or more than what is owed (late fee included;
    /// cut to the remainder). The late fee is charged first and paid first.
    function repay(uint256 loanPick, uint256 fracBps, uint256 over) external step(Action.Repay) {
        uint256 loanId = _pickLoan(loanPick, uint16(1 << FUNDED));
        if (loanId == 0) return;
        GhostLoan storage g = _loans[loanId];
        uint256 feeDue = g.feeAccrued - g.feePaid + (g.repaid < _minimumRepaid(g, 0) ? _feeSinceCharge(g) : 0);
        uint256 remaining = g.totalDue - g.repaid + feeDue;
        assertEq(s.loans.amountOwed(loanId), remaining, "amountOwed == twin (late fee included)");
        uint256 amount = _portion(remaining, fracBps);
        bool overpay = _oneIn(5, over, 6);
        uint256 offered = overpay ? remaining + bound(over, 1, 1e12) : amount;
        if (overpay) amount = remaining;
        if (_balance[g.borrower] < amount) return;
        callAs(g.borrower, address(s.loans), abi.encodeCall(ILoanManager.repay, (loanId, offered)), "repay");
        assertEq(_chargeLateFee(g), feeDue, "fee charged before the payment");
        uint256 feePart = amount < feeDue ? amount : feeDue;
        g.feePaid += feePart;
        g.repaid += amount - feePart;
        _pay(g.borrower, g.lender, amount);
        if (g.impairedAt != 0 && g.repaid >= LoanMath.impairmentCure(g.impairedAt, g.fundedAt, g.termSeconds, g.installments, g.totalDue)) {
            g.impairedAt = 0; // paying what the impairment called due cures it
        }
        ILoanManager.Loan memory l = s.loans.getLoan(loanId);
        assertEq(l.repaid, g.repaid, "repaid (an overpayment is cut; the fee is paid first)");
        assertEq(l.lateFeeAccrued, g.feeAccrued, "lateFeeAccrued == twin");
        assertEq(l.lateFeePaid, g.feePaid, "lateFeePaid == twin");
        if (amount == remaining) {
            assertEq(g.repaid, g.totalDue, "paid in full");
            --_book[_person(g.borrower)].active;
            _move(loanId, REPAID);
        }
        ++_done[uint256(Action.Repay)];
    }

    /// @notice The borrower cancels an unfunded loan (one time in eight; another in eight someone
    /// else tries and is refused; otherwise the borrower keeps it and nothing happens).
    function cancel(uint256 loanPick, uint256 seed) external step(Action.Cancel) {
        uint256 loanId = _pickLoan(loanPick, uint16((1 << REQUESTED) | (1 << APPROVED)));
        uint256 mode = uint256(keccak256(abi.encode(seed))) % 8;
        if (loanId == 0 || mode > 1) return;
        GhostLoan storage g = _loans[loanId];
        bytes memory data = abi.encodeCall(ILoanManager.cancel, (loanId));
        if (mode == 0) {
            address outsider = a.lenders[seed % 2];
            bytes memory e = _err2(ILoanManager.LoanNotBorrower.selector, loanId, uint160(outsider));
            expectRevertAs(outsider, address(s.loans), data, e, "only the borrower cancels");
            ++_refused[uint256(Action.Cancel)];
            return;
        }
        callAs(g.borrower, address(s.loans), data, "cancel");
        if (g.state == APPROVED) --_book[_person(g.borrower)].active;
        _move(loanId, CANCELLED);
        ++_done[uint256(Action.Cancel)];
    }

    // ---------------------------------------------------------------- helpers

    function _advance(uint256 seconds_) internal {
        _now += seconds_;
        vm.warp(_now);
    }

    /// @dev The first Requested loan from `start` on (wrapping) that approve() would approve now,
    /// or `start` if none would.
    function _nextApprovable(uint256 start) internal view returns (uint256) {
        for (uint256 k = 0; k < _loanCount; ++k) {
            uint256 id = (start - 1 + k) % _loanCount + 1;
            if (_loans[id].state == REQUESTED && _compliance(_loans[id]) == 0) return id;
        }
        return start;
    }

    /// @dev True one time in n, decided by a hash of the fuzzed seed (and a salt per decision), so
    /// the split does not follow the fuzzer's bias towards small and repeated dictionary values.
    function _oneIn(uint256 n, uint256 seed, uint256 salt) internal pure returns (bool) {
        return uint256(keccak256(abi.encode(seed, salt))) % n == 0;
    }

    /// @dev The fuzzed value itself one time in four (forge's dictionary brings edge values), else
    /// a hash of it, spread evenly over its range (small dictionary values would otherwise make
    /// most terms 7 days, most repayments one basis point and most scores 200).
    function _spread(uint256 x, uint256 salt) internal pure returns (uint256) {
        return _oneIn(4, x, salt + 100) ? x : uint256(keccak256(abi.encode(x, salt)));
    }

    /// @dev A payment towards `remaining` (> 0): half the time a few base units (up to 1000, which
    /// exercises the pro-rata rounding and leaves instalments unpaid), else max(1, a share of
    /// what remains drawn in basis points).
    function _portion(uint256 remaining, uint256 fracBps) internal pure returns (uint256) {
        if (_oneIn(2, fracBps, 27)) return bound(fracBps, 1, remaining < 1000 ? remaining : 1000);
        uint256 amount = (remaining * bound(_spread(fracBps, 16), 1, 10_000)) / 10_000;
        return amount == 0 ? 1 : amount;
    }

    /// @dev Loan terms from fuzzed seeds (see request()).
    function _terms(uint256 principalSeed, uint256 aprSeed, uint256 termSeed, uint256 installments)
        internal
        pure
        returns (uint256 principal, uint16 apr, uint64 term, uint8 n)
    {
        bool wide = _oneIn(4, principalSeed, 1);
        principal = bound(_spread(principalSeed, 1), wide ? 1 : 1e6, wide ? 60_000e6 : 1_000e6);
        apr = uint16(bound(_spread(aprSeed, 2), 0, _oneIn(8, aprSeed, 2) ? 4_000 : 3_600));
        termSeed = _spread(termSeed, 3);
        term = uint64((_oneIn(4, termSeed, 3) ? bound(termSeed, 1, 800) : bound(termSeed, 7, 120)) * 1 days);
        n = uint8(bound(installments, 1, 12));
    }

    /// @dev An attestation for `b` by the newest model: issued up to 10 days ago but after the last
    /// record (advancing the clock a second if needed), valid 1 hour to 30 days from now, PD mostly
    /// within the default cap; one in eight carries the nonce the borrower's last request voided.
    function _attestation(address b, uint256 pdBps, uint256 scoreSeed, uint256 ageSeconds, uint256 seed)
        internal
        returns (ICreditScoreRegistry.ScoreAttestation memory att)
    {
        uint256 lastIssuedAt = _book[b].score.issuedAt;
        if (lastIssuedAt >= _now) _advance(1); // the registry takes only a newer issuedAt
        uint256 issuedAt = _now - bound(_spread(ageSeconds, 19), 0, 10 days);
        if (issuedAt <= lastIssuedAt) issuedAt = _now;
        uint256 nonce = s.scores.nonces(b);
        pdBps = _spread(pdBps, 7);
        att.borrower = b;
        att.modelId = _modelIds[_modelIds.length - 1];
        att.featuresHash = keccak256(abi.encode(b, seed));
        att.pdBps = uint16(_oneIn(4, pdBps, 7) ? bound(pdBps, 0, 4_000) : bound(pdBps, 0, 1_500));
        att.score = uint16(bound(_spread(scoreSeed, 17), 200, 900));
        att.reasonCodes = uint32(seed >> 8);
        att.issuedAt = uint64(issuedAt);
        att.validUntil = uint64(_now + bound(_spread(seed, 18), 1 hours, 30 days));
        att.nonce = _oneIn(8, seed, 8) && nonce > 0 ? nonce - 1 : nonce;
        att.configDigest = s.scores.configDigest();
    }

    /// @dev Two distinct oracle keys of three, in either order, sign the attestation's EIP-712 digest.
    function _sign(ICreditScoreRegistry.ScoreAttestation memory att, uint256 seed)
        internal
        view
        returns (bytes[] memory sigs)
    {
        bytes32 digest = s.scores.hashAttestation(att);
        uint256 first = seed % 3;
        uint256 second = (first + 1 + (seed >> 2) % 2) % 3;
        sigs = new bytes[](2);
        (uint8 v, bytes32 r, bytes32 sig) = vm.sign(a.oracleKeys[first], digest);
        sigs[0] = abi.encodePacked(r, sig, v);
        (v, r, sig) = vm.sign(a.oracleKeys[second], digest);
        sigs[1] = abi.encodePacked(r, sig, v);
    }

    function _err(bytes4 selector, address who) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector, who);
    }

    function _err2(bytes4 selector, uint256 x, uint256 y) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(selector, x, y);
    }
}
