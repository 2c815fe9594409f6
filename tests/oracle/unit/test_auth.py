"""Who may ask for what: a borrower's pull, a delegate's pull, a peer's request — and every way
to get one wrong is refused with a reason."""

import secrets

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from oracle import auth, keys, pull_client, request_types
from oracle.auth import AuthError, ReplayGuard

CHAIN_ID, REGISTRY = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SEP = request_types.domain_separator(CHAIN_ID, REGISTRY)
NOW = 1_800_000_000
BORROWER, OTHER, DELEGATE = (Account.create() for _ in range(3))


def pull(body, now=NOW, replay=None, max_ttl_s=300):
    return auth.verify_pull(body, separator=SEP, now=now, max_ttl_s=max_ttl_s,
                            replay=replay if replay is not None else ReplayGuard())


def request(key, **kw):
    return pull_client.score_request(key, CHAIN_ID, REGISTRY, now=NOW, **kw)


def refused(status, fn, *args, **kw):
    with pytest.raises(AuthError) as err:
        fn(*args, **kw)
    assert err.value.status == status, err.value.reason
    return err.value.reason


def test_the_borrower_may_pull_their_own_score():
    assert pull(request(BORROWER.key)) == (BORROWER.address, BORROWER.address)


def test_an_unsigned_pull_is_refused():
    body = request(BORROWER.key)
    assert "signed ScoreRequest is required" in refused(401, pull, {"request": body["request"]})
    assert "signed ScoreRequest is required" in refused(401, pull, {})


def test_someone_elses_pull_is_refused():
    body = request(OTHER.key, borrower=BORROWER.address)  # signed by OTHER, for BORROWER
    assert "only the borrower" in refused(403, pull, body)


def test_a_request_naming_the_borrower_as_requester_but_signed_by_another_is_refused():
    body = request(BORROWER.key)
    forged = request(OTHER.key)
    body["signature"] = forged["signature"]
    assert "not the requester's" in refused(401, pull, body)


def test_an_altered_request_is_refused():
    body = request(BORROWER.key)
    body["request"]["borrower"] = OTHER.address
    refused(401, pull, body)


def test_an_expired_request_is_refused():
    body = request(BORROWER.key)
    assert "expired" in refused(401, pull, body, now=NOW + pull_client.DEFAULT_TTL_S)


def test_a_request_living_too_long_is_refused():
    body = pull_client.score_request(BORROWER.key, CHAIN_ID, REGISTRY, now=NOW, ttl_s=3600)
    assert "too far ahead" in refused(401, pull, body, max_ttl_s=300)


def test_a_replayed_request_is_refused():
    replay = ReplayGuard()
    body = request(BORROWER.key)
    pull(body, replay=replay)
    assert "replay" in refused(409, pull, body, replay=replay)
    pull(request(BORROWER.key), replay=replay)  # a new request id is fine


def test_a_request_for_another_chain_or_registry_is_refused():
    body = pull_client.score_request(BORROWER.key, CHAIN_ID + 1, REGISTRY, now=NOW)
    refused(401, pull, body)


def test_a_delegate_with_the_borrowers_grant_may_pull():
    grant = pull_client.delegation(BORROWER.key, DELEGATE.address, CHAIN_ID, REGISTRY, now=NOW)
    body = request(DELEGATE.key, borrower=BORROWER.address, delegation=grant)
    assert pull(body) == (BORROWER.address, DELEGATE.address)


def test_an_expired_delegation_is_refused():
    grant = pull_client.delegation(BORROWER.key, DELEGATE.address, CHAIN_ID, REGISTRY,
                                   now=NOW - 100, ttl_s=50)
    body = request(DELEGATE.key, borrower=BORROWER.address, delegation=grant)
    assert "delegation expired" in refused(403, pull, body)


def test_a_delegation_not_signed_by_the_borrower_is_refused():
    grant = pull_client.delegation(OTHER.key, DELEGATE.address, CHAIN_ID, REGISTRY, now=NOW)
    grant["message"]["borrower"] = BORROWER.address  # claims the borrower, signed by OTHER
    body = request(DELEGATE.key, borrower=BORROWER.address, delegation=grant)
    assert "not signed by the borrower" in refused(403, pull, body)


def test_a_delegation_to_someone_else_is_refused():
    grant = pull_client.delegation(BORROWER.key, DELEGATE.address, CHAIN_ID, REGISTRY, now=NOW)
    body = request(OTHER.key, borrower=BORROWER.address, delegation=grant)
    assert "another borrower or delegate" in refused(403, pull, body)


def test_the_replay_cache_is_bounded_and_never_forgets_a_live_request():
    guard = ReplayGuard(max_entries=2)
    guard.admit(b"a", NOW + 10, NOW)
    guard.admit(b"b", NOW + 20, NOW)
    assert "retry later" in refused(503, guard.admit, b"c", NOW + 10, NOW)
    refused(409, guard.admit, b"a", NOW + 10, NOW + 5)  # still remembered while it lives
    guard.admit(b"c", NOW + 30, NOW + 11)  # "a" expired: room again
    assert len(guard) == 2


# --- peers -------------------------------------------------------------------------------------------
NODE, STRANGER = keys.Signer(secrets.token_bytes(32)), keys.Signer(secrets.token_bytes(32))
REGISTERED = frozenset({NODE.address})
BODY = b'{"attestations":[{}]}'


def peer(headers, body=BODY, now=NOW, replay=None):
    return auth.verify_peer(headers, body, separator=SEP, now=now, window_s=30,
                            signers=REGISTERED, replay=replay if replay is not None else ReplayGuard())


def test_a_registered_peer_is_accepted():
    assert peer(auth.peer_headers(NODE, SEP, BODY, NOW)) == NODE.address


def test_an_unsigned_peer_request_is_refused():
    assert "missing headers" in refused(401, peer, {})


def test_an_unregistered_peer_key_is_refused():
    assert "not a registered signer" in refused(403, peer, auth.peer_headers(STRANGER, SEP, BODY,
                                                                             NOW))


def test_a_forged_peer_request_is_refused():
    headers = auth.peer_headers(STRANGER, SEP, BODY, NOW)
    headers[auth.PEER_HEADER] = NODE.address  # claims to be a registered node
    assert "does not match" in refused(401, peer, headers)


def test_a_peer_request_with_an_altered_body_is_refused():
    headers = auth.peer_headers(NODE, SEP, BODY, NOW)
    refused(401, peer, headers, body=BODY.replace(b"{}", b"{ }"))


@pytest.mark.parametrize("skew", [-31, 31])
def test_a_peer_request_outside_the_time_window_is_refused(skew):
    headers = auth.peer_headers(NODE, SEP, BODY, NOW)
    assert "window" in refused(401, peer, headers, now=NOW + skew)


def test_a_replayed_peer_request_is_refused():
    replay = ReplayGuard()
    headers = auth.peer_headers(NODE, SEP, BODY, NOW)
    peer(headers, replay=replay)
    refused(409, peer, headers, replay=replay)


def test_a_peer_signature_for_another_path_is_refused():
    headers = auth.peer_headers(NODE, SEP, BODY, NOW, path="/v1/other")
    refused(401, peer, headers)


def test_peer_body_hash_is_keccak_of_the_exact_bytes():
    headers = auth.peer_headers(NODE, SEP, BODY, NOW)
    msg = {"peer": NODE.address, "path": auth.SIGN_PATH, "bodyHash": keccak(BODY),
           "timestamp": NOW, "requestId": bytes.fromhex(headers[auth.REQUEST_ID_HEADER][2:])}
    sig = bytes.fromhex(headers[auth.SIGNATURE_HEADER][2:])
    assert keys.recover(request_types.digest("PeerRequest", msg, SEP), sig) == NODE.address
