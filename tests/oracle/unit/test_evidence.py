"""oracle.evidence's log searches: newest first, never a window wider than max_range (public RPCs
cap eth_getLogs ranges), stopping at the first window that has an answer."""

from types import SimpleNamespace

import pytest

from oracle.evidence import EvidenceError, find_record_tx, search_recorded

BORROWER = "0x" + "5a" * 20


class FakeChain:
    def __init__(self, head: int, records: dict[int, int]) -> None:
        self._head = head
        self.records = records  # block -> nonce
        self.windows: list[tuple[int, int]] = []

    def head(self, max_age_s: float = 0.5):
        return self._head, 0

    def score_recorded(self, lo: int, hi: int, borrower: str):
        assert borrower == BORROWER
        self.windows.append((lo, hi))
        return [SimpleNamespace(args=SimpleNamespace(nonce=n), blockNumber=b,
                                transactionHash=b.to_bytes(32, "big"))
                for b, n in sorted(self.records.items()) if lo <= b <= hi]


def test_the_newest_record_is_found_in_bounded_windows_newest_first():
    chain = FakeChain(10_000, {1_500: 1, 4_200: 2, 4_300: 3})
    event = search_recorded(chain, BORROWER, max_range=1_000)
    assert event.args.nonce == 3
    assert chain.windows == [(9_001, 10_000), (8_001, 9_000), (7_001, 8_000), (6_001, 7_000),
                             (5_001, 6_000), (4_001, 5_000)]
    assert all(hi - lo + 1 <= 1_000 for lo, hi in chain.windows)


def test_a_nonce_selects_an_older_record_and_from_block_bounds_the_search():
    chain = FakeChain(10_000, {1_500: 1, 4_300: 3})
    assert search_recorded(chain, BORROWER, nonce=1, max_range=2_000).blockNumber == 1_500
    chain.windows.clear()
    assert search_recorded(chain, BORROWER, nonce=1, from_block=2_000, max_range=2_000) is None
    assert min(lo for lo, _ in chain.windows) == 2_000


def test_no_record_is_a_clear_error():
    with pytest.raises(EvidenceError, match="no ScoreRecorded for"):
        find_record_tx(FakeChain(50, {}), BORROWER, max_range=7)


def test_the_record_transaction_hash_is_returned_as_hex():
    assert find_record_tx(FakeChain(50, {42: 1}), BORROWER, max_range=7) == "0x" + (42).to_bytes(
        32, "big").hex()
