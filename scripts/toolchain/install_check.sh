#!/usr/bin/env bash
# The oracle installs on its own (issue 12): a fresh venv without brownie, `pip install .` (the
# runtime dependencies and package data declared in pyproject.toml), then, from a directory
# outside the checkout so nothing is imported from the source tree:
#   1. `oracle --help` / `--version`, every node module imports, and brownie is absent;
#   2. the packaged default bundle checks against its manifest, its directory has the checkout's
#      IPFS CID (the registered URI), and it scores a row exactly as the checkout does (the
#      development venv computes the same for comparison);
#   3. `oracle disclose --csv` (a real command: bundle, schema, CSV parsing, a 0600 file);
#   4. with a chain (SCORECHAIN_INSTALL_CHECK_NETWORK=<brownie network>): the installed `oracle
#      verify --disclosure` against scores that oracle nodes recorded on a local anvil
#      (tests/oracle/integration/test_verify_disclosure.py with SCORECHAIN_ORACLE_CLI).
# Uses -c requirements/brownie-constraints.txt so the install resolves to the tested versions;
# brownie itself is never requested. Run by scripts/toolchain/run_tests.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEV="$ROOT/.venv/bin/python"
WORK="$ROOT/build/install-check"
rm -rf "$WORK"
mkdir -p "$WORK/run"
log() { echo "[install-check] $*"; }

log "fresh venv (no brownie) in $WORK/venv"
"$DEV" -m venv "$WORK/venv"
V="$WORK/venv/bin"
# (as in setup.sh: only pip's warnings about this machine's absent extra indexes are dropped)
"$V/python" -m pip --disable-pip-version-check -q install \
  -c "$ROOT/requirements/brownie-constraints.txt" "$ROOT" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
rm -rf "$ROOT/build/lib" "$ROOT/build/bdist."*  # setuptools' in-tree build leftovers

cd "$WORK/run"  # not the checkout: imports must come from the installed package
if "$V/python" -c "import brownie" 2>/dev/null; then
  echo "[install-check] brownie is importable in the fresh venv" >&2; exit 1
fi
"$V/python" - <<'EOF'
import oracle, models
for m in (oracle, models):
    assert "site-packages" in m.__file__, f"{m.__name__} imported from {m.__file__}"
# every module of the node imports with only the declared dependencies (serve: FastAPI, uvicorn)
import oracle.app, oracle.audit, oracle.daemon, oracle.evidence, oracle.http, oracle.metrics  # noqa
# the explorer's templates and stylesheet are package data: the installed app must find them
import oracle.explorer.app as explorer
from pathlib import Path
assert (Path(explorer.HERE) / "templates" / "loan.html").is_file(), "explorer templates not installed"
assert (Path(explorer.HERE) / "static" / "explorer.css").is_file(), "explorer stylesheet not installed"
explorer.create_app  # noqa
EOF
"$V/oracle" --help > /dev/null
log "$("$V/oracle" --version)"

bundle="$("$V/python" -c 'from oracle.settings import DEFAULT_MODEL_PATH as p; print(p)')"
installed_id="$("$V/python" -m models manifest "$bundle" --check)"
checkout_id="$(sha256sum "$ROOT/models/default/manifest.json" | cut -d' ' -f1)"
[ "$installed_id" = "$checkout_id" ] || { echo "[install-check] bundle id $installed_id != $checkout_id" >&2; exit 1; }
log "packaged bundle $installed_id checks against its manifest"
# The packaged directory is the one registered (ipfs://<cid>): every bundle file must be shipped.
CID='import sys; from oracle.content_id import path_cid; print(path_cid(sys.argv[1]))'
installed_cid="$("$V/python" -c "$CID" "$bundle")"
checkout_cid="$(cd "$ROOT" && "$DEV" -c "$CID" models/default)"
[ "$installed_cid" = "$checkout_cid" ] || { echo "[install-check] bundle CID $installed_cid != $checkout_cid" >&2; exit 1; }
log "packaged bundle directory has the checkout's IPFS CID $installed_cid"

SCORE='
import json
from oracle.scoring import load_model
from oracle.settings import DEFAULT_MODEL_PATH
row = {"RevolvingUtilizationOfUnsecuredLines": 0.8, "age": 41, "NumberOfTime30-59DaysPastDueNotWorse": 1,
       "DebtRatio": 0.45, "MonthlyIncome": 3200, "NumberOfOpenCreditLinesAndLoans": 7,
       "NumberOfTimes90DaysLate": 0, "NumberRealEstateLoansOrLines": 1,
       "NumberOfTime60-89DaysPastDueNotWorse": 0, "NumberOfDependents": None}
from models.schema import validate_row
m = load_model(DEFAULT_MODEL_PATH)
p = m.predict(validate_row(m.schema, row))
print(json.dumps([m.model_id_hex, p.pd_bps, p.score, p.reason_codes_packed]))
'
installed="$("$V/python" -c "$SCORE")"
checkout="$(cd "$ROOT" && "$DEV" -c "$SCORE")"
[ "$installed" = "$checkout" ] || { echo "[install-check] installed $installed != checkout $checkout" >&2; exit 1; }
log "scores a row as the checkout does: $installed"

# A made-up borrower and a public, fixed features-commitment salt (32 bytes of 0x22): test data
# for the disclosure export, not a key.
BORROWER="0x$(printf '11%.0s' $(seq 20))"
SALT="0x$(printf '22%.0s' $(seq 32))"
cat > row.csv <<EOF
borrower,salt,RevolvingUtilizationOfUnsecuredLines,age,NumberOfTime30-59DaysPastDueNotWorse,DebtRatio,MonthlyIncome,NumberOfOpenCreditLinesAndLoans,NumberOfTimes90DaysLate,NumberRealEstateLoansOrLines,NumberOfTime60-89DaysPastDueNotWorse,NumberOfDependents
$BORROWER,$SALT,0.8,41,1,0.45,3200,7,0,1,0,
EOF
env -u ORACLE_MODEL_PATH "$V/oracle" disclose "$BORROWER" --csv row.csv --out d.json > /dev/null
[ "$(stat -c %a d.json)" = "600" ] || { echo "[install-check] disclosure is not mode 600" >&2; exit 1; }
log "oracle disclose --csv wrote a disclosure (mode 600)"

if [ -n "${SCORECHAIN_INSTALL_CHECK_NETWORK:-}" ]; then
  log "installed oracle verify --disclosure on ${SCORECHAIN_INSTALL_CHECK_NETWORK}"
  cd "$ROOT"
  SCORECHAIN_ORACLE_CLI="$V/oracle" "$ROOT/.venv/bin/brownie" test \
    tests/oracle/integration/test_verify_disclosure.py --network "$SCORECHAIN_INSTALL_CHECK_NETWORK"
fi
rm -rf "$WORK"  # a throwaway venv of ~270 MB; nothing in it is needed after the check
log "passed"
