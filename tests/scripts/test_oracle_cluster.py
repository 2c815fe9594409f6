"""scripts/oracle_cluster.py without a chain: ports, node environments, port ranges of the test
bed. (Starting, killing and restarting real nodes is tests/oracle/integration's part.)"""

import socket

import pytest

from scripts import oracle_cluster
from scripts.oracle_cluster import LocalOracleCluster, free_port
from scripts.oracle_testbed import DEFAULT_PORTS, port_ranges

ADDRESSES = {"score_registry": "0x" + "11" * 20, "model_registry": "0x" + "22" * 20,
             "loan_manager": "0x" + "33" * 20}


def test_free_port_never_hands_out_a_port_twice_and_skips_bound_ones():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        got = [free_port(busy, busy + 20) for _ in range(2)]  # the bound port comes first
    assert busy not in got and len(set(got)) == 2
    assert set(got) <= set(oracle_cluster._HANDED_OUT)


def test_free_port_reuses_the_oldest_ports_once_the_range_is_used_up():
    """A long session starts more listeners than a range holds: ports handed out long ago (their
    nodes stopped) come back, the most recent ones do not, and a bound one never does."""
    lo = free_port(20000, 60000)
    first = [free_port(lo, lo + 3) for _ in range(3)]  # lo itself was handed out already
    assert sorted(first) == [lo + 1, lo + 2, lo + 3]
    again = free_port(lo, lo + 3)  # all four handed out: the older half (lo, lo+1) is forgotten
    assert again == lo


def test_free_port_says_when_the_range_is_used_up():
    port = free_port(20000, 60000)
    with pytest.raises(RuntimeError, match=f"no free port in {port}-{port}"):
        free_port(port, port)


def test_node_environment_comes_from_the_cluster_and_drops_the_callers_oracle_settings(
        tmp_path, monkeypatch):
    monkeypatch.setenv("ORACLE_KEYSTORE_PASSWORD", "leaked-from-the-shell")
    a = LocalOracleCluster(tmp_path / "a", n=2, rpc_url="http://127.0.0.1:1", addresses=ADDRESSES,
                           extra_env={"ORACLE_POLL_INTERVAL_S": 0.2}, http_ports=(9400, 9499))
    b = LocalOracleCluster(tmp_path / "b", n=1, rpc_url="http://127.0.0.1:1", addresses=ADDRESSES,
                           http_ports=(9400, 9499))
    env = a.nodes[1].env
    assert env["ORACLE_NODE_INDEX"] == "1" and env["ORACLE_HTTP_PORT"] == str(a.nodes[1].port)
    # the leader asks its peers on their peer listeners
    assert env["ORACLE_NODES"] == f"{a.nodes[0].peer_url},{a.nodes[1].peer_url}"
    assert env["ORACLE_PEER_PORT"] == str(a.nodes[1].peer_port)
    assert env["ORACLE_ADMIN_PORT"] == str(a.nodes[1].admin_port)
    assert env["ORACLE_POLL_INTERVAL_S"] == "0.2"  # extra_env overrides the defaults
    assert env["ORACLE_STORE_PATH"] == str(tmp_path / "a" / "node1" / "oracle.db")
    password = env["ORACLE_KEYSTORE_PASSWORD"]
    assert password != "leaked-from-the-shell"
    assert password == a.nodes[0].env["ORACLE_KEYSTORE_PASSWORD"]  # one per cluster
    assert password != b.nodes[0].env["ORACLE_KEYSTORE_PASSWORD"]
    assert len({p for n in a.nodes + b.nodes for p in (n.port, n.peer_port, n.admin_port)}) == 9
    assert password not in repr(a)


def test_waiting_for_a_node_that_was_never_started_fails_at_once(tmp_path):
    c = LocalOracleCluster(tmp_path, n=1, rpc_url="http://127.0.0.1:1", addresses=ADDRESSES,
                           http_ports=(9400, 9499))
    with pytest.raises(RuntimeError, match="never started"):
        c.wait_ready(timeout=30)
    assert c.stop() == []


def test_testbed_port_ranges_come_from_scorechain_test_ports(monkeypatch):
    monkeypatch.delenv("SCORECHAIN_TEST_PORTS", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert port_ranges() == DEFAULT_PORTS
    monkeypatch.setenv("SCORECHAIN_TEST_PORTS", "9200-9299,8800-8899")
    assert port_ranges() == ((9200, 9299), (8800, 8899))
    assert port_ranges("9500-9599") == ((9500, 9599), (9500, 9599))


def test_xdist_workers_take_disjoint_slices_of_the_default_ranges(monkeypatch):
    monkeypatch.delenv("SCORECHAIN_TEST_PORTS", raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    slices = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        slices.append(port_ranges())
    # per kind of port (HTTP, proxy): worker 0's slice, worker 1's slice, the whole default range
    for a, b, whole in zip(*slices, DEFAULT_PORTS):
        assert whole[0] <= a[0] <= a[1] < b[0] <= b[1] <= whole[1]
        assert a[1] - a[0] >= 40 and b[1] - b[0] >= 40  # room for several clusters each
    monkeypatch.setenv("SCORECHAIN_TEST_PORTS", "9200-9299")  # an explicit range is kept whole
    assert port_ranges() == ((9200, 9299), (9200, 9299))
