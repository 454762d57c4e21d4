#!/usr/bin/env bash
# NAME: count_words.sh
# DESC: Counts the words of TEXT.
# USAGE: TEXT=<text> scriptlets/shell/count_words.sh
#   TEXT  the text to count (required)
# READS: none
# OUTPUTS: none (the recipe saves the words field with save:)
# PARAMS:
#   - TEXT: str, required: the text to count
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","words":8,"metrics":{"words":8}}
#   exit 3: {"status":"error","reason":"TEXT is not set","exit_code":3}
set -euo pipefail

if [ -z "${TEXT:-}" ]; then
  echo '{"status":"error","reason":"TEXT is not set","exit_code":3}'
  exit 3
fi
words=$(printf '%s\n' "$TEXT" | wc -w | tr -d ' ')
echo "counted $words words" >&2
printf '{"status":"ok","words":%d,"metrics":{"words":%d}}\n' "$words" "$words"
