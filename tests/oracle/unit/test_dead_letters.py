"""Requests that cannot be scored, or whose transaction would revert or reverted, back off and
are finally dead-lettered with their reason; they never take the places of newer requests. A
batch that k signers signed whole goes as one report; a report that would revert falls back to
the entries' own signatures without counting a failure."""

from types import SimpleNamespace

import pytest

from oracle.chain import EstimateReverted
from oracle.daemon import Daemon
from oracle.metrics import Metrics
from oracle.node import Refusal
from oracle.settings import load_settings
from oracle.store import Store

A, B, C = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20


def test_a_failing_request_backs_off_then_is_dead_and_newer_work_goes_first():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02")], [], cursor=6)
    t = 1_000.0
    assert store.defer(A, "no features", backoff_s=10, dead_after=3, now=t) == {
        "deferred": 1, "dead": 0}
    assert [r["borrower"] for r in store.pending_requests(now=t)] == [B]  # A waits
    assert [r["borrower"] for r in store.pending_requests(now=t + 10)] == [A, B]
    store.defer(A, "no features", backoff_s=10, dead_after=3, now=t + 10)
    assert [r["borrower"] for r in store.pending_requests(now=t + 29)] == [B]  # 20 s now
    assert [r["borrower"] for r in store.pending_requests(now=t + 30)] == [A, B]
    assert store.defer(A, "still no features", backoff_s=10, dead_after=3, now=t + 30) == {
        "deferred": 0, "dead": 1}
    assert [r["borrower"] for r in store.pending_requests(now=t + 10**6)] == [B]
    dead = store.dead_letters()
    assert [(d["loan_id"], d["attempts"], d["last_error"]) for d in dead] == [
        (1, 3, "still no features")]
    # a record of the borrower made later (another node had the features) still satisfies it
    store.mark_recorded(A, 9, 0, "0x09", "0xaa")
    assert store.request_status(1) == "recorded" and store.dead_letters() == []


class FakeNode:
    def __init__(self, refusals, report_signed=False):
        self.refusals = refusals
        self.report_signed = report_signed

    def attest_local(self, borrower, now, nonce):
        if borrower in self.refusals:
            raise self.refusals[borrower]
        att = SimpleNamespace(borrower=borrower, nonce=nonce, configDigest=b"\x00" * 32)
        return SimpleNamespace(att=att, ordered=lambda k: [b"sig"])

    def gather(self, batch):
        return batch

    def gather_report(self, batch):
        return batch, ([b"report-sig"] if self.report_signed else None)

    def signer_set(self):
        return [], 1


class FakeSender:
    def __init__(self, bad=(), report_reverts=False):
        self.bad, self.sent, self.reports = set(bad), [], []
        self.report_reverts = report_reverts

    def submit_report(self, config_digest, atts, sigs, loan_ids):
        if self.report_reverts:
            raise EstimateReverted("execution reverted: CreditScoreConfigMismatch")
        self.reports.append(([a.borrower for a in atts], sigs, loan_ids))
        return "0x" + "cd" * 32

    def submit_batch(self, atts, sigs, loan_ids):
        if any(a.borrower in self.bad for a in atts):
            raise EstimateReverted("execution reverted: CreditScoreInvalidNonce")
        self.sent.append([a.borrower for a in atts])
        return "0x" + "ab" * 32


def daemon(store, node, sender):
    s = load_settings(None, env={"ORACLE_RETRY_BACKOFF_S": "60", "ORACLE_DEAD_LETTER_AFTER": "2"})
    chain = SimpleNamespace(now=lambda: 100)
    return Daemon(settings=s, node=node, chain=chain, sender=sender, store=store,
                  metrics=Metrics())


def test_unscorable_borrowers_are_deferred_but_a_node_wide_refusal_is_not():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02"), (3, C, 7, 0, "0x03")], [],
                        cursor=7)
    node = FakeNode({A: Refusal("no features stored", status=404, unscorable=True),
                     B: Refusal("model not approved", status=409)})
    sender = FakeSender()
    d = daemon(store, node, sender)
    d.post([(A, [1], 1), (B, [2], 1), (C, [3], 1)])
    assert sender.sent == [[C]]
    assert [r["borrower"] for r in store.pending_requests()] == [B, C]  # A backs off, B does not
    d.post([(A, [1], 1)])
    assert [d["borrower"] for d in store.dead_letters()] == [A]
    assert d.metrics.registry.get_sample_value("oracle_dead_letters_total") == 1


def test_a_batch_that_would_revert_is_split_and_only_the_bad_entry_fails():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02")], [], cursor=6)
    sender = FakeSender(bad={A})
    d = daemon(store, FakeNode({}), sender)
    d.post([(A, [1], 1), (B, [2], 1)])
    assert sender.sent == [[B]]
    rows = {r["borrower"] for r in store.pending_requests()}
    assert rows == {B}  # A backs off; B waits for its record


@pytest.mark.parametrize("why,error", [
    ("CreditScoreConfigMismatch(signed=0x01, current=0x02)",
     "transaction 0xaa reverted: CreditScoreConfigMismatch(signed=0x01, current=0x02)"),
    (None, "transaction 0xaa reverted"),  # the replay found no reason: the bare fact
])
def test_a_reverted_receipt_counts_a_failure_for_its_borrowers_with_the_replayed_reason(why, error):
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01")], [], cursor=5)
    sub = SimpleNamespace(tx_hash="0xaa", account_nonce=0, attestations=[{"borrower": A}], kind="submit")
    asked = []
    chain = SimpleNamespace(decode_recorded=lambda r: [], decode_skipped=lambda r: [],
                            revert_reason=lambda h, block: asked.append((h, block)) or why)
    sender = SimpleNamespace(resolve=lambda: [(sub, {"status": 0, "blockNumber": 6})])
    s = load_settings(None, env={"ORACLE_DEAD_LETTER_AFTER": "1"})
    d = Daemon(settings=s, node=None, chain=chain, sender=sender, store=store, metrics=Metrics())
    d.resolve()
    assert asked == [("0xaa", 6)]
    assert [(x["borrower"], x["last_error"]) for x in store.dead_letters()] == [(A, error)]


def test_a_batch_signed_whole_goes_as_one_report_in_batch_order():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02")], [], cursor=6)
    sender = FakeSender()
    d = daemon(store, FakeNode({}, report_signed=True), sender)
    assert d.post([(A, [1], 1), (B, [2], 1)]) == "0x" + "cd" * 32
    assert sender.reports == [([A, B], [b"report-sig"], [1, 2])] and sender.sent == []


def test_a_report_that_would_revert_goes_by_the_entries_own_signatures_and_fails_nothing():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02")], [], cursor=6)
    sender = FakeSender(report_reverts=True)
    d = daemon(store, FakeNode({}, report_signed=True), sender)
    assert d.post([(A, [1], 1), (B, [2], 1)]) == "0x" + "ab" * 32
    assert sender.sent == [[A, B]] and sender.reports == []
    assert {r["borrower"] for r in store.pending_requests()} == {A, B}  # no back-off
    assert store.dead_letters() == []


def test_without_a_whole_report_the_batch_goes_by_submit_batch():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (2, B, 6, 0, "0x02")], [], cursor=6)
    sender = FakeSender()
    d = daemon(store, FakeNode({}), sender)
    d.post([(A, [1], 1), (B, [2], 1)])
    assert sender.sent == [[A, B]] and sender.reports == []
