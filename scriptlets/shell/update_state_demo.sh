#!/usr/bin/env bash
# NAME: update_state_demo.sh
# DESC: The older framework's demo_update_state flow, as a step: drives the running recipe's
#       ctx through every operation of update_state.sh (now `recipes ctx`: set, append, get,
#       pop, delete, full) and checks each answer, as an operations client on another host
#       would. Leaves data.numbers_v1 = [1] and no data.user_v1.
# USAGE: scriptlets/shell/update_state_demo.sh   (inside a step of a running recipe)
# LIMITATIONS:
#   - Needs a running recipe's ctx server (RECIPES_CTX_URL, RECIPES_CTX_TOKEN and RECIPES_CLI).
#   - Answers are checked with grep on the JSON lines, not parsed.
# EXAMPLES:
#   npx recipes ctx set data.user_v1 '{"name":"Alice"}'   (the same operations, by hand)
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","outputs":["demo_update_state.ops_v1"],"ctx":{"demo_update_state.ops_v1":6},"metrics":{"ops":6}}
#   exit 1: {"status":"error","reason":"pop answered ... instead of popped 2","exit_code":1,...}
set -euo pipefail

# shellcheck source=lib/envelope.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
envelope_init update_state_demo.sh

ops=0
# ctx OP ARGS... EXPECTED: runs one operation and checks its JSON answer holds EXPECTED.
ctx() {
  local expected=${*: -1}
  local answer
  answer=$(node "$RECIPES_CLI" ctx "${@:1:$#-1}") || fail "ctx ${*:1:$#-1} failed: $answer"
  [[ $answer == *"$expected"* ]] || fail "ctx ${*:1:$#-1} answered $answer, without $expected"
  log "ctx ${*:1:$#-1} -> $answer"
  ops=$((ops + 1))
}

ctx set data.user_v1 '{"name":"Alice"}' '"value":{"name":"Alice"}'
ctx append data.numbers_v1 1 '"value":[1]'
ctx append data.numbers_v1 2 '"value":[1,2]'
ctx get data.numbers_v1 '"value":[1,2]'
ctx pop data.numbers_v1 '"popped":2'
ctx delete data.user_v1 '"exists":false'
emit "{\"status\":\"ok\",\"outputs\":[\"demo_update_state.ops_v1\"],\"ctx\":{\"demo_update_state.ops_v1\":$ops},\"metrics\":{\"ops\":$ops}}"
