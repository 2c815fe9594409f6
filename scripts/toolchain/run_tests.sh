#!/usr/bin/env bash
# The whole test suite: every test on anvil, then the tests marked `ganache` on Ganache 7.9.2.
# Extra arguments go to both brownie runs (e.g. `-x`, `-k name`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BROWNIE="$ROOT/.venv/bin/brownie"

# pytest exits 5 when it collected nothing: that is neither a pass nor an ordinary failure,
# so say so and fail rather than let an empty run look green.
run_pass() {
  local label="$1"; shift
  echo "=== $label: brownie test $* ==="
  "$BROWNIE" test "$@"
  local rc=$?
  case $rc in
    0) echo "=== $label: passed ===" ;;
    5) echo "=== $label: no tests were collected (pytest exit 5) — treated as a failure ===" >&2 ;;
    *) echo "=== $label: failed (exit $rc) ===" >&2 ;;
  esac
  return $rc
}

status=0
run_pass "anvil" tests --network development "$@" || status=1
run_pass "ganache" tests -m ganache --network ganache-cli "$@" || status=1
exit $status
