"""A mined transaction of this node marks the requests its ScoreRecorded events satisfy `recorded`
(done once final) and keeps the latest score per borrower, at once (before the scan reaches its
block)."""

from types import SimpleNamespace

from oracle.daemon import Daemon
from oracle.metrics import Metrics
from oracle.settings import load_settings
from oracle.store import Store

BORROWER, OTHER = "0x" + "11" * 20, "0x" + "22" * 20


def recorded(borrower, block, log_index, nonce=0):
    return SimpleNamespace(
        args=SimpleNamespace(borrower=borrower, issuedAt=100, validUntil=200, nonce=nonce),
        blockNumber=block, logIndex=log_index)


def test_receipt_marks_earlier_requests_of_its_borrowers_recorded_and_keeps_the_score(schema,
                                                                                   good_row):
    store = Store.open(":memory:")
    store.put_features(schema, BORROWER, good_row)
    store.record_events([(1, BORROWER, 10, 0, "0x01"), (2, OTHER, 10, 1, "0x02"),
                         (3, BORROWER, 20, 0, "0x03")], [], cursor=10)
    receipt = {"blockNumber": 15, "status": 1}
    chain = SimpleNamespace(decode_recorded=lambda r: [recorded(BORROWER, 15, 4, nonce=1)],
                            decode_skipped=lambda r: [])
    sender = SimpleNamespace(resolve=lambda: [(SimpleNamespace(tx_hash="0xaa"), receipt)])
    metrics = Metrics()
    d = Daemon(settings=load_settings(None, env={}), node=None, chain=chain, sender=sender,
               store=store, metrics=metrics)
    d.resolve()
    # loan 1 came before the record; loan 3 after it, loan 2 is another borrower's
    assert [store.request_status(i) for i in (1, 2, 3)] == ["recorded", "pending", "pending"]
    assert store.get_cursor() == 10  # a receipt does not move the scan cursor
    assert metrics.registry.get_sample_value("oracle_scores_recorded_total") == 1
