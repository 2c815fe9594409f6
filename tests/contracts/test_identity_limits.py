"""Limits belong to a person, not an address (issue 11): attacks by one KYC'd person holding several
addresses, each written as the attacker would try it. The table in reports/security.md §10 lists
what the previous contracts did with each (every address was its own borrower: its own book, its
own status, enrolled by the KYC provider alone; any commitment could be registered again).

`borrower` (accounts[5]) is person A; `second` is another address the attacker controls. Where the
attack needs `second` to be A's, the KYC provider links it and it consents (the honest path an
attacker would ask for: "I have a new wallet"); every limit must then follow A across both."""

import brownie
import pytest
from brownie import accounts, chain

from scripts.scorechain_testkit import DAY, DEFAULT_RULES, GB, err, link, role_err, total_due

P = 1_000 * 10**6
APR = 1_200
TERM = 90 * DAY
N = 3
REQUESTED, APPROVED, FUNDED, REPAID, DEFAULTED = 1, 2, 5, 6, 7
R_INELIGIBLE, R_ACTIVE, R_COOL_OFF, R_DELINQUENT = 2, 7, 8, 17
IDENTITY_A = "0x" + f"{1:064x}"  # the `ready` fixture's commitment of `borrower`
IDENTITY_B = "0x" + f"{2:064x}"  # ... and of `borrower2`
ZERO32 = "0x" + "00" * 32


def now():
    return chain[-1].timestamp


@pytest.fixture(scope="module")
def second(ready, admin, token, loans):
    """A fresh address of the attacker, with gas, tokens and an allowance to the LoanManager."""
    acct = accounts.add("0x" + "a7" * 32)
    admin.transfer(acct, "10 ether")
    token.mint(acct, 10_000_000 * 10**6, {"from": admin})
    token.approve(loans, 2**256 - 1, {"from": acct})
    return acct


@pytest.fixture
def linked(second, borrowers, kyc):
    """`second` linked to person A by the KYC provider, and consented."""
    link(borrowers, kyc, IDENTITY_A, second)
    return second


def _request(loans, who, principal=P):
    return loans.request(principal, APR, TERM, N, {"from": who}).return_value


def _approved(loans, oracle, who, principal=P):
    loan_id = _request(loans, who, principal)
    oracle.fresh_score(who, who)
    assert loans.approve(loan_id, {"from": who}).return_value is True
    return loan_id


def _sleep_to(t):
    chain.sleep(t - now())
    chain.mine()


# ------------------------------------------------------------------ one person, one set of limits


def test_sybil_addresses_do_not_multiply_max_active_loans(ready, linked, loans, oracle, borrower):
    """maxActiveLoans = 2: fill both slots from one address, then borrow from the second."""
    assert DEFAULT_RULES["maxActiveLoans"] == 2
    _approved(loans, oracle, borrower)
    _approved(loans, oracle, borrower)
    assert loans.activeLoanCount(linked) == 2  # the person's count, read through either address
    third = _request(loans, linked)
    oracle.fresh_score(linked, linked)
    with brownie.reverts(err("LoanNotDecidable", third, R_ACTIVE)):
        loans.approve(third, {"from": linked})
    assert loans.getLoan(third)["state"] == REQUESTED


def test_a_banned_person_cannot_borrow_from_a_second_address(ready, linked, loans, oracle, borrowers, regulator,
                                                             lender, borrower):
    waiting = _approved(loans, oracle, linked)  # approved on the second address before the ban
    borrowers.ban(borrower, 5, {"from": regulator})  # the regulator names the address it saw
    assert not borrowers.isEligible(linked)
    with brownie.reverts(err("LoanBorrowerIneligible", linked)):
        loans.request(P, APR, TERM, N, {"from": linked})
    with brownie.reverts(err("LoanNotFundable", waiting, R_INELIGIBLE)):
        loans.fund(waiting, {"from": lender})
    borrowers.reinstate(linked, {"from": regulator})  # and reinstating through either lifts it for both
    assert borrowers.isEligible(borrower) and borrowers.isEligible(linked)


def test_cool_off_follows_the_person_to_a_second_address(ready, linked, loans, oracle, lender, borrower):
    first = _approved(loans, oracle, borrower)
    loans.fund(first, {"from": lender})
    _sleep_to(now() + TERM + loans.gracePeriodSeconds() + 1)
    defaulted_at = loans.markDefault(first, {"from": lender}).timestamp
    loans.recover(first, 2**96, {"from": borrower})  # debt recovered: only the cool-off is left
    assert not loans.isDelinquent(linked)
    assert loans.lastDefaultAt(linked) == defaulted_at
    again = _request(loans, linked)
    oracle.fresh_score(linked, linked)
    with brownie.reverts(err("LoanNotDecidable", again, R_COOL_OFF)):
        loans.approve(again, {"from": linked})
    _sleep_to(defaulted_at + DEFAULT_RULES["coolOffSeconds"])
    oracle.fresh_score(linked, linked)
    assert loans.approve(again, {"from": linked}).return_value is True


def test_delinquent_on_one_address_cannot_borrow_on_another(ready, linked, loans, oracle, lender, lender2,
                                                            borrower):
    first = _approved(loans, oracle, borrower)
    loans.fund(first, {"from": lender})
    _sleep_to(loans.dueDate(first, 1) - DAY)
    waiting = _approved(loans, oracle, linked)  # approved on the second address a day before it
    _sleep_to(loans.dueDate(first, 1) + 1)  # past due on the first address, not yet defaultable
    assert not loans.isDefaultable(first)
    assert loans.isDelinquent(linked)
    with brownie.reverts(err("LoanNotFundable", waiting, R_DELINQUENT)):
        loans.fund(waiting, {"from": lender2})
    loans.cancel(waiting, {"from": linked})
    another = _request(loans, linked)
    oracle.fresh_score(linked, linked)
    with brownie.reverts(err("LoanNotDecidable", another, R_DELINQUENT)):
        loans.approve(another, {"from": linked})
    loans.repay(first, total_due(P, APR, TERM) // N, {"from": borrower})
    assert loans.approve(another, {"from": linked}).return_value is True


def test_a_lender_cannot_fund_their_own_loan_from_a_linked_address(ready, linked, loans, oracle, lender, borrower):
    own = _approved(loans, oracle, borrower)
    with brownie.reverts(err("LoanLenderSameIdentity", own, linked, IDENTITY_A)):
        loans.fund(own, {"from": linked})
    with brownie.reverts(err("LoanSelfFunding", own)):
        loans.fund(own, {"from": borrower})
    loans.fund(own, {"from": lender})
    # Nor buy the lender's position of their own loan through the linked address.
    with brownie.reverts(err("LoanLenderSameIdentity", own, linked, IDENTITY_A)):
        loans.transferPosition(own, linked, {"from": lender})


def test_attack_a_position_offered_before_the_link_cannot_be_accepted_after_it(ready, second, borrowers, kyc, loans,
                                                                              oracle, lender, borrower):
    # The lender offers the position to an address that is nobody yet; the KYC provider then links
    # it to the borrower; accepting now would make the borrower their own lender.
    own = _approved(loans, oracle, borrower)
    loans.fund(own, {"from": lender})
    loans.transferPosition(own, second, {"from": lender})
    link(borrowers, kyc, IDENTITY_A, second)
    with brownie.reverts(err("LoanLenderSameIdentity", own, second, IDENTITY_A)):
        loans.acceptPosition(own, {"from": second})
    assert loans.getLoan(own)["lender"] == lender


def test_attack_an_address_linked_but_not_yet_consented_cannot_fund_its_persons_loan(ready, second, borrowers, kyc,
                                                                                      loans, oracle, borrower):
    own = _approved(loans, oracle, borrower)
    borrowers.linkAddress(IDENTITY_A, second, {"from": kyc})  # pending: the person has not consented yet
    with brownie.reverts(err("LoanLenderSameIdentity", own, second, IDENTITY_A)):
        loans.fund(own, {"from": second})


def test_the_admin_moves_an_identity_to_another_provider_when_its_provider_loses_the_role(
        ready, borrowers, kyc, admin, borrower):
    other = accounts[9]
    with brownie.reverts(err("BorrowerNotAProvider", other)):
        borrowers.reassignProvider(IDENTITY_A, other, {"from": admin})
    borrowers.grantRole(borrowers.KYC_PROVIDER_ROLE(), other, {"from": admin})
    with brownie.reverts(role_err(kyc, borrowers.DEFAULT_ADMIN_ROLE())):  # only the admin
        borrowers.reassignProvider(IDENTITY_A, other, {"from": kyc})
    borrowers.revokeRole(borrowers.KYC_PROVIDER_ROLE(), kyc, {"from": admin})
    tx = borrowers.reassignProvider(IDENTITY_A, other, {"from": admin})
    assert tx.events["BorrowerProviderReassigned"] == {"identity": IDENTITY_A, "previous": kyc, "provider": other}
    borrowers.update(IDENTITY_A, GB, chain.time() + 400 * DAY, {"from": other})  # the renewal goes through again
    assert borrowers.getIdentity(IDENTITY_A)["provider"] == other


def test_an_enrolled_lender_of_another_identity_may_fund(ready, loans, oracle, borrower, borrower2):
    own = _approved(loans, oracle, borrower)
    loans.fund(own, {"from": borrower2})  # person B funds person A: allowed
    assert loans.getLoan(own)["state"] == FUNDED


# ------------------------------------------------------------------ enrolment


def test_registering_a_used_commitment_reverts(ready, second, borrowers, kyc, admin):
    """Ask for the second address to be registered as a new borrower under the same person."""
    with brownie.reverts(err("BorrowerCommitmentInUse", IDENTITY_A, kyc)):
        borrowers.register(second, IDENTITY_A, GB, now() + 30 * DAY, {"from": kyc})
    other_provider = accounts[9]
    borrowers.grantRole(borrowers.KYC_PROVIDER_ROLE(), other_provider, {"from": admin})
    with brownie.reverts(err("BorrowerCommitmentInUse", IDENTITY_A, kyc)):
        borrowers.register(second, IDENTITY_A, GB, now() + 30 * DAY, {"from": other_provider})
    assert borrowers.identityOf(second) == ZERO32


def test_a_kyc_provider_cannot_enrol_an_address_that_never_consented(ready, second, borrowers, kyc, loans,
                                                                      oracle, lender):
    """The provider registers or links an address on its own; without the address's consent it is
    neither eligible nor anyone's: it cannot borrow, and its limits and lender checks are unaffected."""
    borrowers.linkAddress(IDENTITY_A, second, {"from": kyc})
    assert not borrowers.isEligible(second)
    assert borrowers.identityOf(second) == ZERO32
    with brownie.reverts(err("LoanBorrowerIneligible", second)):
        loans.request(P, APR, TERM, N, {"from": second})
    with brownie.reverts(err("BorrowerNotPending", kyc, 0)):
        borrowers.consent(borrowers.consentTerms(), {"from": kyc})  # nobody consents for it
    victim = accounts.add("0x" + "b8" * 32)
    borrowers.register(victim, "0x" + "c9" * 32, GB, now() + 30 * DAY, {"from": kyc})
    assert not borrowers.isEligible(victim)
    assert borrowers.addressesOf("0x" + "c9" * 32) == []


# ------------------------------------------------------------------ unlinking escapes nothing


def test_unlinking_cannot_escape_a_ban(ready, linked, borrowers, kyc, regulator, borrower, loans):
    """Banned: have the provider unlink the second address, then get it registered afresh."""
    borrowers.ban(borrower, 5, {"from": regulator})
    borrowers.unlinkAddress(linked, {"from": kyc})
    assert str(borrowers.identityOf(linked)) == IDENTITY_A
    with brownie.reverts(err("BorrowerAlreadyRegistered", linked)):
        borrowers.register(linked, "0x" + "d1" * 32, GB, now() + 30 * DAY, {"from": kyc})
    with brownie.reverts(err("BorrowerIdentityBanned", IDENTITY_A)):
        borrowers.linkAddress(IDENTITY_A, accounts[9], {"from": kyc})
    borrowers.reinstate(borrower, {"from": regulator})
    assert borrowers.isEligible(borrower)
    assert not borrowers.isEligible(linked)  # retired for good
    with brownie.reverts(err("LoanBorrowerIneligible", linked)):
        loans.request(P, APR, TERM, N, {"from": linked})


def test_unlinking_the_delinquent_address_does_not_clear_the_person(ready, linked, borrowers, kyc, loans, oracle,
                                                                    lender, borrower):
    """Past due on the second address: unlink it and borrow from the first."""
    late = _approved(loans, oracle, linked)
    loans.fund(late, {"from": lender})
    _sleep_to(loans.dueDate(late, 1) + 1)
    borrowers.unlinkAddress(linked, {"from": kyc})
    assert loans.isDelinquent(borrower) and loans.activeLoanCount(borrower) == 1
    fresh = _request(loans, borrower)
    oracle.fresh_score(borrower, borrower)
    with brownie.reverts(err("LoanNotDecidable", fresh, R_DELINQUENT)):
        loans.approve(fresh, {"from": borrower})
    # The retired address's debt still settles into the person's book.
    tx = loans.repay(late, 2**96, {"from": linked})
    assert loans.getLoan(late)["state"] == REPAID and "LoanFullyRepaid" in tx.events
    assert not loans.isDelinquent(borrower) and loans.activeLoanCount(borrower) == 0
    assert loans.approve(fresh, {"from": borrower}).return_value is True


def test_two_people_keep_separate_books(ready, linked, loans, oracle, lender, borrower, borrower2):
    """Control: person B's book is untouched by everything person A does across A's addresses."""
    _approved(loans, oracle, borrower)
    _approved(loans, oracle, linked)
    assert loans.activeLoanCount(borrower2) == 0
    assert _approved(loans, oracle, borrower2)
