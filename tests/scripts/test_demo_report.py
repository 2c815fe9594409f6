"""The demo's oracle figures come from the nodes' /metrics counters and the JSON logs' `level`
field, never from matching log messages."""

from prometheus_client import generate_latest

from oracle.metrics import Metrics
from scripts.demo import oracle_paragraph, oracle_stats, write_report


def node_metrics(*, sent=0, mined=0, reverted=0, stand_downs=0, loop_errors=0) -> str:
    m = Metrics()  # the oracle's own metric names: renaming one there breaks this test
    m.tx_sent.inc(sent)
    m.tx_mined.labels("mined").inc(mined)
    m.tx_mined.labels("reverted").inc(reverted)
    m.stand_downs.inc(stand_downs)
    m.loop_errors.inc(loop_errors)
    return generate_latest(m.registry).decode()


SCRAPED = {0: node_metrics(sent=4, mined=4, stand_downs=2),
           1: node_metrics(sent=3, mined=2, reverted=1, stand_downs=1, loop_errors=1)}
EVENTS = [{"node": 0, "level": "info", "msg": "batch posted"},
          {"node": 1, "level": "error", "msg": "daemon step failed"},
          {"node": 1, "level": "info", "msg": "stands down: already recorded"}]


def test_oracle_stats_sum_every_node_counters():
    stats = oracle_stats(SCRAPED, EVENTS, nodes=3)
    assert stats == {"nodes": 3, "nodes_scraped": 2, "batches_posted": 7,
                     "transactions_mined": 6, "failover_stand_downs": 3, "loop_errors": 1,
                     "errors": 1, "log_lines": 3}


def test_stand_downs_are_counted_without_any_log_line():
    stats = oracle_stats({0: node_metrics(stand_downs=5)}, [], nodes=1)
    assert stats["failover_stand_downs"] == 5


def test_report_shows_the_stand_down_count(tmp_path):
    summary = {
        "chain": "anvil", "chain_id": 31337, "model_v1": "0x" + "ab" * 32, "loans": [],
        "scoring_seconds": 1.0, "invariants": {"outstanding_principal_usd": 0.0},
        "audit": {"loan_id": 1, "verified": True, "anchored": True, "batch_id": 1,
                  "disclosure_verify": {"ok": True}},
        "gas": {}, "oracle": oracle_stats(SCRAPED, EVENTS, nodes=3),
    }
    write_report(summary, tmp_path / "demo.md")
    text = (tmp_path / "demo.md").read_text()
    paragraph = oracle_paragraph(summary["oracle"])
    assert paragraph in text
    assert "7 attestation batches posted and 6 mined, 3 failover stand-downs" in paragraph
    assert "1 failed daemon steps" in paragraph and "/metrics of 2 of 3 nodes" in paragraph
    assert "1 error log lines, 3 log lines in all" in paragraph
    # a bundle id is shown by its prefix and named as a hash (never a bare 32-byte hex value)
    assert "bundle id `0xabababababababab…` (the SHA-256 of models/default/manifest.json" in text
    assert "ab" * 32 not in text
