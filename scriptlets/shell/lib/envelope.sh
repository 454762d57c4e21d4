# shellcheck shell=bash
# NAME: lib/envelope.sh
# DESC: Shared helpers of the shell scriptlets (sourced, not run): logs on stderr, JSON string
#       escaping, the single JSON envelope line on stdout, and a safety net that prints an
#       error envelope when a script stops before printing its own (a missing ${VAR:?...}
#       input, a failing command under `set -e`).
# USAGE:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
#   envelope_init sanitize_csv.sh INPUT OUTPUT   # script name, then the required variables
#   log "reading $INPUT"                         # stderr only
#   emit "{\"status\":\"ok\",\"output\":$(json_str "$OUTPUT")}"
#   fail "INPUT not found: $INPUT"               # error envelope, exit 1
# LIMITATIONS:
#   - bash 4+. Strings must be valid UTF-8 for the envelope to be valid JSON; quotes,
#     backslashes and control characters are escaped.
#   - emit prints what it is given: build the JSON with json_str for every string value.
# RETURNS: nothing (library).

ENVELOPE_NAME=${ENVELOPE_NAME:-shell scriptlet}
ENVELOPE_SENT=
ENVELOPE_REQUIRED=()
ENVELOPE_TMP_FILES=()
_ENVELOPE_FAILED_CMD=
_ENVELOPE_FAILED_LINE=

# log MESSAGE...: one human-readable line on stderr (never stdout: stdout is the envelope).
log() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ENVELOPE_NAME" "$*" >&2
}

# json_str STRING: prints STRING as a JSON string literal, quotes included.
json_str() {
  local LC_ALL=C
  local s=$1 out='' c hex i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      '"') out+='\"' ;;
      '\') out+='\\' ;;
      [[:cntrl:]])
        printf -v hex '\\u%04x' "'$c"
        out+=$hex
        ;;
      *) out+=$c ;;
    esac
  done
  printf '"%s"' "$out"
}

# emit JSON: prints the envelope line; call it once.
emit() {
  if [[ -n $ENVELOPE_SENT ]]; then
    log "internal: a second envelope was not printed: $1"
    return 0
  fi
  ENVELOPE_SENT=1
  printf '%s\n' "$1"
}

# fail REASON [EXIT_CODE]: prints the error envelope and exits (default exit code 1).
fail() {
  local reason=$1 code=${2:-1}
  log "error: $reason"
  emit "{\"status\":\"error\",\"reason\":$(json_str "$reason"),\"exit_code\":$code,\"step\":$(json_str "${RECIPES_STEP:-$ENVELOPE_NAME}"),\"ts\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  exit "$code"
}

# tmp_file TARGET: prints a new temporary file next to TARGET, removed when the script ends
# (write there, then mv onto TARGET: readers never see a half-written file).
# Call it as `tmp=$(tmp_file "$OUTPUT")`, then `track_tmp "$tmp"` in the main shell.
tmp_file() {
  mktemp "$1.tmp.XXXXXX"
}
track_tmp() {
  ENVELOPE_TMP_FILES+=("$1")
}

# publish TMP TARGET: gives TMP the usual permissions (mktemp makes it 0600), then moves it
# onto TARGET in one step.
publish() {
  local mode
  mode=$(printf '%o' $((0666 & ~0$(umask))))
  chmod "$mode" -- "$1"
  mv -f -- "$1" "$2"
}

_envelope_on_exit() {
  local rc=$? missing=() name reason
  if ((${#ENVELOPE_TMP_FILES[@]})); then rm -f -- "${ENVELOPE_TMP_FILES[@]}"; fi
  [[ -n $ENVELOPE_SENT ]] && return "$rc"
  for name in ${ENVELOPE_REQUIRED[@]+"${ENVELOPE_REQUIRED[@]}"}; do
    [[ -n ${!name:-} ]] || missing+=("$name")
  done
  if ((${#missing[@]})); then
    printf -v reason '%s, ' "${missing[@]}"
    reason="missing ${reason%, } (environment variables: set them in the step's mapping args)"
  elif [[ -n $_ENVELOPE_FAILED_CMD ]]; then
    reason="command failed with exit code $rc at line $_ENVELOPE_FAILED_LINE: $_ENVELOPE_FAILED_CMD"
  else
    reason="stopped with exit code $rc before printing its envelope (see stderr)"
  fi
  trap - EXIT
  fail "$reason" 1
}

# envelope_init NAME [REQUIRED_VAR...]: names the script in logs and errors and installs the
# safety net. Call it right after sourcing, before reading any input.
envelope_init() {
  ENVELOPE_NAME=$1
  shift
  ENVELOPE_REQUIRED=("$@")
  set -E
  trap '_ENVELOPE_FAILED_CMD=$BASH_COMMAND; _ENVELOPE_FAILED_LINE=$LINENO' ERR
  trap _envelope_on_exit EXIT
}
