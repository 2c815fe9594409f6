#!/usr/bin/env bash
# The whole test suite, as CI runs it (`make test`):
#   1. slither   — static analysis; fails on a High/Medium finding not triaged (reports to build/)
#      ruff      — the configured linter
#      install   — the oracle in a fresh venv without brownie (scripts/toolchain/install_check.sh)
#   2. models    — the model tests (no chain), on both cores (pytest-xdist)
#      anvil     — every other test (contracts, oracle, scripts) on anvil, two workers
#   3. ganache   — the tests marked `ganache` on Ganache 7.9.2
#   4. demo      — the main job end to end on anvil, then once on Ganache
# Extra arguments go to both brownie test runs (e.g. `-x`, `-k name`).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# anvil writes the states it evicts from memory under ~/.foundry/anvil/tmp and a killed anvil (as
# brownie stops it) never removes them: runs piled up until the disk was full (80 GB seen, every
# later run failing). The whole suite runs under the wrapper that removes what its anvils left.
if [ -z "${SCORECHAIN_ANVIL_LEFTOVERS_HANDLED:-}" ]; then
  SCORECHAIN_ANVIL_LEFTOVERS_HANDLED=1 exec bash scripts/toolchain/without_anvil_leftovers.sh \
    env SCORECHAIN_ANVIL_LEFTOVERS_HANDLED=1 bash "$ROOT/scripts/toolchain/run_tests.sh" "$@"
fi
VENV="$ROOT/.venv/bin"

# One labelled, timed step with a time limit (minutes). A hung chain or test must fail its own
# step with a clear message rather than run into CI's limit for the whole job; the limits are
# several times each step's usual duration (SCORECHAIN_STEP_TIMEOUT_SCALE multiplies them).
# pytest exits 5 when it collected nothing: that is neither a pass nor an ordinary failure, so
# say so and fail rather than let an empty run look green.
run_step() {
  local label="$1" minutes="$2"; shift 2
  local limit=$(( minutes * ${SCORECHAIN_STEP_TIMEOUT_SCALE:-1} ))
  local started=$SECONDS
  echo "=== $label: $* (limit ${limit} min) ==="
  timeout --kill-after=30 "${limit}m" "$@"
  local rc=$? took=$(( SECONDS - started ))
  case $rc in
    0) echo "=== $label: passed in ${took} s ===" ;;
    5) echo "=== $label: no tests were collected (pytest exit 5) — treated as a failure ===" >&2 ;;
    124|137) echo "=== $label: stopped after its ${limit} min limit — something hung ===" >&2 ;;
    *) echo "=== $label: failed (exit $rc) after ${took} s ===" >&2 ;;
  esac
  return $rc
}

status=0
# Slither over contracts/: each triaged finding is explained in reports/security.md. ~1 min.
run_step slither 10 "$VENV/python" scripts/toolchain/slither.py --out-dir build/slither-report || status=1
# The configured linter (pyproject.toml [tool.ruff]).
run_step ruff 2 "$VENV/ruff" check oracle models scripts bench tests || status=1
run_step foundry 10 bash scripts/toolchain/forge.sh test || status=1
# The oracle installs on its own: fresh venv without brownie, `pip install .`, the installed
# `oracle` scores a row as the checkout does and verifies recorded scores on anvil (~2 min).
run_step install 5 env SCORECHAIN_INSTALL_CHECK_NETWORK=development bash scripts/toolchain/install_check.sh || status=1
# The model tests need no chain and are CPU-bound, so they run on both cores apart from the chain
# tests (whose timing they would disturb); ~8 min serial, about half that here.
run_step models 20 "$VENV/python" -m pytest -p no:pytest-brownie tests/models -n 2 -q "$@" || status=1
# Two workers (pytest-xdist, a test file per worker at a time): brownie gives each its own anvil
# (8545, 8546) and the oracle test bed gives each its own port slice; the suite waits mostly on
# one Python process per chain, so the second core almost halves the step (~27 min serial).
run_step anvil 40 "$VENV/brownie" test tests --ignore=tests/models --network development -n 2 "$@" || status=1
run_step ganache 15 "$VENV/brownie" test tests -m ganache --network ganache-cli "$@" || status=1
# The demo checks itself (every request scored, audit verified, books balance, v1 revoked) and
# exits non-zero otherwise; its CI reports go to build/ so reports/demo.md stays `make demo`'s.
mkdir -p build
run_step demo-anvil 15 "$VENV/python" -m scripts.demo --chain anvil --report build/demo-anvil.md || status=1
run_step demo-ganache 15 "$VENV/python" -m scripts.demo --chain ganache --report build/demo-ganache.md || status=1
exit $status
