"""Attacks on a running node's HTTP listeners: who may ask for what, and how much.

Unauthenticated, someone else's, expired and replayed pulls; forged, unregistered, stale and
replayed peer requests; oversize bodies; a flood of pulls while the daemon works. Each refusal
must say why and carry no score; nothing may be signed for the attacker.

With SCORECHAIN_RELIABILITY_DIR set, each test writes what it measured (status codes, counts) to
<dir>/oracle_attacks/<test>.json before its assertions, for `bench/reliability.py`'s table.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path

import pytest
import requests
from brownie import chain
from eth_account import Account

from oracle import auth, keys, request_types
from scripts.oracle_testbed import OracleTestbed
from tests.oracle.integration.conftest import default_model_path

REFUSAL_KEYS = {"error", "reasons"}


def _record(test: str, **observed) -> None:
    """Write this test's observations (asserts nothing, changes nothing)."""
    base = os.environ.get("SCORECHAIN_RELIABILITY_DIR")
    if not base:
        return
    d = Path(base) / "oracle_attacks"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{test}.json").write_text(json.dumps({"test": test, **observed}, indent=1,
                                               default=str) + "\n")


def _leaks_no_score(r: requests.Response) -> bool:
    """A refusal is `{"error"[, "reasons"]}` and nothing else: no attestation, signature or
    score field."""
    return r.status_code >= 400 and set(r.json()) <= REFUSAL_KEYS


def _metric(node, name: str, labels: str = "") -> float:
    text = requests.get(node.admin_url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + labels + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    c = OracleTestbed(tmp_path_factory.mktemp("attacks"), default_model_path(), n=2, k=2,
                      n_borrowers=3, settings={"ORACLE_DAEMON": "false"})
    c.start()
    for b in c.borrowers:  # an open loan request each: the node signs only for those
        c.request_loan(b)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def node0_key(bed):
    return keys.load_keystore(bed.nodes[0].keystore, bed.cluster._password)


def _sep(bed) -> bytes:
    return request_types.domain_separator(chain.id, bed.system.score_registry.address)


def _peer_post(bed, body: bytes, headers: dict) -> requests.Response:
    return requests.post(bed.nodes[1].peer_url + "/v1/sign", data=body,
                         headers={"content-type": "application/json", **headers}, timeout=10)


@pytest.fixture(scope="module")
def good_att(bed):
    r = bed.pull(0, bed.borrowers[0])
    assert r.status_code == 200, r.text
    return r.json()["attestation"]


# --- pulls --------------------------------------------------------------------------------------------
def test_unauthenticated_pull_is_refused(bed):
    b = bed.borrowers[0].address
    get = requests.get(f"{bed.nodes[0].url}/v1/score/{b}", timeout=10)
    unsigned = requests.post(f"{bed.nodes[0].url}/v1/score", timeout=10, json={"request": {
        "borrower": b, "requester": b, "requestId": "0x" + "11" * 32,
        "expiresAt": int(time.time()) + 60}})
    _record("test_unauthenticated_pull_is_refused", statuses=[get.status_code, unsigned.status_code],
            errors=[get.json()["error"], unsigned.json()["error"]],
            score_leaked=not (_leaks_no_score(get) and _leaks_no_score(unsigned)))
    assert get.status_code == 401 and "must be signed" in get.json()["error"]
    assert unsigned.status_code == 401 and "signed ScoreRequest" in unsigned.json()["error"]
    assert _leaks_no_score(get) and _leaks_no_score(unsigned)


def test_someone_elses_pull_is_refused(bed):
    victim, attacker = bed.borrowers[0], bed.borrowers[1]  # both real, KYC'd borrowers
    r = bed.pull(0, attacker, borrower=victim.address)
    stranger = Account.create()
    r2 = bed.pull(0, stranger, borrower=victim.address)
    _record("test_someone_elses_pull_is_refused", statuses=[r.status_code, r2.status_code],
            errors=[r.json()["error"], r2.json()["error"]],
            score_leaked=not (_leaks_no_score(r) and _leaks_no_score(r2)))
    assert r.status_code == 403 and r2.status_code == 403
    assert "only the borrower" in r.json()["error"]
    assert _leaks_no_score(r) and _leaks_no_score(r2)


def test_a_delegate_pulls_with_the_borrowers_grant_and_not_after_it_expires(bed):
    b, delegate = bed.borrowers[2], Account.create()
    grant = bed.delegation(b, delegate.address)
    ok = bed.pull(0, delegate, borrower=b.address, delegation=grant)
    stale = bed.delegation(b, delegate.address, now=time.time() - 100, ttl_s=50)
    late = bed.pull(0, delegate, borrower=b.address, delegation=stale)
    _record("test_a_delegate_pulls_with_the_borrowers_grant_and_not_after_it_expires",
            statuses=[ok.status_code, late.status_code], error=late.json()["error"])
    assert ok.status_code == 200 and ok.json()["attestation"]["borrower"] == b.address
    assert len(ok.json()["signatures"]) == 2
    assert late.status_code == 403 and "delegation expired" in late.json()["error"]
    assert _leaks_no_score(late)


def test_expired_pull_request_is_refused(bed):
    r = bed.pull(0, bed.borrowers[0], now=time.time() - 300, ttl_s=60)
    too_long = bed.pull(0, bed.borrowers[0], ttl_s=3600)
    _record("test_expired_pull_request_is_refused", statuses=[r.status_code, too_long.status_code],
            errors=[r.json()["error"], too_long.json()["error"]])
    assert r.status_code == 401 and "expired" in r.json()["error"] and _leaks_no_score(r)
    assert too_long.status_code == 401 and "too far ahead" in too_long.json()["error"]


def test_replayed_pull_request_is_refused(bed, good_att):
    from oracle.pull_client import score_request

    b = bed.borrowers[0]
    body = score_request(b.private_key, chain.id, bed.system.score_registry.address)
    first = requests.post(bed.nodes[0].url + "/v1/score", json=body, timeout=10)
    again = requests.post(bed.nodes[0].url + "/v1/score", json=body, timeout=10)
    _record("test_replayed_pull_request_is_refused", statuses=[first.status_code, again.status_code],
            error=again.json()["error"])
    assert first.status_code == 200
    assert again.status_code == 409 and "replay" in again.json()["error"] and _leaks_no_score(again)


def test_pull_results_are_cached_per_borrower_nonce(bed, good_att):
    """A second pull for the same nonce is served from the cache (same signatures, no gather);
    a new loan request moves the nonce and the next pull is gathered afresh."""
    node, b = bed.nodes[0], bed.borrowers[0]
    peer_before = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    cached_before = _metric(node, "oracle_pulls_served_total", '{source="cache"}')
    again = bed.pull(0, b)
    peer_after = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    cached_after = _metric(node, "oracle_pulls_served_total", '{source="cache"}')
    bed.request_loan(b)
    fresh = bed.pull(0, b)
    _record("test_pull_results_are_cached_per_borrower_nonce",
            peer_cosigns_for_the_repeat=peer_after - peer_before,
            served_from_cache=cached_after - cached_before,
            nonces=[good_att["nonce"], again.json()["attestation"]["nonce"],
                    fresh.json()["attestation"]["nonce"]])
    assert again.status_code == 200 and again.json()["attestation"] == good_att
    assert peer_after == peer_before and cached_after == cached_before + 1
    assert fresh.status_code == 200 and fresh.json()["attestation"]["nonce"] == good_att["nonce"] + 1


def test_no_score_is_signed_without_an_open_loan_request(bed, node0_key):
    """Never requested: refused. Requested, pulled and recorded (which closes the request): the
    next pull and a peer's co-signing of the same attestation are refused too."""
    from brownie import accounts

    never = bed.new_borrower()
    r_never = bed.pull(0, never)
    b = bed.borrowers[2]
    ok = bed.pull(0, b)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    att = body["attestation"]
    bed.system.score_registry.submit(tuple(att[k] for k in (
        "borrower", "modelId", "featuresHash", "pdBps", "score", "reasonCodes", "issuedAt",
        "validUntil", "nonce", "extensionHash", "configDigest")), body["signatures"],
        {"from": accounts[7]})
    r_closed = bed.pull(0, b)
    data = json.dumps({"attestations": [att]}).encode()
    peer = _peer_post(bed, data, auth.peer_headers(node0_key, _sep(bed), data, int(time.time())))
    (peer_res,) = peer.json()["results"]
    _record("test_no_score_is_signed_without_an_open_loan_request",
            statuses=[r_never.status_code, r_closed.status_code],
            errors=[r_never.json()["error"], r_closed.json()["error"]],
            peer_result=peer_res)
    for r in (r_never, r_closed):
        assert r.status_code == 409 and "no open loan request" in r.json()["error"]
        assert _leaks_no_score(r)
    assert "signature" not in peer_res and "no open loan request" in peer_res["error"]


# --- peers --------------------------------------------------------------------------------------------
def test_forged_peer_request_is_refused(bed, node0_key, good_att):
    body = json.dumps({"attestations": [good_att]}).encode()
    before = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    unsigned = _peer_post(bed, body, {})
    forger = keys.Signer(secrets.token_bytes(32))
    forged = auth.peer_headers(forger, _sep(bed), body, int(time.time()))
    forged[auth.PEER_HEADER] = node0_key.address  # claims to be node 0
    r = _peer_post(bed, body, forged)
    honest = auth.peer_headers(node0_key, _sep(bed), body, int(time.time()))
    altered = _peer_post(bed, body.replace(b'"nonce"', b' "nonce"'), honest)
    after = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    _record("test_forged_peer_request_is_refused",
            statuses=[unsigned.status_code, r.status_code, altered.status_code],
            errors=[unsigned.json()["error"], r.json()["error"], altered.json()["error"]],
            signatures_given=after - before)
    assert unsigned.status_code == 401 and "missing headers" in unsigned.json()["error"]
    assert r.status_code == 401 and "does not match" in r.json()["error"]
    assert altered.status_code == 401
    assert after == before and all(_leaks_no_score(x) for x in (unsigned, r, altered))


def test_unregistered_peer_key_is_refused(bed, good_att):
    body = json.dumps({"attestations": [good_att]}).encode()
    outsider = keys.Signer(secrets.token_bytes(32))
    before = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    r = _peer_post(bed, body, auth.peer_headers(outsider, _sep(bed), body, int(time.time())))
    after = _metric(bed.nodes[1], "oracle_signatures_total", '{role="peer"}')
    _record("test_unregistered_peer_key_is_refused", status=r.status_code, error=r.json()["error"],
            signatures_given=after - before)
    assert r.status_code == 403 and "not a registered signer" in r.json()["error"]
    assert after == before


def test_stale_or_replayed_peer_request_is_refused(bed, node0_key):
    current = bed.pull(0, bed.borrowers[1])  # the borrower's current nonce: a peer signs it
    assert current.status_code == 200, current.text
    body = json.dumps({"attestations": [current.json()["attestation"]]}).encode()
    stale = _peer_post(bed, body, auth.peer_headers(node0_key, _sep(bed), body,
                                                    int(time.time()) - 120))
    headers = auth.peer_headers(node0_key, _sep(bed), body, int(time.time()))
    first = _peer_post(bed, body, headers)
    again = _peer_post(bed, body, headers)
    _record("test_stale_or_replayed_peer_request_is_refused",
            statuses=[stale.status_code, first.status_code, again.status_code],
            errors=[stale.json()["error"], again.json()["error"]])
    assert stale.status_code == 401 and "window" in stale.json()["error"]
    assert first.status_code == 200 and "signature" in first.json()["results"][0]
    assert again.status_code == 409 and "replay" in again.json()["error"]


def test_each_listener_serves_only_its_own_routes(bed):
    n = bed.nodes[0]
    got = {
        "sign on public": requests.post(n.url + "/v1/sign", json={}, timeout=5).status_code,
        "healthz on public": requests.get(n.url + "/healthz", timeout=5).status_code,
        "metrics on public": requests.get(n.url + "/metrics", timeout=5).status_code,
        "score on peer": requests.post(n.peer_url + "/v1/score", json={}, timeout=5).status_code,
        "healthz on peer": requests.get(n.peer_url + "/healthz", timeout=5).status_code,
        "score on admin": requests.post(n.admin_url + "/v1/score", json={}, timeout=5).status_code,
        "sign on admin": requests.post(n.admin_url + "/v1/sign", json={}, timeout=5).status_code,
    }
    health = requests.get(n.admin_url + "/healthz", timeout=5)
    _record("test_each_listener_serves_only_its_own_routes", statuses=got,
            admin_healthz=health.status_code)
    assert all(code in (404, 405) for code in got.values()), got
    assert health.status_code == 200


# --- bounds -------------------------------------------------------------------------------------------
def test_oversize_body_is_refused(bed, node0_key):
    public = requests.post(bed.nodes[0].url + "/v1/score", data=b"{" + b" " * 20_000 + b"}",
                           headers={"content-type": "application/json"}, timeout=10)
    big = json.dumps({"attestations": [{"x": "y" * 1000}] * 1100}).encode()  # > 1 MiB
    peer = _peer_post(bed, big, auth.peer_headers(node0_key, _sep(bed), big, int(time.time())))
    _record("test_oversize_body_is_refused", public_status=public.status_code,
            public_body_bytes=20_002, peer_status=peer.status_code, peer_body_bytes=len(big))
    assert public.status_code == 413 and "over 16384 bytes" in public.json()["error"]
    assert peer.status_code == 413


def test_health_shows_no_rpc_url_or_secret(bed):
    health = requests.get(bed.nodes[0].admin_url + "/healthz", timeout=5).json()
    password = bed.cluster._password
    text = json.dumps(health)
    _record("test_health_shows_no_rpc_url_or_secret", rpc_url_shown=health["settings"]["rpc_url"],
            password_shown=password in text)
    assert password not in text and health["settings"]["keystore_password"] == "set"


def test_a_flood_of_pulls_is_rate_limited_and_the_daemon_still_posts(make_cluster):
    c = make_cluster(n=2, k=2, n_borrowers=4,
                     settings={"ORACLE_PUBLIC_RATE_LIMIT": "5/second;50/minute"}).start()
    flooder = c.borrowers[0]
    c.request_loan(flooder)
    statuses: list[int] = []
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            try:
                statuses.append(c.pull(0, flooder, timeout=5).status_code)
            except requests.RequestException:
                statuses.append(0)

    threads = [threading.Thread(target=flood) for _ in range(6)]
    for t in threads:
        t.start()
    t0 = time.time()
    try:
        time.sleep(1)
        for b in c.borrowers[1:]:
            c.request_loan(b)
        got = c.wait_recorded(c.borrowers[1:], timeout=60)
        seconds_to_record = time.time() - t0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    _record("test_a_flood_of_pulls_is_rate_limited_and_the_daemon_still_posts",
            pull_statuses=counts, pulls=len(statuses), flood_seconds=round(time.time() - t0, 1),
            loans_requested_during_flood=len(c.borrowers) - 1,
            recorded_during_flood=sum(1 for b in c.borrowers[1:] if b.address in got),
            seconds_request_to_all_recorded=round(seconds_to_record, 1))
    assert counts.get(429, 0) > 0, counts
    assert all(len(got[b.address]) == 1 for b in c.borrowers[1:])
