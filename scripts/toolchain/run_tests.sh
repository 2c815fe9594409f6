#!/usr/bin/env bash
# The whole test suite, as CI runs it (`make test`):
#   1. slither   — static analysis; fails on a High/Medium finding not triaged
#   2. anvil     — every test (contracts, models, oracle, scripts) on anvil
#   3. ganache   — the tests marked `ganache` on Ganache 7.9.2
#   4. demo      — the main job end to end on anvil, then once on Ganache
# Extra arguments go to both brownie test runs (e.g. `-x`, `-k name`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv/bin"

# One labelled step. pytest exits 5 when it collected nothing: that is neither a pass nor an
# ordinary failure, so say so and fail rather than let an empty run look green.
run_step() {
  local label="$1"; shift
  echo "=== $label: $* ==="
  "$@"
  local rc=$?
  case $rc in
    0) echo "=== $label: passed ===" ;;
    5) echo "=== $label: no tests were collected (pytest exit 5) — treated as a failure ===" >&2 ;;
    *) echo "=== $label: failed (exit $rc) ===" >&2 ;;
  esac
  return $rc
}

status=0
# Slither over contracts/: each triaged finding is explained in reports/security.md. ~1 min.
run_step slither "$VENV/python" scripts/toolchain/slither.py || status=1
run_step anvil "$VENV/brownie" test tests --network development "$@" || status=1
run_step ganache "$VENV/brownie" test tests -m ganache --network ganache-cli "$@" || status=1
# The demo checks itself (every request scored, audit verified, books balance, v1 revoked) and
# exits non-zero otherwise; its CI reports go to build/ so reports/demo.md stays `make demo`'s.
mkdir -p build
run_step demo-anvil "$VENV/python" -m scripts.demo --chain anvil --report build/demo-anvil.md || status=1
run_step demo-ganache "$VENV/python" -m scripts.demo --chain ganache --report build/demo-ganache.md || status=1
exit $status
