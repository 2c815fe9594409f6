"""The explorer over a deployment with loans in several states: every page renders, and what it
shows (states, amounts, PDs, reason texts, models, rules, signers, batches) is what the chain holds."""

import json
import re

import pytest
from brownie import accounts, chain, web3

from models.schema import load_schema, schema_hash
from oracle.explorer.app import create_app
from oracle.explorer.view import ChainView
from scripts.scorechain_deploy import deploy_system
from scripts.scorechain_testkit import DEFAULT_RULES, GB, MODEL_ID, Account, Oracle, enrol, rules_tuple, total_due
from tests.oracle.unit.asgi import request

P, APR, TERM = 1_000 * 10**6, 1_200, 90 * 86400
REASONS = (3 << 24) | (52 << 16)  # two codes of the GMSC table: one "too high", one "too low"


@pytest.fixture(scope="module")
def deployment():
    admin, borrower, other, lender = accounts[0], accounts[5], accounts[6], accounts[7]
    keys = [Account.create() for _ in range(3)]
    system = deploy_system(admin, oracle_signers=[k.address for k in keys], threshold=2,
                           roles={"model_approver": accounts[1]})
    mr, reg = system.model_registry, system.score_registry
    mr.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + schema_hash(load_schema("gmsc")),
                "ipfs://model", 1, {"from": admin})
    mr.approve(MODEL_ID, {"from": accounts[1]})
    system.compliance.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": admin})
    system.compliance.setJurisdictionAllowed(GB, True, {"from": admin})
    for i, b in enumerate((borrower, other)):
        enrol(system.borrower_registry, admin, b, "0x" + f"{i + 7:064x}", GB, chain.time() + 10**7)
    for who in (borrower, lender):
        system.token.mint(who, 10**12, {"from": admin})
        system.token.approve(system.loan_manager, 2**256 - 1, {"from": who})
    oracle = Oracle(registry=reg, chain_id=chain.id, keys=keys)
    lm = system.loan_manager
    repaid = lm.request(P, APR, TERM, 1, {"from": borrower}).return_value
    oracle.fresh_score(borrower, admin, pd_bps=420, score=640)
    lm.approve(repaid, {"from": borrower})
    lm.fund(repaid, {"from": lender})
    lm.repay(repaid, total_due(P, APR, TERM), {"from": borrower})
    rejected = lm.request(P, APR, TERM, 1, {"from": other}).return_value
    t = chain[-1].timestamp
    att = oracle.attestation(other, pd_bps=3_100, score=410, issued_at=t, reason_codes=REASONS)
    oracle.submit(att, admin)
    lm.approve(rejected, {"from": other})
    system.data_anchor.anchor("0x" + "77" * 32, "ipfs://batch-1", 12, {"from": admin})
    view = ChainView(web3, lm.address, data_anchor=system.data_anchor.address)
    return {"system": system, "app": create_app(view), "repaid": repaid, "rejected": rejected,
            "borrower": borrower, "other": other, "keys": keys}


def get(d, path):
    status, body = request(d["app"], "GET", path)
    assert status == 200, (path, status, body[:300])
    return body.decode()


def get_json(d, path):
    return json.loads(get(d, path))


def test_every_page_renders(deployment):
    for path in ("/", "/loans", f"/loans/{deployment['repaid']}", "/scores", "/models", "/rules", "/anchors",
                 "/verify", "/charts", "/static/explorer.css"):
        get(deployment, path)
    status, _ = request(deployment["app"], "GET", "/loans/999")
    assert status == 404
    assert request(deployment["app"], "GET", "/api/scores?borrower=0x12")[0] == 422
    # no model bundle given: the verify action says it is off and checks nothing
    assert 'id="verify-off"' in get(deployment, "/verify")
    assert request(deployment["app"], "POST", "/api/verify", b"{}")[0] == 503


def test_loans_show_the_states_amounts_and_history_on_chain(deployment):
    lm = deployment["system"].loan_manager
    loans = {x["id"]: x for x in get_json(deployment, "/api/loans")}
    assert set(loans) == {deployment["repaid"], deployment["rejected"]} and lm.loanCount() == 2
    for loan_id, shown in loans.items():
        onchain = lm.getLoan(loan_id)
        assert (shown["state"], shown["principal"], shown["repaid"], shown["pdBps"]) == (
            onchain["state"], onchain["principal"], onchain["repaid"], onchain["pdBps"])
    assert loans[deployment["repaid"]]["state_name"] == "Repaid"
    assert loans[deployment["rejected"]]["reject_reason"] == "PdTooHigh"
    assert loans[deployment["rejected"]]["reject_text"] == "Estimated risk of default too high"  # the notice's text
    page = get(deployment, f"/loans/{deployment['repaid']}")
    assert '<span id="state">Repaid</span>' in page and "4.20 %" in page
    events = [h["event"] for h in get_json(deployment, f"/api/loans/{deployment['repaid']}")["history"]]
    assert events == ["ScoreRequested", "LoanApproved", "LoanFunded", "LoanRepaid", "LoanFullyRepaid"]


def test_scores_show_pd_band_and_reason_texts_of_the_models_schema(deployment):
    from models.reasons import texts

    scores = get_json(deployment, f"/api/scores?borrower={deployment['other'].address}")
    assert len(scores) == 1
    s = scores[0]
    rec = deployment["system"].score_registry.latestScore(deployment["other"])
    assert (s["pd_bps"], s["score"], s["nonce"]) == (rec["pdBps"], rec["score"], rec["nonce"]) == (3_100, 410, 1)
    assert s["band"] == 1  # 410 is in the lowest band (300) of DEFAULT_RULES
    table = texts("gmsc")
    assert s["reasons"] == [table[3], table[52]]
    page = get(deployment, "/scores")
    assert table[3] in page and "31.00 %" in page


def test_models_rules_signers_and_batches_match_the_chain(deployment):
    sysm = deployment["system"]
    (m,) = get_json(deployment, "/api/models")
    assert m["model_id"] == MODEL_ID and m["status"] == "Approved"
    rules = get_json(deployment, "/api/rules")
    assert rules["version"] == sysm.compliance.version() == 2
    assert list(rules["rules"]["bandMinScores"]) == DEFAULT_RULES["bandMinScores"]
    assert [h["change"] for h in rules["history"]] == ["rule set", "jurisdiction GB allowed"]
    signers = get_json(deployment, "/api/signers")
    assert signers["threshold"] == 2 and signers["signers"] == [k.address for k in deployment["keys"]]
    (batch,) = get_json(deployment, "/api/anchors")
    assert batch["root"] == "0x" + "77" * 32 and batch["records"] == 12
    summary = get_json(deployment, "/api/summary")
    assert summary["loans"] == 2 and summary["models"] == 1
    assert re.search(r'<td id="loan-count">2</td>', get(deployment, "/"))


def test_charts_count_scores_by_band_pd_against_outcome_and_gas_per_step(deployment):
    c = get_json(deployment, "/api/charts")
    bands = {b["band"]: b["count"] for b in c["scores_by_band"]}
    scores = get_json(deployment, "/api/scores")
    assert sum(bands.values()) == len(scores) == 2
    assert bands[1] == 1 and bands[2] == 1  # scores 410 and 640 under bands 300 / 600 / 750
    (known,) = [b for b in c["pd_vs_outcome"] if b["loans"]]  # the repaid loan, decided at 4.20 %
    assert (known["from_bps"], known["to_bps"], known["repaid"], known["defaulted"]) == (200, 500, 1, 0)
    assert known["mean_pd"] == 0.042 and known["default_rate"] == 0
    lm = deployment["system"].loan_manager
    history = get_json(deployment, f"/api/loans/{deployment['repaid']}")["history"]
    fund_tx = next(h["tx"] for h in history if h["event"] == "LoanFunded")
    steps = {g["step"]: g for g in c["gas_by_step"]}
    assert steps["fund"]["median_gas"] == web3.eth.get_transaction_receipt(fund_tx)["gasUsed"]
    assert steps["request"]["transactions"] == lm.loanCount() == 2
    page = get(deployment, "/charts")
    assert 'id="scores-by-band"' in page and "band 2" in page and f"{steps['fund']['median_gas']:,}" in page
