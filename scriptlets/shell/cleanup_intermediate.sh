#!/usr/bin/env bash
# NAME: cleanup_intermediate.sh
# DESC: Removes the intermediate artifacts a recipe no longer needs (the older framework's
#       cleanup_intermediate.py) and records what it removed in ctx. Idempotent: a file that
#       is already gone is not an error, so a second run removes nothing and still passes.
# USAGE: FILES=<path[,path...]> [CTX_KEY=cleanup.removed_v1] scriptlets/shell/cleanup_intermediate.sh
#   FILES    comma-separated files to remove, relative to the project root and inside Data/
#            (steps run in the root); folders are refused
#   CTX_KEY  ctx key of the list of removed files (default: cleanup.removed_v1)
# READS: none
# OUTPUTS: cleanup.removed_v1
# PARAMS:
#   - FILES: str, required: comma-separated paths under Data/ to remove
#   - CTX_KEY: str, optional (default cleanup.removed_v1): ctx key the removed paths go to
# LIMITATIONS:
#   - Paths may not contain commas, be absolute, contain ".." or lead outside Data/ (through
#     a symlinked folder either); a symlink itself is removed, never what it points to.
#   - Removes files only: a folder listed in FILES fails the step.
# EXAMPLES:
#   FILES=Data/normalized.json,Data/artifacts_enriched.csv scriptlets/shell/cleanup_intermediate.sh
# RETURNS: exactly one JSON line on stdout (logs go to stderr):
#   exit 0: {"status":"ok","outputs":["cleanup.removed_v1"],"ctx":{"cleanup.removed_v1":["Data/normalized.json"]},
#            "removed":["Data/normalized.json"],"metrics":{"removed":1,"absent":0},"warnings":[]}
#   exit 3: {"status":"error","reason":"FILES: /etc/passwd is not a relative path under Data/","exit_code":3,...}
set -euo pipefail

# shellcheck source=lib/envelope.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/envelope.sh"
envelope_init cleanup_intermediate.sh FILES

FILES="${FILES:?missing FILES}"
CTX_KEY="${CTX_KEY:-cleanup.removed_v1}"

data_dir=$(realpath -m -- Data)
IFS=',' read -r -a paths <<<"$FILES"
checked=()
for raw in "${paths[@]}"; do
  path="${raw#"${raw%%[![:space:]]*}"}"
  path="${path%"${path##*[![:space:]]}"}"
  [[ -n $path ]] || continue
  case /$path/ in
    //* | */../* | */./*) fail "FILES: $path is not a relative path under Data/" 3 ;;
  esac
  [[ $path == Data/?* ]] || fail "FILES: $path is not a relative path under Data/" 3
  # The folder holding it must really be Data/ or below (no symlinked folder leading out).
  parent=$(realpath -m -- "$(dirname -- "$path")")
  [[ $parent == "$data_dir" || $parent == "$data_dir"/* ]] || fail "FILES: $path leads outside Data/" 3
  if [[ -d $path && ! -L $path ]]; then fail "FILES: $path is a folder; cleanup_intermediate.sh removes files only" 3; fi
  checked+=("$path")
done

removed_json=''
removed=0
absent=0
for path in ${checked[@]+"${checked[@]}"}; do
  if [[ -e $path || -L $path ]]; then
    rm -f -- "$path"
    log "removed $path"
    removed_json+="${removed_json:+,}$(json_str "$path")"
    removed=$((removed + 1))
  else
    absent=$((absent + 1))
  fi
done
log "removed $removed file(s); $absent already absent"

key=$(json_str "$CTX_KEY")
emit "{\"status\":\"ok\",\"outputs\":[$key],\"ctx\":{$key:[$removed_json]},\"removed\":[$removed_json],\"metrics\":{\"removed\":$removed,\"absent\":$absent},\"warnings\":[]}"
