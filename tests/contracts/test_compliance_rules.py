"""ComplianceRules: versioned rule set, jurisdictions, and check() order/edges."""

import brownie
from brownie import accounts, chain

from scripts.scorechain_testkit import DEFAULT_RULES, DAY, FR, GB, US, enrol, err, recorded, role_err, rules_tuple

NO_HISTORY = (0, 0, 0, False)  # activeLoans, lastDefaultAt, minScoreNonce, delinquent


def plain(x):
    """ReturnValue / EventDict values as plain Python (brownie's ReturnValue == tuple is quirky)."""
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return int(x) if not isinstance(x, (str, bytes)) else x


def ck(compliance, *args):
    ok, reason, _ = compliance.check(*args)
    return bool(ok), int(reason)


def test_set_rule_set_bumps_version_and_emits(compliance, regulator):
    tx = compliance.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": regulator})
    ev = tx.events["ComplianceRuleSetUpdated"]
    assert ev["version"] == 1 and compliance.version() == 1
    assert plain(ev["rules"]) == plain(rules_tuple(DEFAULT_RULES))
    assert plain(compliance.ruleSet()) == plain(rules_tuple(DEFAULT_RULES))
    tx = compliance.setJurisdictionAllowed(US, True, {"from": regulator})
    assert tx.events["ComplianceJurisdictionSet"] == {"version": 2, "jurisdiction": US, "allowed": True}
    assert compliance.isJurisdictionAllowed(US) and not compliance.isJurisdictionAllowed(FR)


def test_invalid_rule_sets_revert(compliance, regulator):
    def with_(**kw):
        return rules_tuple(dict(DEFAULT_RULES, **kw))

    with brownie.reverts(err("ComplianceInvalidBps", 10_001)):
        compliance.setRuleSet(with_(maxPdBps=10_001), {"from": regulator})
    with brownie.reverts(err("ComplianceInvalidTermRange", 10, 9)):
        compliance.setRuleSet(with_(minTermSeconds=10, maxTermSeconds=9), {"from": regulator})
    with brownie.reverts(err("ComplianceBandsLengthMismatch", 3, 2)):
        compliance.setRuleSet(with_(bandMaxPrincipal=[1, 2]), {"from": regulator})
    with brownie.reverts(err("ComplianceBandsEmpty")):
        compliance.setRuleSet(with_(bandMinScores=[], bandMaxPrincipal=[]), {"from": regulator})
    with brownie.reverts(err("ComplianceBandsNotAscending", 2)):
        compliance.setRuleSet(with_(bandMinScores=[300, 600, 600]), {"from": regulator})
    with brownie.reverts(role_err(accounts[5], compliance.REGULATOR_ROLE())):
        compliance.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": accounts[5]})
    with brownie.reverts(role_err(accounts[5], compliance.REGULATOR_ROLE())):
        compliance.setJurisdictionAllowed(GB, True, {"from": accounts[5]})


def test_check_without_rules_reports_rules_not_set(compliance, borrower):
    ok, reason, _ = compliance.check(borrower, 1, 1, DAY, NO_HISTORY)
    assert (ok, reason) == (False, 1)


def test_check_passes_and_returns_score(ready, compliance, oracle, borrower):
    tx = oracle.fresh_score(borrower, borrower, score=650, pd_bps=100)
    ok, reason, score = compliance.check(borrower, 10_000 * 10**6, 1_000, 30 * DAY, NO_HISTORY)
    assert (ok, reason) == (True, 0)
    assert score["score"] == 650 and score["issuedAt"] == recorded(tx.events["ScoreRecorded"])["issuedAt"]


def test_band_edges(ready, compliance, oracle, borrower):
    oracle.fresh_score(borrower, borrower, score=600)
    assert ck(compliance, borrower, 10_000 * 10**6, 1_000, 30 * DAY, NO_HISTORY) == (True, 0)
    assert ck(compliance, borrower, 10_000 * 10**6 + 1, 1_000, 30 * DAY, NO_HISTORY) == (False, 15)
    oracle.fresh_score(borrower, borrower, score=599)
    assert ck(compliance, borrower, 1_000 * 10**6, 1_000, 30 * DAY, NO_HISTORY) == (True, 0)
    assert ck(compliance, borrower, 1_000 * 10**6 + 1, 1_000, 30 * DAY, NO_HISTORY) == (False, 15)


def test_history_rules(ready, compliance, oracle, borrower):
    oracle.fresh_score(borrower, borrower)
    args = (borrower, 10**6, 1_000, 30 * DAY)
    assert ck(compliance, *args, (2, 0, 0, False)) == (False, 7)
    t = chain[-1].timestamp
    assert ck(compliance, *args, (0, t, 0, False)) == (False, 8)
    assert ck(compliance, *args, (0, t - DEFAULT_RULES["coolOffSeconds"] - 1, 0, False)) == (True, 0)
    assert ck(compliance, *args, (0, 0, 0, True)) == (False, 17)  # Delinquent


def test_a_score_older_than_the_requests_nonce_does_not_pass(ready, compliance, oracle, scores, borrower):
    oracle.fresh_score(borrower, borrower)
    recorded = scores.latestScore(borrower)["nonce"]
    args = (borrower, 10**6, 1_000, 30 * DAY)
    assert ck(compliance, *args, (0, 0, recorded, False)) == (True, 0)
    assert ck(compliance, *args, (0, 0, recorded + 1, False)) == (False, 16)  # ScoreBeforeRequest


def test_funding_recheck_reports_eligibility_jurisdiction_and_model(ready, compliance, borrowers, models,
                                                                     regulator, approver, borrower):
    from scripts.scorechain_testkit import MODEL_ID

    assert compliance.checkFunding(borrower, MODEL_ID) == 0
    assert compliance.checkFunding(borrower, "0x" + "ab" * 32) == 12  # ModelNotApproved
    compliance.setJurisdictionAllowed(GB, False, {"from": regulator})
    assert compliance.checkFunding(borrower, MODEL_ID) == 3
    borrowers.suspend(borrower, 1, {"from": regulator})
    assert compliance.checkFunding(borrower, MODEL_ID) == 2
    assert compliance.requestTtlSeconds() == DEFAULT_RULES["requestTtlSeconds"]
    assert compliance.fundingWindowSeconds() == DEFAULT_RULES["fundingWindowSeconds"]


def test_ineligible_and_foreign_borrowers(ready, compliance, borrowers, kyc, regulator, borrower):
    assert ck(compliance, accounts[9], 10**6, 1_000, 30 * DAY, NO_HISTORY) == (False, 2)
    enrol(borrowers, kyc, accounts[9], "0x" + "09" * 32, US, chain.time() + 100 * DAY)
    assert ck(compliance, accounts[9], 10**6, 1_000, 30 * DAY, NO_HISTORY) == (False, 3)
