"""Named fault-injection points: the process ends (SIGKILL, as `kill -9` would) at an edge of the
transaction write-ahead, so the crash tests can hit each edge on purpose, many times.

| point | where the process dies | what the restart must do |
| --- | --- | --- |
| `after_sign` | transaction signed, not yet written | nothing of it exists: build it again |
| `after_checkpoint` | written (`unstarted`), not broadcast | broadcast the stored bytes |
| `after_broadcast` | broadcast, not yet marked `inflight` | re-send the same bytes (known) |
| `after_receipt` | a receipt read, not yet stored | read it again |
| `before_done` | a record seen, requests not yet marked | mark them from the receipt or scan |

Off unless `ORACLE_FAULTS` names points, each with the probability of dying when reached
(`after_sign:0.3,after_broadcast:1`). Refused outside development chains: the settings require
`ORACLE_CHAIN_ID` 31337 (anvil) or 1337 (Ganache) with it, the chain client checks that against
`eth_chainId`, and `arm` checks the live chain id again: a production node cannot be configured
to kill itself.
"""

from __future__ import annotations

import logging
import os
import random
import signal

from oracle.settings import SettingsError

log = logging.getLogger("oracle.faults")

POINTS = ("after_sign", "after_checkpoint", "after_broadcast", "after_receipt", "before_done")
DEV_CHAIN_IDS = frozenset({31337, 1337})

_armed: dict[str, float] = {}
_rng = random.Random()


def parse(spec: str | None) -> dict[str, float]:
    """`point[:probability],...` -> {point: probability}; unknown points are an error."""
    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, p = part.partition(":")
        if name not in POINTS:
            raise SettingsError(f"ORACLE_FAULTS: unknown point {name!r}; known: {', '.join(POINTS)}")
        try:
            prob = float(p) if p else 1.0
        except ValueError:
            raise SettingsError(f"ORACLE_FAULTS: {part!r}: probability is not a number") from None
        if not 0.0 <= prob <= 1.0:
            raise SettingsError(f"ORACLE_FAULTS: {part!r}: probability must be in [0, 1]")
        out[name] = prob
    return out


def arm(spec: str | None, chain_id: int) -> None:
    """Enable the points of `spec` on this process — only on a development chain."""
    points = parse(spec)
    if points and chain_id not in DEV_CHAIN_IDS:
        raise SettingsError(f"ORACLE_FAULTS is refused on chain {chain_id}: fault injection is "
                            "for development chains only")
    _armed.clear()
    _armed.update(points)
    if points:
        log.warning("fault injection armed", extra={"points": points})


def disarm() -> None:
    _armed.clear()


def hit(point: str) -> None:
    """Die here if `point` is armed and its dice say so."""
    prob = _armed.get(point)
    if prob and _rng.random() < prob:
        log.warning("fault injected", extra={"point": point})
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
