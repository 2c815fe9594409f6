#!/usr/bin/env bash
# Foundry's forge, from the npm package the set-up installs. The npm wrapper
# (node_modules/.bin/forge) spawns the platform binary but exits 0 whatever forge returns — a failed
# compile or a broken invariant would pass CI — so this calls the binary it wraps directly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shopt -s nullglob
bins=("$ROOT"/node_modules/@foundry-rs/forge-*/bin/forge)
if [ ${#bins[@]} -eq 0 ] || [ ! -x "${bins[0]}" ]; then
  echo "forge: no platform binary under node_modules/@foundry-rs/ — run 'make setup'" >&2
  exit 127
fi
exec "${bins[0]}" "$@"
