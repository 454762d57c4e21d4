#!/usr/bin/env bash
# NAME: stream_samples.sh
# DESC: A producer that publishes measurements into the running recipe's ctx one by one while
#       it runs (the older framework's update_state.sh from a step), so a consumer step, the
#       dashboard (`npx recipes dashboard`) or `npx recipes ctx get <KEY>` sees them arrive.
#       Reports its progress with ::progress:: lines on stderr.
# USAGE: [COUNT=<n>] [INTERVAL=<seconds>] [KEY=<ctx key>] scriptlets/shell/stream_samples.sh
#   COUNT     how many samples to publish (default 10)
#   INTERVAL  seconds between two samples (default 0.1)
#   KEY       the ctx list they are appended to (default live.samples_v1)
# PARAMS:
#   - COUNT: int, optional (default 10): how many samples to publish
#   - INTERVAL: float, optional (default 0.1): seconds between two samples
#   - KEY: str, optional (default "live.samples_v1"): the ctx list they are appended to
# LIMITATIONS:
#   - Needs a running recipe's ctx server (RECIPES_CTX_URL, RECIPES_CTX_TOKEN and RECIPES_CLI,
#     which every step gets; not with the plugin option ctxServer: false).
#   - The samples are made up (a sine-like wave of whole numbers): it shows the flow, not a lab.
# EXAMPLES:
#   COUNT=20 INTERVAL=0.5 scriptlets/shell/stream_samples.sh   (inside a step of a running recipe)
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","outputs":["live.samples_v1"],"metrics":{"samples":10}}
#   exit 1: {"status":"error","reason":"could not publish sample 3: ...","exit_code":1,...}
#   exit 2: {"status":"error","reason":"no ctx server ...","exit_code":2,...}
set -euo pipefail

# shellcheck source=lib/envelope.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
envelope_init stream_samples.sh

COUNT="${COUNT:-10}"
INTERVAL="${INTERVAL:-0.1}"
KEY="${KEY:-live.samples_v1}"
if [[ -z ${RECIPES_CTX_URL:-} || -z ${RECIPES_CLI:-} ]]; then
  emit "{\"status\":\"error\",\"reason\":$(json_str "no ctx server: run this as a step of a running recipe (the plugin option ctxServer must not be false)"),\"exit_code\":2}"
  exit 2
fi

wave=(50 59 67 73 75 73 67 59 50 41)
for ((i = 1; i <= COUNT; i++)); do
  sample=${wave[$(((i - 1) % ${#wave[@]}))]}
  if ! problem=$(node "$RECIPES_CLI" ctx append "$KEY" "$sample" 2>&1 >/dev/null); then
    fail "could not publish sample $i: $problem"
  fi
  echo "::progress::$((i * 100 / COUNT)) sample $i of $COUNT" >&2
  sleep "$INTERVAL"
done
log "published $COUNT samples to $KEY"
emit "{\"status\":\"ok\",\"outputs\":[$(json_str "$KEY")],\"metrics\":{\"samples\":$COUNT}}"
