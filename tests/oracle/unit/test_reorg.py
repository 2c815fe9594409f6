"""Reorgs, without a chain: the scan rewinds on a parent-hash mismatch, a confirmed transaction
whose receipt disappears goes back in flight and is re-broadcast, a request is done only when its
record is final and canonical, requests are keyed by (tx hash, log index), removed logs are not
events, and a store written before the reorg migration keeps its rows."""

from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

import pytest

from oracle.chain import Chain, TxSender
from oracle.chain.errors import ChainError, EstimateReverted
from oracle.daemon import Daemon
from oracle.metrics import Metrics
from oracle.settings import load_settings
from oracle.store import MIGRATIONS, Store, Submission

A, B = "0x" + "11" * 20, "0x" + "22" * 20


def h(fork: str, n: int) -> str:
    """A block hash naming its fork and number."""
    return "0x" + (fork.encode().hex() + f"{n:04x}").rjust(64, "0")


class FakeChain:
    """Blocks as (number -> hash) of the canonical fork, parent = previous block; logs per fork.
    `reorg(at, fork)` replaces every block from `at` on with blocks of `fork`."""

    def __init__(self, head: int) -> None:
        self.blocks = {n: h("a", n) for n in range(head + 1)}
        self.requests: list[SimpleNamespace] = []
        self.records: list[SimpleNamespace] = []
        self.receipts: dict[str, dict] = {}

    def reorg(self, at: int, fork: str, head: int | None = None) -> None:
        top = max(self.blocks) if head is None else head
        for n in list(self.blocks):
            if n >= at:
                del self.blocks[n]
        for n in range(at, top + 1):
            self.blocks[n] = h(fork, n)
        keep = lambda e: e.blockNumber < at  # noqa: E731
        self.requests = [e for e in self.requests if keep(e)]
        self.records = [e for e in self.records if keep(e)]
        self.receipts = {k: r for k, r in self.receipts.items() if r["blockNumber"] < at}

    def head(self, max_age_s: float = 0.0):
        return max(self.blocks), 0

    def header(self, n):
        if n not in self.blocks:
            return None
        return {"number": n, "hash": self.blocks[n], "parent_hash": self.blocks.get(n - 1, "0x")}

    def canonical_hashes(self, numbers):
        return {n: self.blocks.get(n) for n in numbers}

    def final_block(self, head):
        return head - 6

    def request(self, loan_id, borrower, block, log_index=0, tx="0x" + "aa" * 32):
        self.requests.append(SimpleNamespace(
            args=SimpleNamespace(loanId=loan_id, borrower=borrower), blockNumber=block,
            logIndex=log_index, transactionHash=bytes.fromhex(tx[2:]),
            blockHash=self.blocks[block]))

    def record(self, borrower, block, log_index=0, tx="0x" + "cc" * 32, nonce=1):
        self.records.append(SimpleNamespace(
            args=SimpleNamespace(borrower=borrower, issuedAt=1, validUntil=2, nonce=nonce),
            blockNumber=block, logIndex=log_index, transactionHash=bytes.fromhex(tx[2:]),
            blockHash=self.blocks[block]))

    def score_requests(self, start, end):
        return [e for e in self.requests if start <= e.blockNumber <= end]

    def score_recorded(self, start, end):
        return [e for e in self.records if start <= e.blockNumber <= end]


def daemon(chain, store, **env):
    s = load_settings(None, env={"ORACLE_CONFIRMATIONS": "0", "ORACLE_START_BLOCK": "0",
                                 "ORACLE_REFRESH_BEFORE_S": "0", **env})
    return Daemon(settings=s, node=None, chain=chain, sender=None, store=store,
                  metrics=Metrics())


def test_scan_rewinds_to_the_fork_point_and_reads_the_new_fork():
    chain, store = FakeChain(head=10), Store.open(":memory:")
    chain.request(1, A, 8, tx="0x" + "a1" * 32)
    chain.request(2, B, 9, tx="0x" + "b1" * 32)
    chain.record(A, 10)
    d = daemon(chain, store)
    for head in range(11):  # a step per block, as a node following the head does
        d.scan(head)
    assert store.request_status_of("0x" + "a1" * 32, 0) == "recorded"
    assert store.request_status(2) == "pending"
    # a 3-block reorg: blocks 8-10 replaced and one more; the requests come back in another
    # order, so loan 2 is now A's and loan 1 is B's; A's record is gone
    chain.reorg(8, "b", head=11)
    chain.request(1, B, 8, tx="0x" + "b1" * 32)
    chain.request(2, A, 9, tx="0x" + "a1" * 32)
    d.scan(11)
    assert d.metrics.registry.get_sample_value("oracle_reorgs_total") == 1
    pending = {(r["tx_hash"], r["loan_id"], r["borrower"]) for r in store.pending_requests()}
    assert pending == {("0x" + "b1" * 32, 1, B), ("0x" + "a1" * 32, 2, A)}
    assert store.get_cursor() == 11
    # rewound to block 7, the newest block both forks share, not further
    assert store.block_hash(7) == h("a", 7) and store.block_hash(8) == h("b", 8)
    assert store.block_hash(11) == h("b", 11)


def test_a_reorg_above_the_cursor_is_read_once_and_rewinds_nothing():
    chain, store = FakeChain(head=5), Store.open(":memory:")
    d = daemon(chain, store)
    d.scan(5)
    chain.reorg(6, "b", head=8)  # only blocks the scan never read
    d.scan(8)
    assert d.metrics.registry.get_sample_value("oracle_reorgs_total") == 0
    assert store.get_cursor() == 8


def test_scan_does_not_move_the_cursor_when_the_chain_moves_during_the_read():
    chain, store = FakeChain(head=5), Store.open(":memory:")
    d = daemon(chain, store)
    real = chain.score_recorded

    def racing(start, end):  # a reorg lands between the header read and the logs read
        chain.reorg(5, "b")
        return real(start, end)

    chain.score_recorded = racing
    d.scan(5)
    assert store.get_cursor() is None
    chain.score_recorded = real
    d.scan(5)
    assert store.get_cursor() == 5 and store.block_hash(5) == h("b", 5)


def test_a_request_is_done_only_when_its_record_is_final_and_canonical():
    chain, store = FakeChain(head=20), Store.open(":memory:")
    chain.request(1, A, 10, tx="0x" + "a1" * 32)
    chain.request(2, B, 10, log_index=1, tx="0x" + "b1" * 32)
    chain.record(A, 12)
    d = daemon(chain, store)
    d.scan(20)
    # B's record is seen past the cursor (a stand-down or a receipt), in a block a reorg then
    # replaces above the cursor: the scan never notices, settling does
    store.mark_recorded(B, 25, 0, h("a", 25), "0x" + "dd" * 32)
    d.settle(20)  # final = 14: A's record (block 12) is final and canonical
    assert store.request_status(1) == "done" and store.request_status(2) == "recorded"
    chain.reorg(21, "b", head=40)
    d.settle(40)  # final = 34: block 25 is final, but not the block B's record was in
    assert store.request_status(2) == "pending"
    assert d.metrics.registry.get_sample_value("oracle_records_reopened_total") == 1


def test_requests_are_keyed_by_tx_hash_and_log_index_not_loan_id():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01"), (1, B, 6, 0, "0x02")], [], cursor=6)
    assert {r["borrower"] for r in store.pending_requests()} == {A, B}
    store.record_events([(1, A, 5, 0, "0x01")], [], cursor=6)  # re-read: no second row
    assert len(store.pending_requests()) == 2


def test_removed_logs_are_not_events():
    settings = load_settings(None, env={"ORACLE_REGISTRY_ADDRESS": "0x" + "44" * 20,
                                        "ORACLE_LOAN_MANAGER_ADDRESS": "0x" + "55" * 20})
    chain = Chain(settings)
    log = {"topics": ["0x" + "00" * 32, "0x" + "00" * 31 + "07", "0x" + "00" * 12 + "11" * 20],
           "blockNumber": "0x5", "logIndex": "0x0", "transactionHash": "0x" + "ab" * 32,
           "blockHash": "0x" + "cd" * 32, "data": "0x"}
    answers = [[dict(log, removed=True), dict(log, logIndex="0x1")]]
    chain.w3.provider.make_request = lambda method, params: {"result": answers[0]}
    got = chain.score_requests(5, 5)
    assert [e.logIndex for e in got] == [1] and got[0].blockHash == "0x" + "cd" * 32


def test_rpc_garbage_instead_of_logs_is_an_error_not_an_empty_range():
    from oracle.chain import ChainError

    settings = load_settings(None, env={"ORACLE_REGISTRY_ADDRESS": "0x" + "44" * 20,
                                        "ORACLE_LOAN_MANAGER_ADDRESS": "0x" + "55" * 20})
    chain = Chain(settings)
    chain._r = lambda fn, what, attempts=3: fn()  # no back-off in a unit test
    for garbage in ({"result": "0xdeadbeef"}, {"result": None}, {"result": {"a": 1}}):
        chain.w3.provider.make_request = lambda method, params, g=garbage: g
        with pytest.raises(ChainError):
            chain.score_requests(1, 2)
    chain.w3.provider.make_request = lambda method, params: {"result": {"number": "0x1"}}
    with pytest.raises(ChainError, match="malformed block"):
        chain.header(1)


# --- transactions ----------------------------------------------------------------------------

class TxChain:
    def __init__(self) -> None:
        self.receipts: dict[str, dict] = {}
        self.nonce_final = 0
        self.head_n = 10

    def head(self, max_age_s=0.0):
        return self.head_n, 0

    def final_block(self, head):
        return head - 6

    def receipt(self, tx_hash):
        return self.receipts.get(tx_hash)

    def nonce_at(self, address, block):
        return self.nonce_final


def sender_with(chain, store):
    s = TxSender(chain, SimpleNamespace(address="0x" + "44" * 20), store,
                 load_settings(None, env={}), Metrics(),
                 transmitter=SimpleNamespace(address="0x" + "33" * 20))
    sent = []
    s.broadcast = lambda raw, tx_hash, kind, nonce: sent.append(tx_hash)
    return s, sent


def sub(tx_hash, nonce, status="inflight", borrower=A):
    return Submission(tx_hash, nonce, "submit", b"raw" + tx_hash.encode(), [1],
                      [{"borrower": borrower}], 1, status, sent_block=9, sent_at=time.time())


def test_a_confirmed_transaction_whose_receipt_disappears_is_rebroadcast_and_reopens_requests():
    chain, store = TxChain(), Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x01")], [], cursor=5)
    store.add_submission(sub("0xaa", 0))
    sender, sent = sender_with(chain, store)
    chain.receipts["0xaa"] = {"status": 1, "blockNumber": 9, "blockHash": "0x09", "gasUsed": 1}
    assert [s.tx_hash for s, _ in sender.resolve()] == ["0xaa"]
    store.mark_recorded(A, 9, 0, "0x09", "0xaa")  # what the daemon does with the receipt
    assert store.confirmed()[0].mined_hash == "0x09" and store.request_status(1) == "recorded"
    del chain.receipts["0xaa"]  # the block was reorged out, and the transaction with it
    sent.clear()
    assert sender.resolve() == []
    assert [s.tx_hash for s in store.inflight()] == ["0xaa"] and sent == ["0xaa"]
    assert store.request_status(1) == "pending"
    assert sender.metrics.registry.get_sample_value("oracle_tx_reorged_total") == 1
    # mined again in another block: confirmed there; final after 6 more blocks
    chain.receipts["0xaa"] = {"status": 1, "blockNumber": 11, "blockHash": "0x11", "gasUsed": 1}
    chain.head_n = 12
    assert [s.tx_hash for s, _ in sender.resolve()] == ["0xaa"]
    chain.head_n = 17
    sender.resolve()
    assert {s["tx_hash"]: s["status"] for s in store.submissions()} == {"0xaa": "finalized"}


def test_a_receipt_in_another_block_after_a_reorg_is_reported_again():
    chain, store = TxChain(), Store.open(":memory:")
    store.add_submission(sub("0xaa", 0))
    sender, _ = sender_with(chain, store)
    chain.receipts["0xaa"] = {"status": 1, "blockNumber": 9, "blockHash": "0x09", "gasUsed": 1}
    sender.resolve()
    chain.receipts["0xaa"] = {"status": 1, "blockNumber": 9, "blockHash": "0xf9", "gasUsed": 1}
    assert [s.tx_hash for s, _ in sender.resolve()] == ["0xaa"]
    assert store.confirmed()[0].mined_hash == "0xf9"


def test_a_reorged_out_copy_brings_its_replaced_siblings_back_in_flight():
    chain, store = TxChain(), Store.open(":memory:")
    store.add_submission(sub("0xaa", 3))
    store.add_submission(sub("0xbb", 3))  # a gas-bumped copy of nonce 3
    sender, _ = sender_with(chain, store)
    chain.receipts["0xbb"] = {"status": 1, "blockNumber": 9, "blockHash": "0x09", "gasUsed": 1}
    sender.resolve()
    assert {s["tx_hash"]: s["status"] for s in store.submissions()} == {
        "0xaa": "replaced", "0xbb": "confirmed"}
    del chain.receipts["0xbb"]
    sender.resolve()
    assert sorted(s.tx_hash for s in store.inflight()) == ["0xaa", "0xbb"]


def test_a_nonce_is_dropped_only_when_a_final_block_used_it():
    chain, store = TxChain(), Store.open(":memory:")
    store.add_submission(sub("0xaa", 2))
    sender, _ = sender_with(chain, store)
    chain.nonce_final = 2  # the head may be past nonce 2, but no final block is
    sender.resolve()
    assert [s.tx_hash for s in store.inflight()] == ["0xaa"]
    chain.nonce_final = 3
    sender.resolve()
    assert store.submissions()[0]["status"] == "dropped"


def test_a_signed_transaction_is_unstarted_until_broadcast():
    store = Store.open(":memory:")
    store.add_submission(sub("0xaa", 0, status="unstarted"))
    assert [s.status for s in store.inflight()] == ["unstarted"]  # re-broadcast after a crash
    store.mark_broadcast("0xaa")
    assert [s.status for s in store.inflight()] == ["inflight"]


def test_a_store_of_schema_3_migrates_keeping_its_requests_and_transactions(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                 "applied_at INTEGER NOT NULL)")
    for version, sql in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
    conn.execute("INSERT INTO requests (loan_id, borrower, block, log_index, tx_hash, status, "
                 "seen_at) VALUES (1, ?, 5, 0, '0x01', 'done', 0), (2, ?, 6, 1, '0x02', "
                 "'pending', 0)", (A, B))
    conn.execute("INSERT INTO submissions (tx_hash, account_nonce, kind, raw_tx, loan_ids, "
                 "attestations, max_fee, status, sent_block, sent_at, mined_block) VALUES "
                 "('0xaa', 0, 'submit', x'00', '[1]', '[]', 1, 'mined', 5, 0, 6), "
                 "('0xbb', 1, 'submit', x'00', '[2]', '[]', 1, 'inflight', 6, 0, NULL)")
    conn.commit()
    conn.close()
    store = Store.open(path)
    assert store.schema_version() == len(MIGRATIONS)
    assert store.request_status_of("0x01", 0) == "done"
    assert [r["loan_id"] for r in store.pending_requests()] == [2]
    assert [(s.tx_hash, s.receipt_status) for s in store.confirmed()] == [("0xaa", 1)]
    assert [s.tx_hash for s in store.inflight()] == ["0xbb"]


def test_a_never_broadcast_transaction_whose_entries_were_recorded_meanwhile_is_cancelled():
    """A crash between the checkpoint and the broadcast, and another node posted meanwhile: the
    restart spends the nonce on a 0-value transfer to itself, not on a batch the registry would
    only skip (wasted gas)."""
    from eth_account import Account

    key = Account.create()
    raw = bytes(key.sign_transaction({
        "type": 2, "chainId": 31337, "nonce": 4, "to": "0x" + "55" * 20, "data": "0x12",
        "value": 0, "gas": 300_000, "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 10**9}).raw_transaction)
    chain, store = TxChain(), Store.open(":memory:")
    chain.nonces_at = lambda pairs: [8, 7]  # A: a newer request since; B: its request closed
    chain.scores_requested = lambda borrowers: dict(zip(borrowers, [True, False]))
    chain.fee_inputs = lambda: (0, [])
    store.add_submission(Submission("0xaa", 4, "submitBatch", raw, [1, 2],
                                    [{"borrower": A, "nonce": 7}, {"borrower": B, "nonce": 7}],
                                    1, "unstarted", sent_block=9, sent_at=time.time()))
    sender, sent = sender_with(chain, store)
    sender.transmitter = SimpleNamespace(address=key.address, private_key_bytes=lambda: key.key)
    sender.resolve()
    cancels = [s for s in store.inflight() if s.kind == "cancel"]
    assert len(cancels) == 1 and cancels[0].account_nonce == 4 and len(sent) == 1
    assert sender.metrics.registry.get_sample_value("oracle_tx_cancelled_total") == 1
    # not stale (one entry still unrecorded): no cancel, the bytes go out as they are
    chain2, store2 = TxChain(), Store.open(":memory:")
    chain2.nonces_at = lambda pairs: [8, 7]
    chain2.scores_requested = lambda borrowers: dict.fromkeys(borrowers, True)  # B's request still awaits it
    store2.add_submission(Submission("0xbb", 4, "submitBatch", raw, [1, 2],
                                     [{"borrower": A, "nonce": 7}, {"borrower": B, "nonce": 7}],
                                     1, "unstarted", sent_block=9, sent_at=time.time()))
    sender2, sent2 = sender_with(chain2, store2)
    sender2.resolve()
    assert [s.kind for s in store2.inflight()] == ["submitBatch"] and sent2 == ["0xbb"]


def test_a_transaction_a_reorg_took_back_is_resent_only_if_it_still_records_every_entry():
    """The reorg replayed the borrower's request after the attestation's issuedAt (or moved its
    nonce, or a newer record landed): the same bytes would only be skipped. The node simulates
    them first (the registry returns how many entries it records) and spends the nonce on a
    cancel instead; bytes that still record everything, or that cannot be simulated, go again."""
    from eth_account import Account

    key = Account.create()
    raw = bytes(key.sign_transaction({
        "type": 2, "chainId": 31337, "nonce": 4, "to": "0x" + "55" * 20, "data": "0x12",
        "value": 0, "gas": 300_000, "maxFeePerGas": 10**9,
        "maxPriorityFeePerGas": 10**9}).raw_transaction)
    outcomes = {}
    for label, answer in (("stale", 1), ("fine", 2), ("reverts", EstimateReverted("x", None)),
                          ("no answer", ChainError("timeout"))):
        chain, store = TxChain(), Store.open(":memory:")
        chain.fee_inputs = lambda: (0, [])
        calls = []

        def call_uint(sender, to, data, gas, answer=answer, calls=calls):
            calls.append((sender, to, data, gas))
            if isinstance(answer, Exception):
                raise answer
            return answer

        chain.call_uint = call_uint
        store.add_submission(Submission("0xaa", 4, "submitBatch", raw, [1, 2],
                                        [{"borrower": A, "nonce": 7}, {"borrower": B, "nonce": 7}],
                                        1, "inflight", sent_block=9, sent_at=time.time()))
        sender, sent = sender_with(chain, store)
        sender.transmitter = SimpleNamespace(address=key.address, private_key_bytes=lambda: key.key)
        chain.receipts["0xaa"] = {"status": 1, "blockNumber": 9, "blockHash": "0x09", "gasUsed": 1}
        sender.resolve()
        del chain.receipts["0xaa"]
        sent.clear()
        sender.resolve()
        assert calls == [(key.address, "0x" + "55" * 20, "0x12", 300_000)]
        outcomes[label] = sorted(s.kind for s in store.inflight())
    assert outcomes == {"stale": ["cancel", "submitBatch"], "reverts": ["cancel", "submitBatch"],
                        "fine": ["submitBatch"], "no answer": ["submitBatch"]}


def test_a_reorg_holds_the_borrowers_it_touched_for_a_failover_window_on_every_node():
    """After the reorg the transaction that carried A's record is being re-broadcast by the node
    that sent it; another node that became A's leader meanwhile (the replay gave A another loan
    id) must not rebuild it at once: that second submission only ends as ScoreSkipped. A borrower
    the reorg did not touch is worked as before; the hold runs out after failover_blocks."""
    chain, store = FakeChain(head=10), Store.open(":memory:")
    chain.request(1, A, 8, tx="0x" + "a1" * 32)
    chain.request(2, B, 5, tx="0x" + "b1" * 32)
    chain.record(A, 10)
    d = daemon(chain, store, ORACLE_FAILOVER_BLOCKS="4")
    for head in range(11):
        d.scan(head)
    chain.reorg(8, "b", head=11)
    chain.request(3, A, 9, tx="0x" + "a1" * 32)
    d.scan(11)
    assert store.held(11) == {A}
    worked = []
    d.post = worked.extend
    d.chain.block_gas_limit = lambda: 30_000_000
    d.chain.scores_requested = lambda bs: {b: True for b in bs}
    d.chain.nonces_at = lambda pairs: [1] * len(pairs)
    d.work(11)
    assert [b for b, _, _ in worked] == [B]  # one node: leader of both; A waits
    worked.clear()
    store.mark_recorded(B, 11, 0, h("b", 11), "0x" + "dd" * 32)
    d.work(14)
    assert worked == []
    d.work(15)  # 11 + 4: the hold ran out
    assert [(b, loans) for b, loans, _ in worked] == [(A, [3])]
    assert store.held(15) == set()


def test_settling_a_record_a_reorg_replaced_holds_its_borrower():
    chain, store = FakeChain(head=20), Store.open(":memory:")
    chain.request(1, A, 10, tx="0x" + "a1" * 32)
    d = daemon(chain, store, ORACLE_FAILOVER_BLOCKS="3")
    d.scan(20)
    store.mark_recorded(A, 25, 0, h("a", 25), "0x" + "dd" * 32)
    chain.reorg(21, "b", head=40)
    d.settle(40)
    assert store.request_status(1) == "pending"
    assert store.held(40) == {A} and store.held(43) == set()


def test_a_hold_only_lengthens():
    store = Store.open(":memory:")
    store.record_events([(1, A, 5, 0, "0x" + "a1" * 32)], [], cursor=5)
    store.rewind(4, hold_until=30)
    store.record_events([(1, A, 5, 0, "0x" + "a1" * 32)], [], cursor=5)
    store.rewind(4, hold_until=20)
    assert store.held(25) == {A}
