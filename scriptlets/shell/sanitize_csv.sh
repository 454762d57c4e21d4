#!/usr/bin/env bash
# NAME: sanitize_csv.sh
# DESC: Copies a CSV without its empty rows and without the rows that contain a forbidden
#       word. The header (the first non-empty line) is always kept. Idempotent: OUTPUT is
#       rewritten from INPUT on every run (through a temporary file, then mv).
# USAGE: INPUT=<csv> OUTPUT=<csv> [FORBIDDEN=<word[,word...]>] [CTX_KEY=<ctx key>] scriptlets/shell/sanitize_csv.sh
#   INPUT      CSV to read, relative to the project root (steps run there)
#   OUTPUT     CSV to write, relative to the project root; its folder is created; not INPUT
#   FORBIDDEN  comma-separated words; a row containing one of them is dropped
#              (case-insensitive substring match; default: forbidden)
#   CTX_KEY    optional: the envelope also carries "ctx": {CTX_KEY: OUTPUT}, which the runner
#              writes to ctx as the step (or use `save:` in the recipe instead)
# READS: none
# OUTPUTS: {CTX_KEY}
# PARAMS:
#   - INPUT: str, required: CSV to read
#   - OUTPUT: str, required: CSV to write
#   - FORBIDDEN: str, optional (default "forbidden"): comma-separated words that drop a row
#   - CTX_KEY: str, optional: ctx key the envelope sets to OUTPUT
# LIMITATIONS:
#   - Line-based, no CSV quoting: a quoted field holding a newline is split into two rows,
#     and a forbidden word inside any field (quoted or not) drops the row.
#   - A row is empty when it holds nothing but spaces, tabs and commas.
#   - Case-insensitivity covers ASCII letters only. CRLF line endings become LF.
#   - Paths must be valid UTF-8 (they are echoed in the JSON envelope).
# EXAMPLES:
#   INPUT=Data/raw_numbers.csv OUTPUT=Data/sanitized_numbers.csv scriptlets/shell/sanitize_csv.sh
#   INPUT=Data/raw_numbers.csv OUTPUT=/tmp/clean.csv FORBIDDEN='forbidden,n/a' scriptlets/shell/sanitize_csv.sh
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","output":"Data/sanitized_numbers.csv","rows":5,"artifacts":["Data/sanitized_numbers.csv"],
#            "metrics":{"rows":5,"dropped_forbidden":2,"dropped_empty":3},"warnings":[]}
#           (plus "ctx":{"<CTX_KEY>":"<OUTPUT>"} and "outputs":["<CTX_KEY>"] when CTX_KEY is set)
#   exit 1: {"status":"error","reason":"INPUT not found: Data/nope.csv","exit_code":1,"step":"...","ts":"..."}
set -euo pipefail

# shellcheck source=lib/envelope.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
envelope_init sanitize_csv.sh INPUT OUTPUT

INPUT="${INPUT:?missing INPUT}"
OUTPUT="${OUTPUT:?missing OUTPUT}"
FORBIDDEN="${FORBIDDEN:-forbidden}"
CTX_KEY="${CTX_KEY:-}"

[[ -f $INPUT && -r $INPUT ]] || fail "INPUT not found or not readable: $INPUT (paths are relative to the project root)"
if [[ -e $OUTPUT && $INPUT -ef $OUTPUT ]]; then fail "OUTPUT must differ from INPUT ($OUTPUT): sanitize_csv.sh does not edit in place"; fi
warnings=()
if [[ $OUTPUT == /* ]]; then warnings+=("OUTPUT is an absolute path; ctx should hold paths relative to the project root"); fi

mkdir -p -- "$(dirname -- "$OUTPUT")"
tmp=$(tmp_file "$OUTPUT")
track_tmp "$tmp"
stats=$(mktemp)
track_tmp "$stats"

log "sanitizing $INPUT -> $OUTPUT (forbidden: $FORBIDDEN)"
# Words come through ENVIRON, not -v, so backslashes in them are taken literally.
FORBIDDEN=$FORBIDDEN STATS_FILE=$stats awk '
  BEGIN {
    n = split(tolower(ENVIRON["FORBIDDEN"]), words, ",")
    for (i = 1; i <= n; i++) gsub(/^[ \t]+|[ \t]+$/, "", words[i])
  }
  { sub(/\r$/, "") }
  {
    probe = $0
    gsub(/[ \t,]/, "", probe)
    if (probe == "") { empty++; next }
  }
  !header { print; header = 1; next }
  {
    line = tolower($0)
    for (i = 1; i <= n; i++) if (words[i] != "" && index(line, words[i]) > 0) { forbidden++; next }
    print
    kept++
  }
  END { printf "%d %d %d %d\n", header, kept, forbidden, empty > ENVIRON["STATS_FILE"] }
' "$INPUT" >"$tmp"

read -r has_header rows dropped_forbidden dropped_empty <"$stats"
((has_header)) || fail "INPUT has no header row (the file is empty or blank): $INPUT"
publish "$tmp" "$OUTPUT"
((rows > 0)) || warnings+=("no data rows left after sanitizing $INPUT")
log "kept $rows rows; dropped $dropped_forbidden with a forbidden word and $dropped_empty empty"

warnings_json=''
for w in ${warnings[@]+"${warnings[@]}"}; do warnings_json+="${warnings_json:+,}$(json_str "$w")"; done
out=$(json_str "$OUTPUT")
extra=''
if [[ -n $CTX_KEY ]]; then extra=",\"outputs\":[$(json_str "$CTX_KEY")],\"ctx\":{$(json_str "$CTX_KEY"):$out}"; fi
emit "{\"status\":\"ok\",\"output\":$out,\"rows\":$rows,\"artifacts\":[$out],\"metrics\":{\"rows\":$rows,\"dropped_forbidden\":$dropped_forbidden,\"dropped_empty\":$dropped_empty},\"warnings\":[$warnings_json]$extra}"
