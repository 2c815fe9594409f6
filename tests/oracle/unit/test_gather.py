"""OracleNode.gather asks only as many peers as it still needs, in ring order, and falls through
to the next peers for entries that a peer refused or could not sign; gather_report also returns
k report signatures when k signers signed the whole batch, and none otherwise."""

from types import SimpleNamespace

import pytest

from oracle import attest, keys, typed_data
from oracle.node import OracleNode, Signed

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
POLICY = attest.Policy(validity_s=86400, clock_tolerance_s=120)


class ScriptedPeers(OracleNode):
    """Peers answer from a script: "sign", "refuse <borrower index>", "down", or "stranger" (signs
    entries, but the report with a key that is not registered)."""

    def __init__(self, k, behaviour):
        self.peer_keys = {f"http://peer{i}": keys.Signer(bytes([i + 2]) * 32)
                          for i in range(len(behaviour))}
        super().__init__(signer=keys.Signer(b"\x01" * 32), store=None, model=None, guard=None,
                         chain=SimpleNamespace(chain_id=31337,
                                               registry=SimpleNamespace(address=REGISTRY)),
                         policy=POLICY, peers=list(self.peer_keys))
        self.k = k
        self.behaviour = dict(zip(self.peer_keys, behaviour))
        self.asked: list[tuple[str, int]] = []

    def signer_set(self):
        return frozenset([self.signer.address, *(s.address for s in self.peer_keys.values())]), \
            self.k

    def _ask_peer(self, url, body):
        self.asked.append((url, len(body["attestations"])))
        how = self.behaviour[url]
        if how == "down":
            raise ConnectionError("connection refused")
        out = []
        for entry in body["attestations"]:
            att = typed_data.ScoreAttestation.from_json(entry)
            if how == f"refuse {att.borrower}":
                out.append({"error": "features differ"})
            else:
                sig = self.peer_keys[url].sign_digest(typed_data.digest(att, self.separator))
                out.append({"signature": "0x" + sig.hex()})
        answer = {"results": out}
        if body.get("report") and all("signature" in r for r in out):
            atts = [typed_data.ScoreAttestation.from_json(e) for e in body["attestations"]]
            key = keys.Signer(b"\x99" * 32) if how == "stranger" else self.peer_keys[url]
            answer["report_signature"] = "0x" + key.sign_digest(
                typed_data.report_digest(atts[0].configDigest, atts, self.separator)).hex()
        return answer


def batch(node, n):
    out = []
    for i in range(n):
        att = attest.build_attestation(
            borrower="0x" + f"{i + 1:040x}", model_id=b"\x11" * 32, features_hash=b"\x22" * 32,
            pd_bps=100 + i, score=700, reason_codes=0, nonce=0, now=1_000, policy=POLICY,
            config_digest=b"\x00\x02" + b"\x33" * 30)
        out.append(Signed(att, None, {node.signer.address: node.sign(att)}))
    return out


@pytest.fixture
def make():
    made = []

    def _make(k, behaviour):
        made.append(ScriptedPeers(k, behaviour))
        return made[-1]

    yield _make
    for node in made:
        node.close()


def test_k2_asks_one_peer_only(make):
    node = make(2, ["sign", "sign"])
    ready = node.gather(batch(node, 5))
    assert len(ready) == 5 and all(len(s.signatures) == 2 for s in ready)
    assert node.asked == [("http://peer0", 5)]


def test_k3_asks_two_peers_at_once(make):
    node = make(3, ["sign", "sign", "sign", "sign"])
    ready = node.gather(batch(node, 3))
    assert len(ready) == 3 and all(len(s.signatures) == 3 for s in ready)
    assert sorted(node.asked) == [("http://peer0", 3), ("http://peer1", 3)]


def test_refused_entries_go_to_the_next_peer_alone(make):
    node = make(2, ["refuse 0x" + f"{2:040x}", "sign"])
    entries = batch(node, 3)
    ready = node.gather(entries)
    assert len(ready) == 3
    assert node.asked == [("http://peer0", 3), ("http://peer1", 1)]
    who = {keys.recover(typed_data.digest(entries[1].att, node.separator), sig)
           for sig in entries[1].signatures.values()}
    assert node.peer_keys["http://peer1"].address in who
    assert node.peer_keys["http://peer0"].address not in who


def test_a_peer_that_is_down_is_replaced_by_the_next(make):
    node = make(2, ["down", "sign"])
    assert len(node.gather(batch(node, 2))) == 2
    assert [url for url, _ in node.asked] == ["http://peer0", "http://peer1"]


@pytest.mark.parametrize("behaviour", [["down", "down"],
                                       ["refuse 0x" + f"{1:040x}"] * 2])
def test_nothing_reaches_k_without_enough_agreeing_peers(make, behaviour):
    node = make(2, behaviour)
    entries = batch(node, 2)
    ready = node.gather(entries)
    assert entries[0] not in ready
    assert len(node.asked) == 2  # every peer was tried



def _report_signers(node, entries, sigs):
    digest = typed_data.report_digest(entries[0].att.configDigest, [e.att for e in entries], node.separator)
    return [keys.recover(digest, sig) for sig in sigs]


def test_k3_report_signed_whole_by_the_leader_and_the_two_peers_asked(make):
    node = make(3, ["sign", "sign", "sign"])
    entries = batch(node, 4)
    ready, report = node.gather_report(entries)
    assert ready == entries and len(report) == 3
    who = _report_signers(node, entries, report)
    expected = {node.signer.address, *(node.peer_keys[f"http://peer{i}"].address for i in (0, 1))}
    assert set(who) == expected and who == sorted(who, key=lambda a: int(a, 16))  # signer order
    assert sorted(node.asked) == [("http://peer0", 4), ("http://peer1", 4)]


def test_no_report_when_a_peer_refused_an_entry_but_the_entries_still_reach_k(make):
    node = make(2, ["refuse 0x" + f"{2:040x}", "sign"])
    entries = batch(node, 3)
    ready, report = node.gather_report(entries)
    assert len(ready) == 3 and report is None  # peer0 did not sign the whole; peer1 saw one entry


@pytest.mark.parametrize("behaviour", [["stranger", "sign"], ["down", "sign"]])
def test_an_unregistered_or_missing_report_signature_leaves_no_report(make, behaviour):
    node = make(2, behaviour)
    ready, report = node.gather_report(batch(node, 2))
    if behaviour[0] == "stranger":
        assert len(ready) == 2 and report is None
    else:  # peer1 answered the retry of the whole batch: its report counts
        assert len(ready) == 2 and len(report) == 2


def test_pulls_stuck_on_their_own_pool_do_not_hold_up_the_daemons_gather():
    """Pulls gather on the pool they bring (oracle.http's pull pool). With four pulls stuck
    waiting for a peer, the daemon's gather (the node's own pool) still gets its signatures at
    once; were the pools shared, its requests would queue behind the stuck ones and time out."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    node = ScriptedPeers(2, ["sign", "sign"])
    node.peer_timeout_s = 1.0
    release = threading.Event()
    slow = "0x" + "ee" * 20
    answer = ScriptedPeers._ask_peer

    def ask(url, body):
        if any(a["borrower"].lower() == slow for a in body["attestations"]):
            release.wait(10)  # the pulls' peer hangs
        return answer(node, url, body)

    node._ask_peer = ask
    pull_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pull")
    pulls = [b.att.with_(borrower=slow) for b in batch(node, 4)]
    stuck = [threading.Thread(target=node.gather, args=([Signed(a, None, {})],),
                              kwargs={"pool": pull_pool}) for a in pulls]
    for t in stuck:
        t.start()
    time.sleep(0.2)
    try:
        t0 = time.perf_counter()
        ready = node.gather(batch(node, 1))  # the daemon's call: the node's own pool
        took = time.perf_counter() - t0
        assert len(ready) == 1 and len(ready[0].signatures) == 2 and took < 0.5, took
    finally:
        release.set()
        for t in stuck:
            t.join()
        pull_pool.shutdown()
        node.close()
