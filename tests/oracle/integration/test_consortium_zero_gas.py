"""A chain run like a lenders' consortium (QBFT/IBFT among the lenders, as the seeds propose): no
base fee and a zero gas price, so nobody needs ETH. The oracle nodes post with zero fees from
transmitter keys that hold no ETH, and a borrower and a lender who hold no ETH take a loan through
its whole life. Runs on any local chain without a base fee (every anvil network of the suite;
`make test-consortium` runs the contracts and oracle suites on one started with --gas-price 0 too);
README.md (Operating: a consortium chain) says what changes on a real QBFT network."""

import secrets

import pytest
from brownie import accounts, chain, web3

from scripts.oracle_testbed import write_features_csv
from scripts.scorechain_testkit import DEFAULT_RULES, GB, rules_tuple, total_due

ZERO = {"gas_price": 0}


@pytest.fixture
def no_base_fee():
    if web3.eth.get_block("latest").get("baseFeePerGas", 0) != 0:
        pytest.skip("this chain charges a base fee; a consortium chain does not")


def test_a_loan_and_its_score_need_no_ether_on_a_zero_gas_chain(no_base_fee, make_cluster):
    c = make_cluster(n=3, k=2, n_borrowers=0, zero_gas=True)
    sysm = c.system
    borrower, lender = accounts.add(secrets.token_hex(32)), accounts.add(secrets.token_hex(32))
    # rules that approve whatever the random features score: the point here is the fees, not the decision
    lenient = dict(DEFAULT_RULES, maxPdBps=10_000, bandMinScores=[0], bandMaxPrincipal=[10**15])
    sysm.compliance.setRuleSet(rules_tuple(lenient), {"from": c.admin, **ZERO})
    sysm.compliance.setJurisdictionAllowed(GB, True, {"from": c.admin, **ZERO})
    br = sysm.borrower_registry
    br.register(borrower, "0x" + secrets.token_hex(32), GB, chain.time() + 10**7, {"from": c.admin, **ZERO})
    br.consent(br.consentTerms(), {"from": borrower, **ZERO})  # the borrower's own consent, for free
    features = c.workdir / "zero-gas-features.csv"
    write_features_csv(features, c.model.schema, [borrower.address], seed=11)
    c.cluster.import_features(features)
    c.start()
    for who in (borrower, lender):
        sysm.token.mint(who, 10**12, {"from": c.admin, **ZERO})
        sysm.token.approve(sysm.loan_manager, 2**256 - 1, {"from": who, **ZERO})
    lm = sysm.loan_manager
    principal, apr, term = 1_000 * 10**6, 1_200, 90 * 86400
    loan_id = lm.request(principal, apr, term, 1, {"from": borrower, **ZERO}).return_value
    got = c.wait_recorded([borrower], timeout=60)
    assert len(got[borrower.address]) == 1
    assert lm.approve(loan_id, {"from": borrower, **ZERO}).return_value
    lm.fund(loan_id, {"from": lender, **ZERO})
    lm.repay(loan_id, total_due(principal, apr, term), {"from": borrower, **ZERO})
    lm.claim(lender, {"from": lender, **ZERO})
    assert lm.getLoan(loan_id)["state"] == 6  # Repaid
    # nobody held or spent ETH: the borrower, the lender, and the nodes' transmitters
    for who in (borrower.address, lender.address, *c.cluster.transmitters()):
        assert web3.eth.get_balance(who) == 0
    (tx,) = {"0x" + bytes(e.transactionHash).hex() for e in sysm.score_registry.events.get_sequence(
        from_block=c.start_block, event_type="ScoreRecorded") if e.args.borrower == borrower.address}
    receipt = web3.eth.get_transaction_receipt(tx)
    assert receipt["from"] in c.cluster.transmitters() and receipt["effectiveGasPrice"] == 0
