"""Fees and gas: what the chain asks now, not fixed numbers.

* fees from `eth_feeHistory`: the next block's base fee and the tips paid in recent blocks (a
  percentile); `maxFeePerGas = 2 x base fee + tip` (room for six full blocks of base-fee rises),
  clamped at the cap `ORACLE_MAX_FEE_GWEI`; the tip is at least `ORACLE_PRIORITY_FEE_GWEI`;
* gas from `eth_estimateGas` plus `ORACLE_GAS_MARGIN_PERCENT` (a batch's gas grows with k and
  the entries; a fixed 80k + 150k x n ran out for large k);
* a bump (a transaction stuck for `ORACLE_STUCK_AFTER_BLOCKS`): each fee is the higher of the old
  one raised by `ORACLE_GAS_BUMP_PERCENT` and what the chain asks now, clamped at the cap; at the
  cap there is nothing to bump and the same bytes are re-sent;
* zero-gas-price chains (private networks, some L2 test set-ups): a bump of 0 stays 0 — the
  same bytes are re-sent (plain resend mode), never a made-up price.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int

    @property
    def zero(self) -> bool:
        return self.max_fee == 0 and self.priority_fee == 0


class GasStrategy:
    def __init__(self, cap_wei: int, priority_wei: int, bump_percent: int,
                 margin_percent: int = 25) -> None:
        self.cap = cap_wei
        self.priority = priority_wei
        self.bump_percent = bump_percent
        self.margin_percent = margin_percent

    def initial(self, base_fee: int, tips: list[int] | None = None) -> Fees:
        """Fees for a new transaction: `base_fee` of the next block, `tips` paid lately."""
        ordered = sorted(tips or [])
        median = ordered[len(ordered) // 2] if ordered else 0
        priority = min(max(self.priority, median), self.cap)
        return Fees(min(self.cap, 2 * base_fee + priority), priority)

    def gas_limit(self, estimate: int, block_gas_limit: int = 0) -> int:
        """The estimate plus the margin, never above the block's gas limit (when known)."""
        gas = estimate * (100 + self.margin_percent) // 100
        return min(gas, block_gas_limit) if block_gas_limit else gas

    def bump(self, fees: Fees, now: Fees | None = None) -> Fees | None:
        """Fees for a replacement: each the higher of the bumped old one and `now` (the
        current estimate), clamped at the cap. None when there is nothing to raise: the old
        fees were zero and the chain still asks zero (plain resend), or already at the cap."""
        now = now or Fees(0, 0)
        if fees.zero and now.zero:
            return None
        max_fee = max(fees.max_fee * (100 + self.bump_percent) // 100 + 1, now.max_fee)
        priority = max(fees.priority_fee * (100 + self.bump_percent) // 100 + 1,
                       now.priority_fee)
        max_fee = min(max_fee, self.cap)
        if max_fee <= fees.max_fee:
            return None  # at the cap
        return Fees(max_fee, min(priority, max_fee))
