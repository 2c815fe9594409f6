#!/usr/bin/env bash
# Run a command, then remove the evicted-state directories its anvils left under
# ~/.foundry/anvil/tmp (a killed anvil never removes its own; an hour's soak wrote ~3 GB).
# Only directories created while the command ran are touched.
set -uo pipefail
ANVIL_TMP="${HOME}/.foundry/anvil/tmp"
mkdir -p "$ANVIL_TMP"
marker="$(mktemp "${TMPDIR:-/tmp}/scorechain-run.XXXXXX")"
trap 'find "$ANVIL_TMP" -maxdepth 1 -name "anvil-state-*" -newer "$marker" -exec rm -rf {} + 2>/dev/null; rm -f "$marker"' EXIT
"$@"
