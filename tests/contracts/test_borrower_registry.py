"""BorrowerRegistry: identities registered by KYC providers, addresses linked by them and enrolled by
their own consent, status per identity set by regulators, eligibility per address."""

import brownie
from brownie import BorrowerRegistry, accounts, chain

from scripts.scorechain_deploy import consent_terms_hash
from scripts.scorechain_testkit import DAY, GB, US, err, role_err

COMMIT = "0x" + "5a" * 32
OTHER = "0x" + "5b" * 32
ACTIVE, SUSPENDED, BANNED = 1, 2, 3
NONE, PENDING, ENROLLED, UNLINKED = 0, 1, 2, 3
ZERO32 = "0x" + "00" * 32


def now():
    return chain[-1].timestamp


def test_register_records_a_pending_identity_that_is_not_eligible(borrowers, kyc, borrower):
    exp = now() + 30 * DAY
    tx = borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})
    ev = tx.events["BorrowerRegistered"]
    assert (ev["borrower"], str(ev["identity"]), ev["provider"], ev["kycExpiry"]) == (borrower, COMMIT, kyc, exp)
    b = borrowers.getBorrower(borrower)
    assert (b["status"], b["kycExpiry"], b["reasonCode"], b["link"]) == (ACTIVE, exp, 0, PENDING)
    assert borrowers.getIdentity(COMMIT)["provider"] == kyc
    assert not borrowers.isEligible(borrower)
    assert borrowers.eligibility(borrower) == (False, GB)
    assert borrowers.identityOf(borrower) == ZERO32
    assert borrowers.addressesOf(COMMIT) == []


def test_consent_enrols_the_address_with_the_terms_on_record(borrowers, kyc, borrower):
    exp = now() + 30 * DAY
    borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})
    terms = borrowers.consentTerms()
    assert str(terms) == consent_terms_hash()
    tx = borrowers.consent(terms, {"from": borrower})
    ev = tx.events["BorrowerConsented"]
    assert (str(ev["identity"]), ev["borrower"], str(ev["termsHash"])) == (COMMIT, borrower, str(terms))
    link = borrowers.getLink(borrower)
    assert (str(link["identity"]), str(link["consentTermsHash"]), link["consentedAt"], link["status"]) == (
        COMMIT, str(terms), tx.timestamp, ENROLLED)
    assert borrowers.isEligible(borrower)
    assert borrowers.eligibility(borrower) == (True, GB)
    assert str(borrowers.identityOf(borrower)) == COMMIT
    assert borrowers.addressesOf(COMMIT) == [borrower]


def test_consent_needs_a_pending_link_and_the_current_terms(borrowers, kyc, borrower):
    terms = borrowers.consentTerms()
    with brownie.reverts(err("BorrowerNotPending", borrower, NONE)):
        borrowers.consent(terms, {"from": borrower})
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(err("BorrowerConsentTermsMismatch", str(terms), OTHER)):
        borrowers.consent(OTHER, {"from": borrower})
    borrowers.consent(terms, {"from": borrower})
    with brownie.reverts(err("BorrowerNotPending", borrower, ENROLLED)):
        borrowers.consent(terms, {"from": borrower})


def test_new_consent_terms_apply_to_later_consents_only(borrowers, admin, kyc, regulator, borrower, borrower2):
    old = borrowers.consentTerms()
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.consent(old, {"from": borrower})
    with brownie.reverts(role_err(regulator, borrowers.DEFAULT_ADMIN_ROLE())):
        borrowers.setConsentTerms(OTHER, {"from": regulator})
    with brownie.reverts(err("BorrowerZeroTerms")):
        borrowers.setConsentTerms(ZERO32, {"from": admin})
    tx = borrowers.setConsentTerms(OTHER, {"from": admin})
    assert str(tx.events["BorrowerConsentTermsSet"]["termsHash"]) == OTHER
    borrowers.linkAddress(COMMIT, borrower2, {"from": kyc})
    with brownie.reverts(err("BorrowerConsentTermsMismatch", OTHER, str(old))):
        borrowers.consent(old, {"from": borrower2})
    borrowers.consent(OTHER, {"from": borrower2})
    assert str(borrowers.getLink(borrower)["consentTermsHash"]) == str(old)
    assert str(borrowers.getLink(borrower2)["consentTermsHash"]) == OTHER


def test_register_reverts_on_bad_input(borrowers, kyc, borrower):
    exp = now() + DAY
    with brownie.reverts(err("BorrowerZeroAddress")):
        borrowers.register(brownie.ZERO_ADDRESS, COMMIT, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerZeroCommitment", borrower)):
        borrowers.register(borrower, ZERO32, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerInvalidJurisdiction", borrower, b"g1")):
        borrowers.register(borrower, COMMIT, "0x6731", exp, {"from": kyc})
    with brownie.reverts(err("BorrowerKycExpired", borrower, now() - 1)):
        borrowers.register(borrower, COMMIT, GB, now() - 1, {"from": kyc})
    borrowers.register(borrower, COMMIT, GB, exp, {"from": kyc})
    with brownie.reverts(err("BorrowerAlreadyRegistered", borrower)):
        borrowers.register(borrower, OTHER, GB, exp, {"from": kyc})


def test_register_by_non_kyc_provider_reverts(borrowers, regulator, borrower):
    with brownie.reverts(role_err(regulator, borrowers.KYC_PROVIDER_ROLE())):
        borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": regulator})


def test_link_and_unlink_are_the_enrolling_providers_calls(borrowers, admin, kyc, regulator, borrower, borrower2):
    other_kyc = accounts[9]
    borrowers.grantRole(borrowers.KYC_PROVIDER_ROLE(), other_kyc, {"from": admin})
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(role_err(regulator, borrowers.KYC_PROVIDER_ROLE())):
        borrowers.linkAddress(COMMIT, borrower2, {"from": regulator})
    with brownie.reverts(err("BorrowerNotProvider", COMMIT, other_kyc)):
        borrowers.linkAddress(COMMIT, borrower2, {"from": other_kyc})
    with brownie.reverts(err("BorrowerUnknownIdentity", OTHER)):
        borrowers.linkAddress(OTHER, borrower2, {"from": kyc})
    with brownie.reverts(err("BorrowerZeroAddress")):
        borrowers.linkAddress(COMMIT, brownie.ZERO_ADDRESS, {"from": kyc})
    with brownie.reverts(err("BorrowerAlreadyRegistered", borrower)):
        borrowers.linkAddress(COMMIT, borrower, {"from": kyc})
    tx = borrowers.linkAddress(COMMIT, borrower2, {"from": kyc})
    assert tx.events["BorrowerAddressLinked"] == {"identity": COMMIT, "borrower": borrower2, "provider": kyc}
    assert borrowers.getLink(borrower2)["status"] == PENDING
    with brownie.reverts(err("BorrowerNotProvider", COMMIT, other_kyc)):
        borrowers.unlinkAddress(borrower2, {"from": other_kyc})
    with brownie.reverts(err("BorrowerNotRegistered", accounts[8])):
        borrowers.unlinkAddress(accounts[8], {"from": kyc})


def test_unlinking_a_pending_address_frees_it(borrowers, kyc, borrower, borrower2):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.linkAddress(COMMIT, borrower2, {"from": kyc})
    tx = borrowers.unlinkAddress(borrower2, {"from": kyc})
    assert tx.events["BorrowerAddressUnlinked"] == {"identity": COMMIT, "borrower": borrower2, "wasEnrolled": False}
    assert borrowers.getLink(borrower2)["status"] == NONE
    borrowers.register(borrower2, OTHER, GB, now() + DAY, {"from": kyc})  # free again


def test_unlinking_an_enrolled_address_retires_it_for_good(borrowers, kyc, borrower, borrower2):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.consent(borrowers.consentTerms(), {"from": borrower})
    tx = borrowers.unlinkAddress(borrower, {"from": kyc})
    assert tx.events["BorrowerAddressUnlinked"] == {"identity": COMMIT, "borrower": borrower, "wasEnrolled": True}
    assert borrowers.getBorrower(borrower)["link"] == UNLINKED
    assert not borrowers.isEligible(borrower)
    assert str(borrowers.identityOf(borrower)) == COMMIT  # still this person's for accounting
    with brownie.reverts(err("BorrowerNotRegistered", borrower)):
        borrowers.unlinkAddress(borrower, {"from": kyc})
    with brownie.reverts(err("BorrowerAlreadyRegistered", borrower)):
        borrowers.register(borrower, OTHER, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(err("BorrowerAlreadyRegistered", borrower)):
        borrowers.linkAddress(COMMIT, borrower, {"from": kyc})


def test_update_renews_the_identity_for_every_address(borrowers, kyc, borrower, borrower2):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.consent(borrowers.consentTerms(), {"from": borrower})
    borrowers.linkAddress(COMMIT, borrower2, {"from": kyc})
    borrowers.consent(borrowers.consentTerms(), {"from": borrower2})
    exp = now() + 60 * DAY
    tx = borrowers.update(COMMIT, US, exp, {"from": kyc})
    assert tx.events["BorrowerUpdated"] == {"identity": COMMIT, "jurisdiction": US, "kycExpiry": exp}
    for b in (borrower, borrower2):
        assert borrowers.getBorrower(b)["kycExpiry"] == exp
        assert borrowers.eligibility(b) == (True, US)


def test_update_unknown_foreign_or_banned_reverts(borrowers, admin, kyc, regulator, borrower):
    with brownie.reverts(err("BorrowerUnknownIdentity", COMMIT)):
        borrowers.update(COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.grantRole(borrowers.KYC_PROVIDER_ROLE(), accounts[9], {"from": admin})
    with brownie.reverts(err("BorrowerNotProvider", COMMIT, accounts[9])):
        borrowers.update(COMMIT, GB, now() + DAY, {"from": accounts[9]})
    with brownie.reverts(err("BorrowerKycExpired", brownie.ZERO_ADDRESS, now() - 1)):
        borrowers.update(COMMIT, GB, now() - 1, {"from": kyc})
    borrowers.ban(borrower, 7, {"from": regulator})
    with brownie.reverts(err("BorrowerIdentityBanned", COMMIT)):
        borrowers.update(COMMIT, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(err("BorrowerIdentityBanned", COMMIT)):
        borrowers.linkAddress(COMMIT, accounts[8], {"from": kyc})


def test_suspend_ban_reinstate_cycle_emits_and_gates_eligibility(borrowers, kyc, regulator, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.consent(borrowers.consentTerms(), {"from": borrower})
    tx = borrowers.suspend(borrower, 4, {"from": regulator})
    assert tx.events["BorrowerSuspended"] == {"identity": COMMIT, "via": borrower, "reasonCode": 4}
    assert not borrowers.isEligible(borrower)
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, SUSPENDED)):
        borrowers.suspend(borrower, 4, {"from": regulator})
    tx = borrowers.ban(borrower, 9, {"from": regulator})
    assert tx.events["BorrowerBanned"] == {"identity": COMMIT, "via": borrower, "reasonCode": 9}
    assert borrowers.getBorrower(borrower)["reasonCode"] == 9
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, BANNED)):
        borrowers.ban(borrower, 9, {"from": regulator})
    tx = borrowers.reinstate(borrower, {"from": regulator})
    assert tx.events["BorrowerReinstated"] == {"identity": COMMIT, "via": borrower}
    assert borrowers.isEligible(borrower)
    with brownie.reverts(err("BorrowerInvalidStatus", borrower, ACTIVE)):
        borrowers.reinstate(borrower, {"from": regulator})


def test_status_changes_on_unknown_borrower_revert(borrowers, regulator, borrower):
    for fn, args in ((borrowers.suspend, (1,)), (borrowers.ban, (1,)), (borrowers.reinstate, ())):
        with brownie.reverts(err("BorrowerNotRegistered", borrower)):
            fn(borrower, *args, {"from": regulator})


def test_status_changes_by_kyc_provider_revert(borrowers, kyc, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    with brownie.reverts(role_err(kyc, borrowers.REGULATOR_ROLE())):
        borrowers.ban(borrower, 1, {"from": kyc})


def test_kyc_expiry_ends_eligibility(borrowers, kyc, borrower):
    borrowers.register(borrower, COMMIT, GB, now() + DAY, {"from": kyc})
    borrowers.consent(borrowers.consentTerms(), {"from": borrower})
    chain.sleep(DAY + 1)
    chain.mine()
    assert not borrowers.isEligible(borrower)
    assert borrowers.getBorrower(borrower)["status"] == ACTIVE


def test_unknown_borrower_is_not_eligible(borrowers, borrower):
    assert not borrowers.isEligible(borrower)
    assert borrowers.identityOf(borrower) == ZERO32
    assert borrowers.getBorrower(borrower)["status"] == 0


def test_constructor_rejects_zero_admin_and_zero_terms(admin):
    with brownie.reverts(err("AccessControlInvalidDefaultAdmin", brownie.ZERO_ADDRESS)):
        BorrowerRegistry.deploy(brownie.ZERO_ADDRESS, COMMIT, {"from": admin})
    with brownie.reverts(err("BorrowerZeroTerms")):
        BorrowerRegistry.deploy(admin, ZERO32, {"from": admin})
