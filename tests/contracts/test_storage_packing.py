"""The packed storage behind the lifecycle's gas figures (reports/gas.md), attacked at its edges:
a person's funded loans threaded through the loans themselves (removal from the head, the middle
and the tail; delinquency found deep in the list), the narrowed request fields, the rule set's
fixed band arrays (a shorter set after a longer one), the claimable balance kept one above zero
after a claim, and the deciding model kept as its registry index."""

import brownie
import pytest
from brownie import chain

from scripts.scorechain_testkit import DAY, DEFAULT_RULES, MODEL_ID, err, rules_tuple, total_due

P = 500 * 10**6  # inside the lowest band's cap, so several loans of one person pass
APR = 1_200
TERM = 30 * DAY
FUNDED, REPAID, DEFAULTED = 5, 6, 7
R_DELINQUENT = 17
R_PRINCIPAL_TOO_HIGH = 15
MANY_LOANS = dict(DEFAULT_RULES, maxActiveLoans=5)


@pytest.fixture
def market(ready, compliance, regulator):
    compliance.setRuleSet(rules_tuple(MANY_LOANS), {"from": regulator})
    return ready


def open_loan(loans, oracle, borrower, lender, term=TERM):
    loan_id = loans.request(P, APR, term, 1, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    assert loans.approve(loan_id, {"from": borrower}).return_value
    loans.fund(loan_id, {"from": lender})
    return loan_id


def pay_off(loans, loan_id, borrower):
    loans.repay(loan_id, loans.amountOwed(loan_id), {"from": borrower})
    assert loans.getLoan(loan_id)["state"] == REPAID


def test_funded_loans_leave_the_list_from_the_middle_head_and_tail(market, loans, oracle, borrower, lender):
    # Funding pushes at the head: the list runs c -> b -> a. Each removal must keep the others
    # reachable, or a past-due loan behind a removed one would go unseen.
    a, b, c = (open_loan(loans, oracle, borrower, lender, term=TERM + i * DAY) for i in range(3))
    pay_off(loans, b, borrower)  # the middle
    chain.sleep(TERM + DAY // 2)  # a is past its due date; c is not yet
    chain.mine()
    assert loans.isDelinquent(borrower)
    pay_off(loans, a, borrower)  # the tail, the one past due
    assert not loans.isDelinquent(borrower)
    chain.sleep(2 * DAY)  # c is past due now: it is still in the list
    chain.mine()
    assert loans.isDelinquent(borrower)
    pay_off(loans, c, borrower)  # the head, and the last
    assert not loans.isDelinquent(borrower)
    assert loans.activeLoanCount(borrower) == 0


def test_a_past_due_loan_deep_in_the_list_blocks_the_next_funding(market, loans, oracle, borrower, lender):
    oldest = open_loan(loans, oracle, borrower, lender, term=10 * DAY)
    open_loan(loans, oracle, borrower, lender, term=60 * DAY)
    open_loan(loans, oracle, borrower, lender, term=60 * DAY)
    pending = loans.request(P, APR, TERM, 1, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower)
    assert loans.approve(pending, {"from": borrower}).return_value
    chain.sleep(11 * DAY)  # the oldest (at the tail) is past due; the two after it are not
    chain.mine()
    with brownie.reverts(err("LoanNotFundable", pending, R_DELINQUENT)):
        loans.fund(pending, {"from": lender})
    pay_off(loans, oldest, borrower)
    loans.fund(pending, {"from": lender})
    assert loans.getLoan(pending)["state"] == FUNDED


def test_a_default_unlinks_its_loan_and_the_others_stay_walked(market, loans, oracle, borrower, lender):
    first = open_loan(loans, oracle, borrower, lender, term=10 * DAY)
    second = open_loan(loans, oracle, borrower, lender, term=90 * DAY)
    chain.sleep(10 * DAY + loans.gracePeriodSeconds() + 1)
    chain.mine()
    loans.markDefault(first, {"from": lender})
    assert loans.getLoan(first)["state"] == DEFAULTED
    loans.writeOff(first, {"from": lender})  # the default no longer blocks; only the list can
    assert not loans.isDelinquent(borrower)
    chain.sleep(80 * DAY)  # the second is past due: found although the first left the list
    chain.mine()
    assert loans.isDelinquent(borrower)
    pay_off(loans, second, borrower)
    assert not loans.isDelinquent(borrower)


def test_a_term_beyond_32_bits_is_refused_at_request(ready, loans, borrower):
    with brownie.reverts(err("LoanInvalidTerm", 2**32, 1)):
        loans.request(P, APR, 2**32, 1, {"from": borrower})
    loan_id = loans.request(P, APR, 2**32 - 1, 1, {"from": borrower}).return_value
    assert loans.getLoan(loan_id)["termSeconds"] == 2**32 - 1


def test_bands_are_capped_and_a_shorter_set_forgets_the_longer_ones(ready, compliance, regulator, loans, oracle,
                                                                   borrower):
    bands = 16
    wide = dict(DEFAULT_RULES, bandMinScores=[300 + 10 * i for i in range(bands + 1)],
                bandMaxPrincipal=[10**6 * (i + 1) for i in range(bands + 1)])
    with brownie.reverts(err("ComplianceTooManyBands", bands + 1, bands)):
        compliance.setRuleSet(rules_tuple(wide), {"from": regulator})
    wide = dict(wide, bandMinScores=wide["bandMinScores"][:bands], bandMaxPrincipal=wide["bandMaxPrincipal"][:bands])
    compliance.setRuleSet(rules_tuple(wide), {"from": regulator})
    assert list(compliance.ruleSet()["bandMinScores"]) == wide["bandMinScores"]
    # One band after sixteen: the stale upper bands must not lift the cap of a 700 score.
    narrow = dict(DEFAULT_RULES, bandMinScores=[300], bandMaxPrincipal=[100 * 10**6])
    compliance.setRuleSet(rules_tuple(narrow), {"from": regulator})
    rules = compliance.ruleSet()
    assert list(rules["bandMinScores"]) == [300] and list(rules["bandMaxPrincipal"]) == [100 * 10**6]
    loan_id = loans.request(P, APR, TERM, 1, {"from": borrower}).return_value
    oracle.fresh_score(borrower, borrower, score=700)
    assert not loans.approve(loan_id, {"from": borrower}).return_value
    assert loans.getLoan(loan_id)["rejectReason"] == R_PRINCIPAL_TOO_HIGH


def test_a_claim_leaves_nothing_claimable_and_the_next_payment_accrues_exactly(market, loans, oracle, borrower,
                                                                              lender, token):
    first = open_loan(loans, oracle, borrower, lender)
    pay_off(loans, first, borrower)
    due = total_due(P, APR, TERM)
    assert loans.claimable(lender) == due and loans.totalClaimable() == due
    loans.claim(lender, {"from": lender})
    assert loans.claimable(lender) == 0 and loans.totalClaimable() == 0
    with brownie.reverts(err("LoanNothingToClaim", lender)):
        loans.claim(lender, {"from": lender})
    second = open_loan(loans, oracle, borrower, lender)
    loans.repay(second, 7, {"from": borrower})
    assert loans.claimable(lender) == 7 and loans.totalClaimable() == 7
    before = token.balanceOf(lender)
    assert loans.claim(lender, {"from": lender}).return_value == 7
    assert token.balanceOf(lender) - before == 7


def test_the_deciding_model_reads_back_by_id_after_approval_and_revocation(market, loans, oracle, borrower, lender,
                                                                          models, approver):
    loan_id = open_loan(loans, oracle, borrower, lender)
    assert loans.getLoan(loan_id)["modelId"] == MODEL_ID
    models.revoke(MODEL_ID, 1, {"from": approver})
    assert loans.getLoan(loan_id)["modelId"] == MODEL_ID
    assert loans.getLoan(loans.request(P, APR, TERM, 1, {"from": borrower}).return_value)["modelId"] == "0x" + "00" * 32
