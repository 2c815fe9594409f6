"""A node that leads a request but finds it already recorded on chain stands down: it marks the
request recorded (done once final), posts nothing and counts the stand-down in oracle_failover_stand_downs_total."""

from types import SimpleNamespace

import pytest

from oracle.daemon import Daemon
from oracle.metrics import Metrics
from oracle.settings import load_settings
from oracle.store import Store

BORROWER = "0x" + "11" * 20
REQUEST_BLOCK, HEAD = 10, 12


def event(block, log_index, borrower=BORROWER):
    return SimpleNamespace(args=SimpleNamespace(borrower=borrower), blockNumber=block,
                           logIndex=log_index, blockHash="0x" + "bb" * 32,
                           transactionHash=bytes(32))


@pytest.fixture
def setup():
    def make(recorded_after_cursor, open_on_chain=True):
        store = Store.open(":memory:")
        # The scan saw the request (loan 7) and moved its cursor to the request's block.
        store.record_events([(7, BORROWER, REQUEST_BLOCK, 0, "0x" + "aa" * 32)], [],
                            cursor=REQUEST_BLOCK)
        chain = SimpleNamespace(block_gas_limit=lambda: 30_000_000,
                                score_recorded=lambda start, end: recorded_after_cursor,
                                nonces_at=lambda pairs: [0] * len(pairs),
                                scores_requested=lambda bs: {b: open_on_chain for b in bs})
        s = load_settings(None, env={"ORACLE_DEAD_LETTER_AFTER": "2"})  # one node: always leader
        metrics = Metrics()
        d = Daemon(settings=s, node=None, chain=chain, sender=None, store=store, metrics=metrics)
        posted = []
        d.post = posted.append
        return d, store, metrics, posted
    return make


def stand_downs(metrics):
    return metrics.registry.get_sample_value("oracle_failover_stand_downs_total")


def test_leader_stands_down_and_counts_it_when_the_score_is_already_recorded(setup):
    d, store, metrics, posted = setup([event(REQUEST_BLOCK + 1, 3)])
    d.work(HEAD)
    assert posted == []
    assert store.request_status(7) == "recorded"
    assert stand_downs(metrics) == 1


def test_leader_posts_and_counts_no_stand_down_when_nothing_is_recorded(setup):
    # a record of another borrower, and one of ours from before the request, do not count
    d, store, metrics, posted = setup([event(REQUEST_BLOCK + 1, 0, "0x" + "22" * 20),
                                       event(REQUEST_BLOCK, 0)])
    d.work(HEAD)
    assert [[(b, loans) for b, loans, _ in due] for due in posted] == [[(BORROWER, [7])]]
    assert store.request_status(7) == "pending"
    assert stand_downs(metrics) == 0


def test_leader_backs_off_then_dead_letters_a_request_the_chain_shows_no_longer_open(setup):
    # the node holds a request the chain does not (or its record lies past the head): peers would
    # refuse it on every step ("no open loan request"); the leader itself stops asking
    d, store, metrics, posted = setup([], open_on_chain=False)
    d.work(HEAD)
    assert posted == []
    assert store.request_status(7) == "pending"  # backed off, not dropped: a record may follow
    assert store.pending_requests() == []  # not due again before the back-off
    store._conn.execute("UPDATE requests SET next_try_at = 0")
    d.work(HEAD)
    assert store.request_status(7) == "dead"
    assert "no open loan request" in store.dead_letters()[0]["last_error"]
