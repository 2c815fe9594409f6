"""Attacks on the loan decision, each written as the attacker would try it (issue 11). The table in
reports/security.md lists them with the hole each one used on the previous contracts.

Which score decides: a score signed before the request never decides (the loan waits), a held
pull-mode attestation is void once a loan is requested, only the borrower decides. Approvals expire
and funding re-checks. Delinquency blocks approval and funding. Servicing: overpayment is cut, a
blacklisted lender cannot block repayment, positions move in two steps."""

import brownie
import pytest
from brownie import accounts, chain

from scripts.scorechain_testkit import DAY, DEFAULT_RULES, GB, MODEL_ID, as_tuple, err, role_err, total_due

P = 1_000 * 10**6
APR = 1_200
TERM = 90 * DAY
N = 3
REQUESTED, APPROVED, REJECTED, CANCELLED, FUNDED, REPAID, DEFAULTED, WRITTEN_OFF, EXPIRED = range(1, 10)
R_INELIGIBLE, R_JURISDICTION, R_ACTIVE, R_COOL_OFF, R_NO_SCORE, R_MODEL, R_PD = 2, 3, 7, 8, 9, 12, 13
R_BEFORE_REQUEST, R_DELINQUENT = 16, 17


def now():
    return chain[-1].timestamp


def _request(loans, borrower, principal=P):
    return loans.request(principal, APR, TERM, N, {"from": borrower}).return_value


@pytest.fixture
def grifter():
    return accounts[9]


# ------------------------------------------------------------------ which score decides, who decides


def test_a_good_score_recorded_before_the_request_does_not_decide_it(ready, loans, oracle, borrower):
    """Borrower's finances got worse: request and approve at once on the old, better score."""
    oracle.fresh_score(borrower, borrower, pd_bps=100, score=800)
    loan_id = _request(loans, borrower)
    with brownie.reverts(err("LoanNotDecidable", loan_id, R_BEFORE_REQUEST)):
        loans.approve(loan_id, {"from": borrower})
    # The oracle's score for this request (worse now) is what decides.
    oracle.fresh_score(borrower, borrower, pd_bps=2_500, score=650)
    tx = loans.approve(loan_id, {"from": borrower})
    assert tx.events["LoanRejected"]["reason"] == R_PD


def test_a_held_attestation_signed_before_the_request_cannot_be_recorded_after_it(ready, loans, oracle, scores,
                                                                                   borrower):
    """Pull mode: keep a signed good score, request, then post it to decide the new loan."""
    att = oracle.attestation(borrower, pd_bps=100, score=800, issued_at=now())
    sigs = oracle.sign(att)
    tx = loans.request(P, APR, TERM, N, {"from": borrower})
    assert tx.events["ScoreNonceAdvanced"] == {"borrower": borrower, "nonce": att["nonce"] + 1}
    assert loans.getLoan(tx.return_value)["scoreNonce"] == att["nonce"] + 1 == scores.nonces(borrower)
    with brownie.reverts(err("CreditScoreInvalidNonce", borrower, att["nonce"], att["nonce"] + 1)):
        scores.submit(as_tuple(att), sigs, {"from": borrower})


def test_only_the_borrower_decides_so_a_griefer_cannot_force_a_rejection(ready, loans, oracle, borrower, grifter):
    """A griefer calls approve right after request, while the latest score would fail the rules."""
    oracle.fresh_score(borrower, borrower, pd_bps=9_000, score=310)
    loan_id = _request(loans, borrower)
    with brownie.reverts(err("LoanNotBorrower", loan_id, grifter)):
        loans.approve(loan_id, {"from": grifter})
    # Even the borrower's own call only defers on that pre-request score.
    with brownie.reverts(err("LoanNotDecidable", loan_id, R_BEFORE_REQUEST)):
        loans.approve(loan_id, {"from": borrower})
    assert loans.getLoan(loan_id)["state"] == REQUESTED


def test_a_third_party_cannot_order_approvals_to_get_a_wanted_loan_rejected(ready, loans, oracle, borrower,
                                                                            grifter):
    """Order steering: with maxActiveLoans = 2, approve two small loans first so the third is
    rejected. Approval is the borrower's, and the limit now defers instead of rejecting."""
    wanted, small1, small2 = (_request(loans, borrower, p) for p in (P, 10 * 10**6, 10 * 10**6))
    oracle.fresh_score(borrower, borrower)
    for loan_id in (small1, small2):
        with brownie.reverts(err("LoanNotBorrower", loan_id, grifter)):
            loans.approve(loan_id, {"from": grifter})
        loans.approve(loan_id, {"from": borrower})
    with brownie.reverts(err("LoanNotDecidable", wanted, R_ACTIVE)):
        loans.approve(wanted, {"from": borrower})
    loans.cancel(small2, {"from": borrower})
    assert loans.approve(wanted, {"from": borrower}).return_value is True


def test_a_deferred_request_expires_after_the_rule_sets_period(ready, loans, borrower, grifter):
    loan_id = _request(loans, borrower)
    ttl = DEFAULT_RULES["requestTtlSeconds"]
    expires = loans.getLoan(loan_id)["requestedAt"] + ttl
    assert loans.expiresAt(loan_id) == expires
    chain.sleep(expires - now() - 30)
    chain.mine()
    with brownie.reverts(err("LoanNotExpired", loan_id, expires)):
        loans.expire(loan_id, {"from": grifter})
    chain.sleep(60)
    chain.mine()
    tx = loans.expire(loan_id, {"from": grifter})
    assert tx.events["LoanExpired"] == {"loanId": loan_id, "borrower": borrower, "previousState": REQUESTED}
    assert loans.getLoan(loan_id)["state"] == EXPIRED and loans.expiresAt(loan_id) == 0
    with brownie.reverts(err("LoanInvalidState", loan_id, EXPIRED)):
        loans.approve(loan_id, {"from": borrower})


# ------------------------------------------------------------------ approvals expire; funding re-checks


@pytest.fixture
def approved(ready, loans, oracle, borrower):
    loan_id = _request(loans, borrower)
    oracle.fresh_score(borrower, borrower)
    tx = loans.approve(loan_id, {"from": borrower})
    assert loans.getLoan(loan_id)["fundBy"] == tx.timestamp + DEFAULT_RULES["fundingWindowSeconds"]
    return loan_id


def test_an_approval_past_its_deadline_cannot_be_funded_and_anyone_expires_it(approved, loans, borrower, lender,
                                                                              grifter):
    fund_by = loans.getLoan(approved)["fundBy"]
    assert loans.activeLoanCount(borrower) == 1
    chain.sleep(fund_by - now() + 1)
    chain.mine()
    with brownie.reverts(err("LoanApprovalExpired", approved, fund_by)):
        loans.fund(approved, {"from": lender})
    tx = loans.expire(approved, {"from": grifter})
    assert tx.events["LoanExpired"]["previousState"] == APPROVED
    assert loans.activeLoanCount(borrower) == 0


def test_an_approval_cannot_expire_before_its_deadline(approved, loans, grifter):
    with brownie.reverts(err("LoanNotExpired", approved, loans.getLoan(approved)["fundBy"])):
        loans.expire(approved, {"from": grifter})


def test_revoking_the_deciding_model_freezes_an_approved_loan(approved, loans, models, approver, lender):
    models.revoke(MODEL_ID, 1, {"from": approver})
    with brownie.reverts(err("LoanNotFundable", approved, R_MODEL)):
        loans.fund(approved, {"from": lender})


def test_disallowing_the_jurisdiction_freezes_an_approved_loan(approved, loans, compliance, regulator, lender):
    compliance.setJurisdictionAllowed(GB, False, {"from": regulator})
    with brownie.reverts(err("LoanNotFundable", approved, R_JURISDICTION)):
        loans.fund(approved, {"from": lender})
    compliance.setJurisdictionAllowed(GB, True, {"from": regulator})
    loans.fund(approved, {"from": lender})


def test_a_banned_borrower_cannot_be_funded(approved, loans, borrowers, regulator, lender, borrower):
    borrowers.ban(borrower, 4, {"from": regulator})
    with brownie.reverts(err("LoanNotFundable", approved, R_INELIGIBLE)):
        loans.fund(approved, {"from": lender})


# ------------------------------------------------------------------ delinquency is visible


@pytest.fixture
def funded(approved, loans, lender):
    loans.fund(approved, {"from": lender})
    return approved


def _past_first_due_date(loans, loan_id):
    chain.sleep(loans.dueDate(loan_id, 1) - now() + 1)
    chain.mine()


def test_a_borrower_past_due_but_not_marked_cannot_borrow_again(funded, loans, oracle, borrower):
    _past_first_due_date(loans, funded)
    assert not loans.isDefaultable(funded)  # within grace: not yet defaultable, but past due
    assert loans.isDelinquent(borrower)
    new_id = _request(loans, borrower)
    oracle.fresh_score(borrower, borrower)
    with brownie.reverts(err("LoanNotDecidable", new_id, R_DELINQUENT)):
        loans.approve(new_id, {"from": borrower})
    loans.repay(funded, total_due(P, APR, TERM) // N, {"from": borrower})
    assert not loans.isDelinquent(borrower)
    assert loans.approve(new_id, {"from": borrower}).return_value is True


def test_an_approved_loan_is_not_funded_while_another_is_past_due(funded, loans, oracle, borrower, lender2):
    chain.sleep(loans.dueDate(funded, 1) - now() - DAY)  # approve the second loan a day before it
    chain.mine()
    second = _request(loans, borrower)
    oracle.fresh_score(borrower, borrower)
    loans.approve(second, {"from": borrower})
    _past_first_due_date(loans, funded)
    with brownie.reverts(err("LoanNotFundable", second, R_DELINQUENT)):
        loans.fund(second, {"from": lender2})


def test_defaulted_debt_keeps_blocking_after_the_cool_off_until_written_off(funded, loans, oracle, borrower, lender,
                                                                             compliance, regulator):
    chain.sleep(TERM + loans.gracePeriodSeconds() + 1)
    chain.mine()
    loans.markDefault(funded, {"from": lender})
    chain.sleep(DEFAULT_RULES["coolOffSeconds"] + 1)
    chain.mine()
    new_id = _request(loans, borrower)
    oracle.fresh_score(borrower, borrower)
    with brownie.reverts(err("LoanNotDecidable", new_id, R_DELINQUENT)):
        loans.approve(new_id, {"from": borrower})
    loans.writeOff(funded, {"from": lender})
    assert not loans.isDelinquent(borrower)
    assert loans.approve(new_id, {"from": borrower}).return_value is True


def test_recovering_defaulted_debt_in_full_lifts_the_block(funded, loans, borrower, lender):
    chain.sleep(TERM + loans.gracePeriodSeconds() + 1)
    chain.mine()
    loans.markDefault(funded, {"from": lender})
    tx = loans.recover(funded, 2**96, {"from": borrower})
    assert tx.events["LoanFullyRecovered"] == {"loanId": funded, "borrower": borrower}
    assert not loans.isDelinquent(borrower)
    loans.writeOff(funded, {"from": lender})  # nothing left unresolved to count twice
    assert not loans.isDelinquent(borrower)


# ------------------------------------------------------------------ servicing


def test_a_one_unit_front_run_cannot_make_the_final_repayment_revert(funded, loans, token, borrower, grifter,
                                                                     admin):
    due = total_due(P, APR, TERM)
    token.mint(grifter, 1, {"from": admin})
    token.approve(loans, 1, {"from": grifter})
    loans.repay(funded, 1, {"from": grifter})
    before = token.balanceOf(borrower)
    tx = loans.repay(funded, due, {"from": borrower})
    assert tx.events["LoanRepaid"]["amount"] == due - 1
    assert token.balanceOf(borrower) == before - (due - 1)
    assert loans.getLoan(funded)["state"] == REPAID


def test_a_blacklisted_lender_cannot_block_repayment_and_claims_elsewhere(funded, loans, token, borrower, lender,
                                                                          admin, lender2):
    due = total_due(P, APR, TERM)
    token.setBlacklisted(lender, True, {"from": admin})
    loans.repay(funded, due, {"from": borrower})  # reverted when payments went straight to the lender
    assert loans.getLoan(funded)["state"] == REPAID
    with brownie.reverts(err("TestStablecoinBlacklisted", lender)):
        loans.claim(lender, {"from": lender})
    before = token.balanceOf(lender2)
    loans.claim(lender2, {"from": lender})
    assert token.balanceOf(lender2) == before + due and loans.claimable(lender) == 0


def test_a_lender_position_moves_in_two_steps(funded, loans, lender, lender2, borrower, grifter):
    due = total_due(P, APR, TERM)
    loans.repay(funded, due // N, {"from": borrower})
    with brownie.reverts(err("LoanNotLender", funded, grifter)):
        loans.transferPosition(funded, grifter, {"from": grifter})
    with brownie.reverts(err("LoanSelfFunding", funded)):
        loans.transferPosition(funded, borrower, {"from": lender})
    tx = loans.transferPosition(funded, lender2, {"from": lender})
    assert tx.events["LoanPositionTransferStarted"] == {"loanId": funded, "lender": lender, "newLender": lender2}
    assert loans.pendingLender(funded) == lender2
    with brownie.reverts(err("LoanNotPendingLender", funded, grifter)):
        loans.acceptPosition(funded, {"from": grifter})
    tx = loans.acceptPosition(funded, {"from": lender2})
    assert tx.events["LoanPositionTransferred"] == {"loanId": funded, "previousLender": lender,
                                                    "newLender": lender2}
    loans.repay(funded, due - due // N, {"from": borrower})
    assert loans.claimable(lender) == due // N and loans.claimable(lender2) == due - due // N


# ------------------------------------------------------------------ rule-set bounds


@pytest.mark.parametrize("field,value,error", [
    ("maxActiveLoans", 0, ("ComplianceInvalidMaxActiveLoans", 0, 16)),
    ("maxActiveLoans", 17, ("ComplianceInvalidMaxActiveLoans", 17, 16)),
    ("maxScoreAgeSeconds", 0, ("ComplianceZeroDuration", "maxScoreAgeSeconds")),
    ("requestTtlSeconds", 0, ("ComplianceZeroDuration", "requestTtlSeconds")),
    ("fundingWindowSeconds", 0, ("ComplianceZeroDuration", "fundingWindowSeconds")),
    ("maxAprBps", 10_001, ("ComplianceInvalidBps", 10_001)),
])
def test_rule_set_bounds_are_enforced(ready, compliance, regulator, field, value, error):
    from scripts.scorechain_testkit import rules_tuple

    rules = dict(DEFAULT_RULES, **{field: value})
    version = compliance.version()
    with brownie.reverts(err(*error)):
        compliance.setRuleSet(rules_tuple(rules), {"from": regulator})
    assert compliance.version() == version


def test_compliance_refuses_a_score_registry_wired_to_another_model_registry(system, admin):
    from brownie import ComplianceRules, CreditScoreRegistry, ModelRegistry

    other_models = ModelRegistry.deploy(admin, {"from": admin})
    other_scores = CreditScoreRegistry.deploy(admin, other_models, [admin.address], 1, {"from": admin})
    with brownie.reverts(err("ComplianceRegistryMismatch", system.model_registry, other_models)):
        ComplianceRules.deploy(admin, system.borrower_registry, other_scores, system.model_registry,
                               {"from": admin})


def test_only_the_loan_manager_advances_a_borrowers_nonce(ready, scores, borrower):
    with brownie.reverts(role_err(borrower, scores.SCORE_REQUESTER_ROLE())):
        scores.advanceNonce(borrower, {"from": borrower})



def test_a_replaced_offer_cannot_be_accepted_and_claims_need_a_destination(funded, loans, lender, lender2, grifter,
                                                                            borrower):
    """A lender who changes their mind: the first offeree can no longer take the position; and a
    claim to the zero address (tokens burnt on some ERC-20s) is refused."""
    loans.transferPosition(funded, lender2, {"from": lender})
    loans.transferPosition(funded, grifter, {"from": lender})
    with brownie.reverts(err("LoanNotPendingLender", funded, lender2)):
        loans.acceptPosition(funded, {"from": lender2})
    loans.repay(funded, 10**6, {"from": borrower})
    with brownie.reverts(err("LoanZeroAddress")):
        loans.claim(brownie.ZERO_ADDRESS, {"from": lender})
    assert loans.claimable(lender) == 10**6
