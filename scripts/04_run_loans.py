"""04 — run loans through their lifecycle: request, oracle score, compliance decision, funding,
repayment, and (on local chains, with time travel) default, write-off and recovery.

    brownie run scripts/04_run_loans.py --network development      # prints the loan book

`request` emits ScoreRequested; the oracle nodes score the borrower and post a k-of-n attestation;
`approve` (anyone may call it) then runs the compliance check against that fresh score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from brownie import chain

from oracle.adverse_action import RULE_REASONS

from .network_context import is_local, require_success

DAY = 24 * 3600
USD = 10**6

#: IComplianceRules.Reason names, in enum order (texts for notices: oracle.adverse_action).
REASONS = tuple(r.name for r in RULE_REASONS)
#: ILoanManager.LoanState, in enum order.
STATES = ("None", "Requested", "Approved", "Rejected", "Cancelled", "Funded", "Repaid",
          "Defaulted", "WrittenOff", "Expired")


@dataclass
class LoanRun:
    record: object  # BorrowerRecord
    loan_id: int
    principal: int
    apr_bps: int
    term_seconds: int
    installments: int
    request_block: int
    score_nonce: int  # the nonce the request fixed: only a record with at least this one decides
    gas: dict = field(default_factory=dict)
    score: dict | None = None
    decision: str = ""
    reason: str = ""
    lender: object = None
    outcome: str = ""


def request_loan(loan_manager, record, principal, apr_bps, term_seconds, installments) -> LoanRun:
    tx = require_success(loan_manager.request(principal, apr_bps, term_seconds, installments,
                                  {"from": record.account}))
    event = tx.events["ScoreRequested"]
    run = LoanRun(record, event["loanId"], principal, apr_bps, term_seconds, installments,
                  tx.block_number, tx.events["ScoreNonceAdvanced"]["nonce"])
    run.gas["request"] = tx.gas_used
    return run


def wait_for_scores(score_registry, runs: list[LoanRun], *, timeout_s: float = 120,
                    poll_s: float = 0.5, mine_blocks: bool = False) -> list[LoanRun]:
    """Wait until every run's borrower has a score recorded after its request; returns the late.

    `mine_blocks` mines an empty block per poll so that block-based oracle failover advances on a
    chain that mines only on demand (anvil). Not on Ganache 7.9.2: an `evm_mine` racing a node's
    `eth_sendRawTransaction` under its eager instamine can leave that send hanging."""
    deadline = time.time() + timeout_s
    waiting = list(runs)
    while waiting and time.time() < deadline:
        still = []
        for run in waiting:
            record = score_registry.latestScore(run.record.address)
            if record["issuedAt"] and record["nonce"] >= run.score_nonce:
                run.score = {"modelId": "0x" + bytes(record["modelId"]).hex(),
                             "pdBps": record["pdBps"], "score": record["score"],
                             "reasonCodes": record["reasonCodes"], "issuedAt": record["issuedAt"],
                             "validUntil": record["validUntil"]}
            else:
                still.append(run)
        waiting = still
        if waiting:
            time.sleep(poll_s)
            if mine_blocks and is_local():
                chain.mine()
    return waiting


def decide(loan_manager, run: LoanRun) -> LoanRun:
    """The borrower asks for the decision (approval is the borrower's call, on a score signed after
    the request)."""
    tx = require_success(loan_manager.approve(run.loan_id, {"from": run.record.account}))
    run.gas["approve"] = tx.gas_used
    if "LoanApproved" in tx.events:
        run.decision = "approved"
    else:
        run.decision = "rejected"
        run.reason = REASONS[tx.events["LoanRejected"]["reason"]]
    return run


def fund(token, loan_manager, run: LoanRun, lender) -> LoanRun:
    require_success(token.approve(loan_manager, run.principal, {"from": lender}))
    tx = require_success(loan_manager.fund(run.loan_id, {"from": lender}))
    run.gas["fund"] = tx.gas_used
    run.lender = lender
    return run


def claim(loan_manager, lender) -> int:
    """The lender withdraws the payments accrued to it (payments are pulled, not pushed)."""
    tx = require_success(loan_manager.claim(lender, {"from": lender}))
    return tx.gas_used


def repay_in_full(token, loan_manager, run: LoanRun, interest_float) -> LoanRun:
    """The borrower tops up its balance by the interest (a stand-in for its income) and repays."""
    owed = loan_manager.amountOwed(run.loan_id)
    if loan_manager.lateFeeOwed(run.loan_id):
        # A late fee keeps running until the transaction is mined: offer a little more (the
        # contract takes only what is owed then).
        owed += owed // 10_000 + 1
    shortfall = owed - token.balanceOf(run.record.account)
    if shortfall > 0:
        require_success(token.transfer(run.record.account, shortfall, {"from": interest_float}))
    require_success(token.approve(loan_manager, owed, {"from": run.record.account}))
    tx = require_success(loan_manager.repay(run.loan_id, owed, {"from": run.record.account}))
    run.gas["repay"] = tx.gas_used
    run.outcome = "repaid"
    return run


def default_and_write_off(token, loan_manager, run: LoanRun, *, partial_share: float = 0.25,
                          recovery_share: float = 0.10) -> LoanRun:
    """Pay part of the first installment, miss the rest, default, write off, then recover some."""
    account = run.record.account
    paid = int(loan_manager.amountOwed(run.loan_id) * partial_share / run.installments)
    if paid:
        require_success(token.approve(loan_manager, paid, {"from": account}))
        require_success(loan_manager.repay(run.loan_id, paid, {"from": account}))
    first_due = loan_manager.dueDate(run.loan_id, 1)
    grace = loan_manager.gracePeriodSeconds()
    chain.sleep(max(0, first_due + grace - chain.time() + 60))
    chain.mine()
    # Within the public window only the lender (or a servicer) may default the loan.
    tx = require_success(loan_manager.markDefault(run.loan_id, {"from": run.lender}))
    run.gas["markDefault"] = tx.gas_used
    tx = require_success(loan_manager.writeOff(run.loan_id, {"from": run.lender}))
    run.gas["writeOff"] = tx.gas_used
    recovered = int(run.principal * recovery_share)
    require_success(token.approve(loan_manager, recovered, {"from": account}))
    tx = require_success(loan_manager.recover(run.loan_id, recovered, {"from": account}))
    run.gas["recover"] = tx.gas_used
    run.outcome = "written off"
    return run


def main():
    """The loan book of the active network: every loan with its state, terms and the score its
    decision used. (Driving loans needs borrowers' keys and running oracle nodes: `make demo`
    does it end to end, and scripts/console.py step by step.)"""
    from .network_context import deployed

    lm = deployed().loan_manager
    for loan_id in range(1, lm.loanCount() + 1):
        loan = lm.getLoan(loan_id)
        decision = REASONS[loan["rejectReason"]] if STATES[loan["state"]] == "Rejected" else ""
        print(f"loan {loan_id:>4} {STATES[loan['state']]:<10} {decision:<22} borrower "
              f"{loan['borrower']} principal {loan['principal'] / USD:>12,.2f} APR "
              f"{loan['aprBps'] / 100:5.2f} % repaid {loan['repaid'] / USD:>12,.2f} "
              f"PD {loan['pdBps'] / 100:5.2f} % score {loan['score']}")
    print(f"{lm.loanCount()} loans; outstanding principal "
          f"{lm.totalOutstandingPrincipal() / USD:,.2f}")
