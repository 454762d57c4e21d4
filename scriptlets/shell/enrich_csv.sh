#!/usr/bin/env bash
# NAME: enrich_csv.sh
# DESC: Copies a CSV and appends one computed column: a numeric column multiplied by a
#       factor (default: doubled). Idempotent: OUTPUT is rewritten from INPUT on every run
#       (through a temporary file, then mv); it refuses an INPUT that already has the column.
# USAGE: INPUT=<csv> OUTPUT=<csv> [COLUMN=value] [FACTOR=2] [NEW_COLUMN=<COLUMN>_scaled] [CTX_KEY=<ctx key>] scriptlets/shell/enrich_csv.sh
#   INPUT       CSV to read (first line: header), relative to the project root (steps run there)
#   OUTPUT      CSV to write, relative to the project root; its folder is created; not INPUT
#   COLUMN      header name of the numeric column to scale (default: value)
#   FACTOR      number to multiply by (default: 2)
#   NEW_COLUMN  header of the appended column (default: <COLUMN>_scaled)
#   CTX_KEY     optional: the envelope also carries "ctx": {CTX_KEY: OUTPUT}, which the runner
#               writes to ctx as the step (or use `save:` in the recipe instead)
# READS: none
# OUTPUTS: {CTX_KEY}
# PARAMS:
#   - INPUT: str, required: CSV to read
#   - OUTPUT: str, required: CSV to write
#   - COLUMN: str, optional (default "value"): numeric column to scale
#   - FACTOR: float, optional (default 2): number to multiply by
#   - NEW_COLUMN: str, optional: header of the appended column
#   - CTX_KEY: str, optional: ctx key the envelope sets to OUTPUT
# LIMITATIONS:
#   - Line-based, no CSV quoting: header names and the scaled field must not contain commas
#     or quotes. Run sanitize_csv.sh first: blank rows are skipped here but reported.
#   - Numbers are plain decimals or exponent notation; results print with up to 15
#     significant digits (awk doubles).
#   - Paths must be valid UTF-8 (they are echoed in the JSON envelope).
# EXAMPLES:
#   INPUT=Data/sanitized_numbers.csv OUTPUT=Data/enriched_numbers.csv scriptlets/shell/enrich_csv.sh
#   INPUT=Data/sanitized_numbers.csv OUTPUT=Data/tripled.csv FACTOR=3 NEW_COLUMN=value_x3 scriptlets/shell/enrich_csv.sh
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","output":"Data/enriched_numbers.csv","rows":5,"column":"value_scaled",
#            "artifacts":["Data/enriched_numbers.csv"],"metrics":{"rows":5,"skipped_blank":0},"warnings":[]}
#           (plus "ctx":{"<CTX_KEY>":"<OUTPUT>"} and "outputs":["<CTX_KEY>"] when CTX_KEY is set)
#   exit 1: {"status":"error","reason":"line 4: value \"n/a\" in column value is not a number","exit_code":1,...}
set -euo pipefail

# shellcheck source=lib/envelope.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
envelope_init enrich_csv.sh INPUT OUTPUT

INPUT="${INPUT:?missing INPUT}"
OUTPUT="${OUTPUT:?missing OUTPUT}"
COLUMN="${COLUMN:-value}"
FACTOR="${FACTOR:-2}"
NEW_COLUMN="${NEW_COLUMN:-${COLUMN}_scaled}"
CTX_KEY="${CTX_KEY:-}"

NUMBER_RE='^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'
[[ -f $INPUT && -r $INPUT ]] || fail "INPUT not found or not readable: $INPUT (paths are relative to the project root)"
if [[ -e $OUTPUT && $INPUT -ef $OUTPUT ]]; then fail "OUTPUT must differ from INPUT ($OUTPUT): enrich_csv.sh does not edit in place"; fi
[[ $FACTOR =~ $NUMBER_RE ]] || fail "FACTOR is not a number: $FACTOR"
[[ $NEW_COLUMN != *[,\"]* && -n $NEW_COLUMN ]] || fail "NEW_COLUMN must be a non-empty name without commas or quotes: $NEW_COLUMN"
warnings=()
if [[ $OUTPUT == /* ]]; then warnings+=("OUTPUT is an absolute path; ctx should hold paths relative to the project root"); fi

mkdir -p -- "$(dirname -- "$OUTPUT")"
tmp=$(tmp_file "$OUTPUT")
track_tmp "$tmp"
result=$(mktemp)
track_tmp "$result"

log "enriching $INPUT -> $OUTPUT ($NEW_COLUMN = $COLUMN * $FACTOR)"
# awk reports through RESULT_FILE: "ok <rows> <skipped_blank>" or "error <reason>".
# Names and numbers come through ENVIRON, not -v, so backslashes are taken literally.
status=0
COLUMN=$COLUMN FACTOR=$FACTOR NEW_COLUMN=$NEW_COLUMN RESULT_FILE=$result awk '
  function trim(s) { gsub(/^[ \t"]+|[ \t"]+$/, "", s); return s }
  function finish(message) { print message > ENVIRON["RESULT_FILE"]; failed = 1; exit 3 }
  BEGIN { FS = ","; CONVFMT = "%.15g"; OFMT = "%.15g"; factor = ENVIRON["FACTOR"] + 0 }
  { sub(/\r$/, "") }
  /^[ \t,]*$/ { if (header) skipped++; next }
  !header {
    for (i = 1; i <= NF; i++) {
      name = trim($i)
      if (name == ENVIRON["NEW_COLUMN"]) finish("error column " ENVIRON["NEW_COLUMN"] " already exists in the header: is INPUT already enriched?")
      if (name == ENVIRON["COLUMN"] && !col) col = i
    }
    if (!col) finish("error no column " ENVIRON["COLUMN"] " in the header: " $0)
    header = 1
    print $0 "," ENVIRON["NEW_COLUMN"]
    next
  }
  {
    if (col > NF) finish("error line " NR ": no field " col " (" ENVIRON["COLUMN"] ") in: " $0)
    v = $col
    if (v !~ /^[ \t]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?[ \t]*$/) finish("error line " NR ": value \"" v "\" in column " ENVIRON["COLUMN"] " is not a number")
    scaled = (v + 0) * factor
    print $0 "," scaled
    rows++
  }
  END {
    if (failed) exit 3
    if (!header) finish("error INPUT has no header row (the file is empty or blank)")
    printf "ok %d %d\n", rows, skipped > ENVIRON["RESULT_FILE"]
  }
' "$INPUT" >"$tmp" || status=$?

read -r outcome rest <"$result" || true
if [[ ${outcome:-} != ok ]]; then
  fail "${rest:-awk failed with exit code $status}"
fi
read -r rows skipped_blank <<<"$rest"
publish "$tmp" "$OUTPUT"
((rows > 0)) || warnings+=("no data rows in $INPUT")
((skipped_blank == 0)) || warnings+=("skipped $skipped_blank blank rows (run sanitize_csv.sh first)")
log "wrote $rows rows with $NEW_COLUMN"

warnings_json=''
for w in ${warnings[@]+"${warnings[@]}"}; do warnings_json+="${warnings_json:+,}$(json_str "$w")"; done
out=$(json_str "$OUTPUT")
extra=''
if [[ -n $CTX_KEY ]]; then extra=",\"outputs\":[$(json_str "$CTX_KEY")],\"ctx\":{$(json_str "$CTX_KEY"):$out}"; fi
emit "{\"status\":\"ok\",\"output\":$out,\"rows\":$rows,\"column\":$(json_str "$NEW_COLUMN"),\"artifacts\":[$out],\"metrics\":{\"rows\":$rows,\"skipped_blank\":$skipped_blank},\"warnings\":[$warnings_json]$extra}"
