"""Port ranges for the oracle test harness, from the environment (a pytest plugin and a helper).

The harness hands out oracle HTTP ports from 9100-9199 and RPC proxy ports from 8700-8799. On a
machine shared with other runs, set

    SCORECHAIN_TEST_PORTS=9200-9299,8800-8899     (HTTP range, proxy range)

and either call `apply()` before the harness is used (in-process benchmarks) or load this module
as a pytest plugin: `PYTHONPATH=bench brownie test ... -p portrange`. Unset, nothing changes.
"""

from __future__ import annotations

import os
import sys


def _parse(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        lo, hi = part.strip().split("-")
        out.append((int(lo), int(hi)))
    return out


def apply(spec: str | None = None) -> bool:
    """Rebind harness.free_port (and the conftest's imported name) to the configured ranges."""
    spec = spec if spec is not None else os.environ.get("SCORECHAIN_TEST_PORTS", "")
    if not spec:
        return False
    ranges = _parse(spec)
    http = ranges[0]
    proxy = ranges[1] if len(ranges) > 1 else ranges[0]
    from tests.oracle.integration import harness

    original = getattr(harness.free_port, "_original", harness.free_port)

    def free_port(lo: int = 9100, hi: int = 9199) -> int:
        lo2, hi2 = http if lo >= 9000 else proxy
        return original(lo2, hi2)

    free_port._original = original
    harness.free_port = free_port
    conftest = sys.modules.get("tests.oracle.integration.conftest")
    if conftest is not None:
        conftest.free_port = free_port
    return True


def pytest_configure(config):  # pytest plugin hook
    apply()
