"""The node's live drift monitor (oracle.drift): a sliding window of bucket counts, PSI on a
schedule, metrics, and a log line when the level changes."""
import logging
from types import SimpleNamespace

import numpy as np

from oracle.drift import DriftMonitor
from oracle.metrics import Metrics

SPEC = {"score": {"kind": "numeric", "edges": [600.0], "expected": [0.5, 0.5, 0.0]},
        "features": {"x": {"kind": "numeric", "edges": [0.0], "expected": [0.5, 0.5, 0.0]}}}


def model(model_id=b"\x01" * 32, spec=SPEC):
    return SimpleNamespace(model_id=model_id, bundle=SimpleNamespace(monitoring=spec),
                           schema={"features": [{"name": "x"}]})


def feed(mon, m, n, x, score):
    for _ in range(n):
        mon.observe(m, np.array([x], np.float32), score)


def test_a_shifted_window_raises_the_alert_then_recovers(caplog):
    metrics = Metrics()
    mon = DriftMonitor(window=200, min_rows=100, every=50, metrics=metrics)
    m = model()
    caplog.set_level(logging.INFO, logger="oracle.drift")
    for _ in range(100):  # the reference mix: half below each edge
        feed(mon, m, 1, -1.0, 500)
        feed(mon, m, 1, 1.0, 700)
    assert mon.report()["level"] == "ok" and not caplog.records
    feed(mon, m, 200, 1.0, 700)  # every new applicant above both edges
    r = mon.report()
    assert r["level"] == "alert" and r["features"]["x"]["level"] == "alert"
    assert [rec.levelname for rec in caplog.records] == ["ERROR"]
    assert metrics.registry.get_sample_value("oracle_drift_psi", {"what": "feature:x"}) > 0.25
    assert metrics.registry.get_sample_value("oracle_drift_window_rows") == 200
    for _ in range(100):
        feed(mon, m, 1, -1.0, 500)
        feed(mon, m, 1, 1.0, 700)
    assert mon.report()["level"] == "ok"
    assert caplog.records[-1].levelname == "INFO"  # one line per change of level, not per score


def test_nothing_is_judged_before_min_rows_and_a_new_model_starts_afresh():
    mon = DriftMonitor(window=200, min_rows=100, every=10)
    feed(mon, model(), 50, 1.0, 700)
    assert mon.last is None  # fewer than min_rows
    feed(mon, model(b"\x02" * 32), 1, -1.0, 500)
    assert mon.report()["rows"] == 1 and mon.report()["model_id"] == "0x" + "02" * 32


def test_a_model_without_reference_distributions_is_not_monitored():
    mon = DriftMonitor()
    feed(mon, model(spec=None), 10, 1.0, 700)
    assert mon.report() is None


def test_the_same_request_recomputed_is_counted_once():
    # a griefer pulling their own score, a leader retrying, peers co-signing: one request
    mon = DriftMonitor(window=200, min_rows=100, every=10)
    for _ in range(500):
        mon.observe(model(), np.array([1.0], np.float32), 700, key=("0xB0", 3))
    assert mon.report()["rows"] == 1
    mon.observe(model(), np.array([1.0], np.float32), 700, key=("0xB0", 4))  # the next request
    assert mon.report()["rows"] == 2


def test_a_key_counts_again_once_it_has_left_the_window():
    mon = DriftMonitor(window=3, min_rows=1, every=1)
    for k in ["a", "b", "c", "d"]:
        mon.observe(model(), np.array([1.0], np.float32), 700, key=k)
    mon.observe(model(), np.array([1.0], np.float32), 700, key="a")  # "a" left with the 4th
    assert mon.report()["rows"] == 3
    mon.observe(model(), np.array([1.0], np.float32), 700, key="d")  # still in the window
    assert mon.report()["rows"] == 3
