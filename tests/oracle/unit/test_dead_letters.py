"""Requests that cannot be scored, or whose transaction would revert or reverted, back off and
are finally dead-lettered with their reason; they never take the places of newer requests."""

from types import SimpleNamespace

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
    def __init__(self, refusals):
        self.refusals = refusals

    def attest_local(self, borrower, now, nonce):
        if borrower in self.refusals:
            raise self.refusals[borrower]
        att = SimpleNamespace(borrower=borrower, nonce=nonce)
        return SimpleNamespace(att=att, ordered=lambda k: [b"sig"])

    def gather(self, batch):
        return batch

    def signer_set(self):
        return [], 1


class FakeSender:
    def __init__(self, bad=()):
        self.bad, self.sent = set(bad), []

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


def test_a_reverted_receipt_counts_a_failure_for_its_borrowers():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01")], [], cursor=5)
    sub = SimpleNamespace(tx_hash="0xaa", account_nonce=0, attestations=[{"borrower": A}])
    chain = SimpleNamespace(decode_recorded=lambda r: [], decode_skipped=lambda r: [])
    sender = SimpleNamespace(resolve=lambda: [(sub, {"status": 0, "blockNumber": 6})])
    s = load_settings(None, env={"ORACLE_DEAD_LETTER_AFTER": "1"})
    d = Daemon(settings=s, node=None, chain=chain, sender=sender, store=store, metrics=Metrics())
    d.resolve()
    assert [(x["borrower"], x["last_error"]) for x in store.dead_letters()] == [
        (A, "transaction 0xaa reverted")]
