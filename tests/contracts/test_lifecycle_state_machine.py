"""Stateful fuzzing of the whole lending lifecycle against a ghost model kept in Python.

Several borrowers and lenders, time travel, requests answered by the oracle, approvals asked by
the borrower, funding, repayment, default, write-off, recovery, expiry, lender claims, rule
changes, model revocations and borrower bans. Profiles (env SCORECHAIN_FUZZ_PROFILE): "ci"
(default, seeded) runs at least 1,000 transitions and asserts that the request, score, decision,
cancel and expiry edges happened (REQUIRED_EDGES says why not the deeper ones); "full"
runs at least 20,000:

    SCORECHAIN_FUZZ_PROFILE=full brownie test tests/contracts/test_lifecycle_state_machine.py --network anvil-a

Only transitions that happened count (a mined transaction that changed state), per edge; a rule
that finds nothing to do is not a step. The record (settings, rounds, transitions, rule calls,
per-edge counts, transitions per second) goes to build/fuzz/fuzz_steps_<profile>.json; the
committed reports/fuzz_steps_<profile>.json is written only when asked for with
SCORECHAIN_FUZZ_REPORT, as `make fuzz-full` and `make reliability` do.

SCORECHAIN_FUZZ_STEPS=N (for timing the suite against its step budget, see bench/run_all.py) keeps the
profile's hypothesis settings but asks for at least N steps; such a run writes its record to
build/fuzz/fuzz_steps_<profile>_min<N>.json (or SCORECHAIN_FUZZ_REPORT) and never overwrites the
profile's own record. The default profiles are unchanged.
"""

import json
import os
import time
from pathlib import Path

import brownie
import pytest
from brownie import accounts, chain
from brownie.test import state_machine, strategy
from hypothesis import HealthCheck

from scripts.scorechain_testkit import (
    DAY,
    DEFAULT_RULES,
    GB,
    MODEL_ID,
    MODEL_ID_2,
    YEAR_SECONDS,
    enrol,
    fuzz_profile,
    minimum_repaid,
    principal_share,
    rules_tuple,
    total_due,
)

# Hypothesis draws a random number of steps per run (up to stateful_step_count), and many rule calls
# find nothing to do, so only transitions that happened are counted (a mined transaction that
# changed state: a lifecycle edge, a score, a claim, a rule or model change), per edge, and checked
# against min_steps rather than assumed.
PROFILES = {
    "ci": {"max_examples": 20, "stateful_step_count": 50, "min_steps": 1_000},
    "full": {"max_examples": 300, "stateful_step_count": 50, "min_steps": 20_000},
}
# The CI profile is seeded (hypothesis draws each round's seed from one generator), so its runs
# are the same on every machine and its edge-coverage assertion cannot flake.
CI_SEED = 20_261_202
COUNTERS = {"steps": 0, "runs": 0, "rules": {}, "edges": {}}
ROOT = Path(__file__).resolve().parents[2]


def _profile() -> tuple[dict, Path]:
    """The profile's settings (min_steps overridden by SCORECHAIN_FUZZ_STEPS) and the record path."""
    profile = dict(PROFILES.get(fuzz_profile(), PROFILES["ci"]))
    # A test run never rewrites a committed report; `make fuzz-full` / `make reliability` ask for it.
    out = ROOT / "build" / "fuzz" / f"fuzz_steps_{fuzz_profile()}.json"
    steps = os.environ.get("SCORECHAIN_FUZZ_STEPS", "").strip()
    if steps:
        profile["min_steps"] = int(steps)
        out = ROOT / "build" / "fuzz" / f"fuzz_steps_{fuzz_profile()}_min{int(steps)}.json"
    if os.environ.get("SCORECHAIN_FUZZ_REPORT"):
        out = Path(os.environ["SCORECHAIN_FUZZ_REPORT"])
    return profile, out

NONE, REQUESTED, APPROVED, REJECTED, CANCELLED, FUNDED, REPAID, DEFAULTED, WRITTEN_OFF, EXPIRED = range(10)
ALLOWED_EDGES = {
    (REQUESTED, APPROVED), (REQUESTED, REJECTED), (REQUESTED, CANCELLED), (APPROVED, CANCELLED),
    (APPROVED, FUNDED), (FUNDED, REPAID), (FUNDED, DEFAULTED), (DEFAULTED, WRITTEN_OFF),
    (REQUESTED, EXPIRED), (APPROVED, EXPIRED),
}
# RulesNotSet, TooManyActiveLoans, CoolOffActive, NoScore, ScoreExpired, ScoreStale, ModelNotApproved,
# ScoreBeforeRequest, Delinquent: a later event may lift them, so the loan waits.
DEFERRED = {1, 7, 8, 9, 10, 11, 12, 16, 17}
MARGIN = 5  # seconds: skip exact-boundary checks whose outcome depends on the next block's timestamp


def _count(name):
    """A rule was called (whether or not it found something to do)."""
    COUNTERS["rules"][name] = COUNTERS["rules"].get(name, 0) + 1


def _did(edge):
    """A transition happened on chain."""
    COUNTERS["steps"] += 1
    COUNTERS["edges"][edge] = COUNTERS["edges"].get(edge, 0) + 1


STATE_NAMES = ("None", "Requested", "Approved", "Rejected", "Cancelled", "Funded", "Repaid", "Defaulted",
               "WrittenOff", "Expired")
# Edges every profile run must have taken at least once (each was taken 14 to 432 times in a
# 1,001-transition CI run). Deeper ones (funding: 4 times in that run; default, write-off,
# recovery, approval expiry) need long runs with time travel that hypothesis rarely draws within
# the CI budget: they are recorded per edge here, and the Foundry invariant suite
# (tests/foundry/), which makes 128,000 calls per invariant in CI, asserts that each is reached.
REQUIRED_EDGES = {"None->Requested", "score", "Requested->Approved", "Requested->Rejected", "Requested->Cancelled",
                  "Requested->Expired"}


class LendingMachine:
    borrower_i = strategy("uint8", max_value=2)
    lender_i = strategy("uint8", max_value=1)
    loan_pick = strategy("uint16")
    principal = strategy("uint256", min_value=1, max_value=60_000 * 10**6)
    apr = strategy("uint16", max_value=4_000)
    term_days = strategy("uint16", min_value=1, max_value=800)
    installments = strategy("uint8", min_value=1, max_value=12)
    pd = strategy("uint16", max_value=4_000)
    score = strategy("uint16", min_value=200, max_value=900)
    frac = strategy("uint16", min_value=1, max_value=10_000)
    sleep_hours = strategy("uint16", min_value=1, max_value=24 * 60)
    max_pd = strategy("uint16", min_value=500, max_value=4_000)
    max_age_days = strategy("uint8", min_value=1, max_value=30)

    def __init__(cls, system, oracle, actors):
        cls.s = system
        cls.oracle = oracle
        cls.borrowers = actors["borrowers"]
        cls.lenders = actors["lenders"]
        cls.kyc, cls.regulator, cls.registrar, cls.approver, cls.relayer = (
            actors["kyc"], actors["regulator"], actors["registrar"], actors["approver"], actors["relayer"])

    def setup(self):
        COUNTERS["runs"] += 1
        lm = self.s.loan_manager
        self.grace = lm.gracePeriodSeconds()
        self.rules = dict(DEFAULT_RULES)
        self.models = {MODEL_ID: True, MODEL_ID_2: False}  # approved?
        self.current_model = MODEL_ID
        self.status = {b: "active" for b in self.borrowers}
        self.kyc_expiry = {b: self.s.borrower_registry.getBorrower(b)["kycExpiry"] for b in self.borrowers}
        self.score = {b: None for b in self.borrowers}  # (modelId, pd, score, issuedAt, validUntil, nonce)
        self.active = {b: 0 for b in self.borrowers}
        self.last_default = {b: 0 for b in self.borrowers}
        self.unresolved = {b: 0 for b in self.borrowers}  # defaults neither recovered nor written off
        self.loans = {}
        actors = self.borrowers + self.lenders
        self.balances = {a: self.s.token.balanceOf(a) for a in actors}
        self.claimable = {a: lm.claimable(a) for a in self.lenders}
        self.held = self.s.token.balanceOf(lm)
        self.supply = self.s.token.totalSupply()

    # ------------------------------------------------------------------ helpers

    def _pick(self, pick, states):
        ids = sorted(i for i, g in self.loans.items() if g["state"] in states)
        return ids[pick % len(ids)] if ids else None

    def _move(self, loan_id, new_state):
        old = self.loans[loan_id]["state"]
        assert (old, new_state) in ALLOWED_EDGES, f"illegal edge {old}->{new_state}"
        self.loans[loan_id]["state"] = new_state
        _did(f"{STATE_NAMES[old]}->{STATE_NAMES[new_state]}")

    def _eligible(self, b, t):
        return self.status[b] == "active" and self.kyc_expiry[b] > t

    def _delinquent(self, b, t):
        if self.unresolved[b]:
            return True
        return any(g["borrower"] == b and g["state"] == FUNDED
                   and g["repaid"] < minimum_repaid(t, g["funded_at"], g["term"], g["n"], 0, g["due"])
                   for g in self.loans.values())

    def _compliance(self, loan, t):
        """Python twin of ComplianceRules.check (first failing reason), evaluated at time t."""
        r, b = self.rules, loan["borrower"]
        if not self._eligible(b, t):
            return 2
        if loan["term"] < r["minTermSeconds"]:
            return 4
        if loan["term"] > r["maxTermSeconds"]:
            return 5
        if loan["apr"] > r["maxAprBps"]:
            return 6
        if self.active[b] >= r["maxActiveLoans"]:
            return 7
        if self.last_default[b] and t < self.last_default[b] + r["coolOffSeconds"]:
            return 8
        if self._delinquent(b, t):
            return 17
        sc = self.score[b]
        if sc is None:
            return 9
        model, pd, score, issued, valid, nonce = sc
        if nonce < loan["score_nonce"]:
            return 16
        if valid <= t:
            return 10
        if t - issued > r["maxScoreAgeSeconds"]:
            return 11
        if not self.models[model]:
            return 12
        if pd > r["maxPdBps"]:
            return 13
        band = max((i for i, m in enumerate(r["bandMinScores"]) if score >= m), default=None)
        if band is None:
            return 14
        if loan["principal"] > r["bandMaxPrincipal"][band]:
            return 15
        return 0

    def _time_sensitive(self, fn, *args):
        """Evaluate fn at now and now+MARGIN; None if the answer depends on the exact block time."""
        t = chain.time()
        a, b = fn(*args, t), fn(*args, t + MARGIN)
        return a if a == b else None

    def _pay(self, payer, lender, amount):
        """A repayment or recovery: held by the manager as the lender's claimable balance."""
        self.balances[payer] -= amount
        self.claimable[lender] += amount
        self.held += amount

    # ------------------------------------------------------------------ rules

    def rule_request(self, borrower_i, principal, apr, term_days, installments, pd, score):
        """A borrower requests a loan and the oracle answers with a score signed after it."""
        _count("request")
        b = self.borrowers[borrower_i]
        term = term_days * DAY
        ok = self._time_sensitive(lambda t: self._eligible(b, t))
        if ok is None:
            return
        lm = self.s.loan_manager
        if not ok:
            with brownie.reverts(f"LoanBorrowerIneligible: {b.address.lower()}"):
                lm.request(principal, apr, term, installments, {"from": b})
            return
        tx = lm.request(principal, apr, term, installments, {"from": b})
        loan_id = tx.return_value
        assert tx.events["ScoreRequested"]["loanId"] == loan_id
        nonce = tx.events["ScoreNonceAdvanced"]["nonce"]
        _did("None->Requested")
        self.loans[loan_id] = {"borrower": b, "principal": principal, "apr": apr, "term": term, "n": installments,
                               "due": total_due(principal, apr, term), "state": REQUESTED, "repaid": 0,
                               "recovered": 0, "lender": None, "funded_at": 0, "approval_ok": False,
                               "score_nonce": nonce, "requested_at": tx.timestamp, "fund_by": 0,
                               "decided_nonce": None}
        self.rule_score(borrower_i, pd, score)

    def rule_score(self, borrower_i, pd, score):
        _count("score")
        b = self.borrowers[borrower_i]
        if not self.models[self.current_model]:
            return
        tx = self.oracle.fresh_score(b, self.relayer, pd_bps=pd, score=score, valid_for=20 * DAY,
                                     model_id=self.current_model)
        ev = tx.events["ScoreRecorded"]
        self.score[b] = (self.current_model, pd, score, ev["issuedAt"], ev["validUntil"], ev["nonce"])
        _did("score")

    def rule_approve(self, loan_pick):
        _count("approve")
        loan_id = self._pick(loan_pick, {REQUESTED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        expected = self._time_sensitive(lambda t: self._compliance(loan, t))
        lm = self.s.loan_manager
        if expected is None:
            return
        if loan_pick % 4 == 0:  # a third party never decides (checked on a quarter of the calls: reverts are slow)
            with brownie.reverts(f"LoanNotBorrower: {loan_id}, {self.relayer.address.lower()}"):
                lm.approve(loan_id, {"from": self.relayer})
        if expected in DEFERRED:
            with brownie.reverts(f"LoanNotDecidable: {loan_id}, {expected}"):
                lm.approve(loan_id, {"from": loan["borrower"]})
            return
        tx = lm.approve(loan_id, {"from": loan["borrower"]})
        if expected == 0:
            ev = tx.events["LoanApproved"]
            model, pd, score, issued, _, nonce = self.score[loan["borrower"]]
            assert (ev["pdBps"], ev["score"], ev["scoreIssuedAt"]) == (pd, score, issued)
            assert str(ev["modelId"]) == model
            self._move(loan_id, APPROVED)
            loan["approval_ok"] = True  # the ghost's own compliance check passed for this snapshot
            loan["decided_nonce"] = nonce
            loan["model"] = model
            loan["fund_by"] = tx.timestamp + self.rules["fundingWindowSeconds"]
            self.active[loan["borrower"]] += 1
        else:
            assert tx.events["LoanRejected"]["reason"] == expected
            self._move(loan_id, REJECTED)

    def rule_fund(self, loan_pick, lender_i):
        _count("fund")
        loan_id = self._pick(loan_pick, {APPROVED})
        if loan_id is None:
            return
        loan, lender = self.loans[loan_id], self.lenders[lender_i]

        def refusal(t):
            if t > loan["fund_by"]:
                return f"LoanApprovalExpired: {loan_id}, {loan['fund_by']}"
            if not self._eligible(loan["borrower"], t):
                return f"LoanNotFundable: {loan_id}, 2"
            if not self.models[loan["model"]]:
                return f"LoanNotFundable: {loan_id}, 12"
            if self._delinquent(loan["borrower"], t):
                return f"LoanNotFundable: {loan_id}, 17"
            return None

        expected = self._time_sensitive(refusal)
        if expected is None and self._time_sensitive(lambda t: refusal(t) is None) is not True:
            return  # the outcome depends on the exact block time
        lm = self.s.loan_manager
        if expected is not None:
            with brownie.reverts(expected):
                lm.fund(loan_id, {"from": lender})
            return
        if self.balances[lender] < loan["principal"]:
            return
        tx = lm.fund(loan_id, {"from": lender})
        assert loan["approval_ok"], "funded a loan whose approval the ghost did not find compliant"
        assert tx.timestamp <= loan["fund_by"], "funded after the approval's deadline"
        self._move(loan_id, FUNDED)
        loan.update(lender=lender, funded_at=tx.timestamp)
        self.balances[lender] -= loan["principal"]
        self.balances[loan["borrower"]] += loan["principal"]

    def rule_repay(self, loan_pick, frac):
        _count("repay")
        loan_id = self._pick(loan_pick, {FUNDED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        remaining = loan["due"] - loan["repaid"]
        amount = max(1, remaining * frac // 10_000)
        payer = loan["borrower"]
        if self.balances[payer] < amount:
            return
        lm = self.s.loan_manager
        if frac % 7 == 0 and self.balances[payer] >= remaining:  # sometimes overpay: cut to what is owed
            amount = remaining
            tx = lm.repay(loan_id, remaining + 1, {"from": payer})
            assert tx.events["LoanRepaid"]["amount"] == remaining
        else:
            tx = lm.repay(loan_id, amount, {"from": payer})
        loan["repaid"] += amount
        self._pay(payer, loan["lender"], amount)
        if loan["repaid"] == loan["due"]:
            assert "LoanFullyRepaid" in tx.events
            self._move(loan_id, REPAID)
            self.active[payer] -= 1
        else:
            _did("repay (partial)")

    def rule_sleep(self, sleep_hours):
        _count("sleep")
        chain.sleep(sleep_hours * 3600)
        chain.mine()

    def rule_mark_default(self, loan_pick):
        _count("mark_default")
        loan_id = self._pick(loan_pick, {FUNDED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        due = self._time_sensitive(
            lambda t: loan["repaid"] < minimum_repaid(t, loan["funded_at"], loan["term"], loan["n"], self.grace,
                                                      loan["due"]))
        if due is None:
            return
        lm = self.s.loan_manager
        if not due:
            with brownie.reverts(f"LoanNotOverdue: {loan_id}"):
                lm.markDefault(loan_id, {"from": self.relayer})
            return
        tx = lm.markDefault(loan_id, {"from": self.relayer})
        self._move(loan_id, DEFAULTED)
        self.active[loan["borrower"]] -= 1
        self.unresolved[loan["borrower"]] += 1
        self.last_default[loan["borrower"]] = tx.timestamp

    def rule_write_off(self, loan_pick):
        _count("write_off")
        loan_id = self._pick(loan_pick, {DEFAULTED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        who = loan["lender"] if loan_pick % 2 else self.regulator
        self.s.loan_manager.writeOff(loan_id, {"from": who})
        if loan["repaid"] + loan["recovered"] < loan["due"]:
            self.unresolved[loan["borrower"]] -= 1
        self._move(loan_id, WRITTEN_OFF)

    def rule_recover(self, loan_pick, frac):
        _count("recover")
        loan_id = self._pick(loan_pick, {DEFAULTED, WRITTEN_OFF})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        remaining = loan["due"] - loan["repaid"] - loan["recovered"]
        if remaining == 0:
            with brownie.reverts(f"LoanZeroAmount: {loan_id}"):
                self.s.loan_manager.recover(loan_id, 1, {"from": loan["borrower"]})
            return
        amount = max(1, remaining * frac // 10_000)
        if self.balances[loan["borrower"]] < amount:
            return
        tx = self.s.loan_manager.recover(loan_id, amount, {"from": loan["borrower"]})
        loan["recovered"] += amount
        self._pay(loan["borrower"], loan["lender"], amount)
        _did("recover")
        if loan["state"] == DEFAULTED and amount == remaining:
            assert "LoanFullyRecovered" in tx.events
            self.unresolved[loan["borrower"]] -= 1

    def rule_expire(self, loan_pick):
        _count("expire")
        loan_id = self._pick(loan_pick, {REQUESTED, APPROVED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        at = loan["fund_by"] if loan["state"] == APPROVED else loan["requested_at"] + self.rules["requestTtlSeconds"]
        due = self._time_sensitive(lambda t: t > at)
        if due is None:
            return
        lm = self.s.loan_manager
        if not due:
            with brownie.reverts(f"LoanNotExpired: {loan_id}, {at}"):
                lm.expire(loan_id, {"from": self.relayer})
            return
        lm.expire(loan_id, {"from": self.relayer})
        if loan["state"] == APPROVED:
            self.active[loan["borrower"]] -= 1
        self._move(loan_id, EXPIRED)

    def rule_claim(self, lender_i):
        _count("claim")
        lender = self.lenders[lender_i]
        lm = self.s.loan_manager
        amount = self.claimable[lender]
        if amount == 0:
            with brownie.reverts(f"LoanNothingToClaim: {lender.address.lower()}"):
                lm.claim(lender, {"from": lender})
            return
        lm.claim(lender, {"from": lender})
        _did("claim")
        self.claimable[lender] = 0
        self.held -= amount
        self.balances[lender] += amount

    def rule_cancel(self, loan_pick):
        _count("cancel")
        loan_id = self._pick(loan_pick, {REQUESTED, APPROVED})
        if loan_id is None:
            return
        loan = self.loans[loan_id]
        self.s.loan_manager.cancel(loan_id, {"from": loan["borrower"]})
        if loan["state"] == APPROVED:
            self.active[loan["borrower"]] -= 1
        self._move(loan_id, CANCELLED)

    def rule_change_rules(self, max_pd, max_age_days):
        _count("change_rules")
        if max_age_days % 3:  # rule changes are rarer than loans (the rule is drawn as often as any other)
            return
        rules = dict(self.rules, maxPdBps=max_pd, maxScoreAgeSeconds=max_age_days * DAY)
        tx = self.s.compliance.setRuleSet(rules_tuple(rules), {"from": self.regulator})
        assert tx.events["ComplianceRuleSetUpdated"]["version"] == self.s.compliance.version()
        self.rules = rules
        _did("rules changed")

    def rule_revoke_or_rotate_model(self, loan_pick):
        _count("model")
        if loan_pick % 4:  # model changes are rarer than loans
            return
        mr = self.s.model_registry
        if self.current_model == MODEL_ID and self.models[MODEL_ID]:
            mr.revoke(MODEL_ID, 1, {"from": self.approver})
            self.models[MODEL_ID] = False
            _did("model revoked")
        elif self.current_model == MODEL_ID:
            mr.register(MODEL_ID_2, "0x" + "44" * 32, "0x" + "55" * 32, "0x" + "66" * 32, "ipfs://v2", 2,
                        {"from": self.registrar})
            mr.approve(MODEL_ID_2, {"from": self.approver})
            self.models[MODEL_ID_2] = True
            self.current_model = MODEL_ID_2
            _did("model approved")

    def rule_ban_or_reinstate(self, borrower_i, frac):
        _count("ban")
        b = self.borrowers[borrower_i]
        if self.status[b] == "active" and frac % 3:  # bans are rarer than loans
            return
        br = self.s.borrower_registry
        if self.status[b] == "active":
            br.ban(b, 5, {"from": self.regulator})
            self.status[b] = "banned"
            _did("borrower banned")
        else:
            br.reinstate(b, {"from": self.regulator})
            self.status[b] = "active"
            _did("borrower reinstated")

    # ------------------------------------------------------------------ invariants

    def invariant_token_conservation(self):
        t = self.s.token
        assert t.totalSupply() == self.supply
        for a, bal in self.balances.items():
            assert t.balanceOf(a) == bal
        lm = self.s.loan_manager
        # The manager holds exactly the lenders' unclaimed payments.
        assert t.balanceOf(lm) == self.held == lm.totalClaimable()
        for a, amount in self.claimable.items():
            assert lm.claimable(a) == amount

    def invariant_loans_match_ghost(self):
        lm = self.s.loan_manager
        assert lm.loanCount() == len(self.loans)
        total = 0
        for loan_id, g in self.loans.items():
            onchain = lm.getLoan(loan_id)
            assert onchain["state"] == g["state"]
            assert onchain["repaid"] == g["repaid"] and onchain["recovered"] == g["recovered"]
            assert onchain["repaid"] + onchain["recovered"] <= onchain["totalDue"] == g["due"]
            if g["state"] in (FUNDED, DEFAULTED):
                expected = g["principal"] - principal_share(g["repaid"] + g["recovered"], g["principal"], g["due"])
            else:
                expected = 0
            assert lm.outstandingPrincipal(loan_id) == expected
            total += expected
            if g["state"] in (FUNDED, REPAID, DEFAULTED, WRITTEN_OFF):
                assert g["approval_ok"] and onchain["scoreIssuedAt"] > 0
            if g["decided_nonce"] is not None:  # no loan decided on a score signed before its request
                assert g["decided_nonce"] >= g["score_nonce"] == onchain["scoreNonce"]
        assert lm.totalOutstandingPrincipal() == total

    def invariant_active_counts(self):
        lm = self.s.loan_manager
        for b in self.borrowers:
            assert lm.activeLoanCount(b) == self.active[b] <= self.rules["maxActiveLoans"]
            assert lm.lastDefaultAt(b) == self.last_default[b]


@pytest.mark.slow
def test_lending_lifecycle_state_machine(ready, system, oracle, kyc, regulator, registrar, approver, borrowers,
                                         borrower, borrower2, token, admin, loans):
    third = accounts[9]
    enrol(borrowers, kyc, third, "0x" + "03" * 32, GB, chain.time() + 2 * YEAR_SECONDS)
    token.mint(third, 10_000_000 * 10**6, {"from": admin})
    token.approve(loans, 2**256 - 1, {"from": third})
    actors = {"borrowers": [borrower, borrower2, third], "lenders": [accounts[7], accounts[8]], "kyc": kyc,
              "regulator": regulator, "registrar": registrar, "approver": approver, "relayer": accounts[0]}
    profile, out = _profile()
    if fuzz_profile() == "ci":
        # hypothesis 6.27 (brownie's pin) draws an unseeded test's seed from this module-level
        # generator; seeding it fixes every round's seed in turn (each round still differs).
        import random

        import hypothesis.core

        hypothesis.core._hypothesis_global_random = random.Random(CI_SEED)
        settings_extra = {"database": None}
    else:
        settings_extra = {}
    before = COUNTERS["steps"]
    edges_before = dict(COUNTERS["edges"])
    started = time.time()
    settings = {k: v for k, v in profile.items() if k != "min_steps"}
    rounds = 0
    # Repeat hypothesis rounds until the profile's step budget has really been executed.
    while COUNTERS["steps"] - before < profile["min_steps"] and rounds < 200:
        if rounds:
            # state_machine() snapshots the chain as it finds it, and a round ends with its last run's
            # state on chain: go back to the pre-round snapshot so every round starts where the ghost
            # model's setup() does (no loans), as the first round did.
            chain.revert()
        # Sixteen rules drawing several values each: a 30-step run can outgrow hypothesis's buffer.
        # Such draws are discarded and the round loop runs until the step budget is really met, so
        # the size health check only adds flakiness.
        state_machine(LendingMachine, system, oracle, actors,
                      settings=dict(settings, deadline=None, suppress_health_check=[HealthCheck.data_too_large],
                                    **settings_extra))
        rounds += 1
    steps = COUNTERS["steps"] - before
    edges = {e: n - edges_before.get(e, 0) for e, n in sorted(COUNTERS["edges"].items())}
    seconds = round(time.time() - started, 1)
    report = {"profile": fuzz_profile(), "settings": profile, "rounds": rounds, "steps": steps,
              "runs": COUNTERS["runs"], "rules": COUNTERS["rules"], "edges": edges,
              "seconds": seconds, "transitions_per_second": round(steps / seconds, 2) if seconds else None}
    # One file per profile, so a CI run never overwrites the full profile's record.
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"state machine ran {steps} transitions: {edges}")
    assert steps > 0 and steps >= profile["min_steps"], report
    if not os.environ.get("SCORECHAIN_FUZZ_STEPS", "").strip():  # a profile's own budget, not a timing run
        missing = REQUIRED_EDGES - {e for e, n in edges.items() if n}
        assert not missing, f"edges never taken: {sorted(missing)}"
