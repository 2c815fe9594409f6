import threading
import time

from oracle.chain import CircuitBreaker, Fees, GasStrategy, NonceAllocator, retry


def test_nonce_allocator_is_seeded_once_and_unique_under_threads():
    calls = []

    def fetch():
        calls.append(1)
        return 40

    alloc = NonceAllocator(fetch)
    got = []
    threads = [threading.Thread(target=lambda: got.extend(alloc.allocate() for _ in range(50)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(40, 440)) and len(calls) == 1
    alloc.reset()
    assert alloc.allocate() == 40 and len(calls) == 2


def test_nonce_seed_skips_the_nonces_of_open_transactions_in_the_store():
    store_open = {5, 6, 9}
    alloc = NonceAllocator(lambda: 5, lambda: store_open)
    # 5 and 6 are held by our own transactions (e.g. signed, then a crash before broadcast):
    # the next new one is 7; the gap at 7-8 is filled, and 9 stays with its transaction
    assert [alloc.allocate() for _ in range(3)] == [7, 8, 10]
    alloc.reset()
    store_open.clear()
    assert alloc.allocate() == 5  # nothing open any more: the chain's count


def test_gas_strategy_caps_and_bumps():
    g = GasStrategy(cap_wei=100, priority_wei=2, bump_percent=15)
    assert g.initial(10) == Fees(22, 2)
    assert g.initial(1000) == Fees(100, 2)
    bumped = g.bump(Fees(50, 2))
    assert bumped.max_fee >= 50 * 1.15 and bumped.priority_fee >= 2 * 1.15
    assert g.bump(Fees(90, 2)) == Fees(100, 3)  # clamped at the cap
    assert g.bump(Fees(100, 3)) is None  # already at the cap: nothing to raise


def test_fees_follow_the_fee_history_tips_with_the_configured_tip_as_floor():
    g = GasStrategy(cap_wei=10**12, priority_wei=2, bump_percent=15)
    assert g.initial(10, [1, 9, 5, 7, 3]) == Fees(2 * 10 + 5, 5)  # the median tip
    assert g.initial(10, [0, 1, 1]) == Fees(22, 2)  # never under the configured tip
    assert g.initial(10, []) == Fees(22, 2)


def test_a_bump_is_the_higher_of_the_bumped_fee_and_the_current_estimate():
    g = GasStrategy(cap_wei=1_000, priority_wei=1, bump_percent=15)
    assert g.bump(Fees(100, 10), now=Fees(50, 5)) == Fees(116, 12)  # bumped is higher
    assert g.bump(Fees(100, 10), now=Fees(400, 30)) == Fees(400, 30)  # the chain asks more
    assert g.bump(Fees(100, 10), now=Fees(5_000, 30)) == Fees(1_000, 30)  # clamped


def test_zero_gas_price_chains_resend_as_is():
    g = GasStrategy(cap_wei=10**12, priority_wei=0, bump_percent=15)
    assert g.initial(0, []) == Fees(0, 0)
    assert g.bump(Fees(0, 0), now=Fees(0, 0)) is None  # a bump of 0 stays 0: resend the bytes
    assert g.bump(Fees(0, 0), now=Fees(7, 0)) == Fees(7, 1)  # the chain started charging


def test_gas_limit_is_the_estimate_plus_the_margin_within_the_block():
    g = GasStrategy(cap_wei=1, priority_wei=0, bump_percent=15, margin_percent=25)
    assert g.gas_limit(100_000) == 125_000
    assert g.gas_limit(100_000, block_gas_limit=110_000) == 110_000


def test_circuit_breaker_opens_and_half_opens():
    b = CircuitBreaker(failures=3, cooldown_s=0.2)
    for _ in range(2):
        b.failure()
    assert b.allow()
    b.failure()
    assert b.state == "open" and not b.allow()
    time.sleep(0.25)
    assert b.state == "half-open" and b.allow()
    b.success()
    assert b.state == "closed"


def test_retry_backs_off_then_succeeds_or_raises():
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("down")
        return "ok"

    assert retry(flaky, attempts=5, base_delay=0.001) == "ok" and len(attempts) == 3

    def down():
        raise ConnectionError("down")

    try:
        retry(down, attempts=2, base_delay=0.001)
    except ConnectionError:
        pass
    else:
        raise AssertionError("retry swallowed the error")


def test_stored_raw_transaction_decodes_for_a_gas_bump():
    """The checkpoint keeps signed transactions as plain bytes; re-signing with bumped fees must
    decode them (eth-account's decoder insists on HexBytes)."""
    from eth_account import Account

    from oracle.chain import _decode_raw

    acct = Account.create()
    tx = {"type": 2, "chainId": 31337, "nonce": 7, "to": Account.create().address,
          "data": "0x1234", "value": 0, "gas": 90_000, "maxFeePerGas": 3 * 10**9,
          "maxPriorityFeePerGas": 10**9}
    raw = bytes(acct.sign_transaction(tx).raw_transaction)
    decoded = _decode_raw(raw)
    assert decoded["nonce"] == 7 and decoded["gas"] == 90_000 and decoded["chainId"] == 31337
    assert decoded["data"] == "0x1234" and decoded["maxFeePerGas"] == 3 * 10**9
    assert decoded["to"] == tx["to"]


def test_resolve_counts_mined_and_reverted_transactions_by_receipt_status():
    from types import SimpleNamespace

    from oracle.chain import TxSender
    from oracle.metrics import Metrics
    from oracle.settings import load_settings
    from oracle.store import Store, Submission

    store = Store.open(":memory:")
    for nonce, tx_hash in ((0, "0x01"), (1, "0x02"), (2, "0x03")):
        store.add_submission(Submission(tx_hash, nonce, "submit", b"", [nonce], [], 1, "inflight",
                                        sent_block=5, sent_at=time.time()))
    receipts = {"0x01": {"status": 1, "blockNumber": 6, "gasUsed": 1, "blockHash": "0x06"},
                "0x02": {"status": 0, "blockNumber": 6, "gasUsed": 1, "blockHash": "0x06"}}
    # 0x03: still pending
    chain = SimpleNamespace(head=lambda max_age_s: (6, 0), final_block=lambda head: -1,
                            receipt=receipts.get)
    metrics = Metrics()
    sender = TxSender(chain, SimpleNamespace(address="0x" + "44" * 20), store,
                      load_settings(None, env={}), metrics,
                      transmitter=SimpleNamespace(address="0x" + "33" * 20))
    sender.broadcast = lambda *a: None  # the pending one is re-broadcast; nothing to send here
    assert [sub.tx_hash for sub, _ in sender.resolve()] == ["0x01", "0x02"]
    value = metrics.registry.get_sample_value
    assert value("oracle_tx_mined_total", {"status": "mined"}) == 1
    assert value("oracle_tx_mined_total", {"status": "reverted"}) == 1
    assert {s["tx_hash"]: (s["status"], s["receipt_status"]) for s in store.submissions()} == {
        "0x01": ("confirmed", 1), "0x02": ("confirmed", 0), "0x03": ("inflight", None)}
