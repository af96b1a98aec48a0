#!/usr/bin/env bash
# check_layers.sh SRC_DIR - enforces the layering of src/ (src/README.md).
#
# Every `#include "folder/file.h"` in src/<layer>/ must name a folder that
# layer may use; includes without a folder (other than the public ws101.h)
# are refused so that every cross-layer dependency stays visible. The
# sans-I/O layers (core/, proto/) must never include uv.h or openssl/ssl.h.
# Prints each violation as FILE:LINE: why, and exits 1 if there is any.
set -uo pipefail
src="${1:-$(dirname "$0")/../../src}"
[ -d "$src/proto" ] || { echo "check_layers: no src/proto under $src" >&2; exit 2; }

# layer -> folders it may include (itself included).
declare -A allowed=(
  [core]="core"
  [proto]="core proto"
  [io]="core proto io"
  [handles]="core proto io handles"
  [server]="core proto io handles server"
  [client]="core proto io handles client"
)
# The one sanctioned exception, kept explicit: options validation in core/
# uses the header-only HTTP character classes.
exception_ok() { [ "$1" = "core/options.c" ] && [ "$2" = "proto/http1_chars.h" ]; }

bad=0
checked=0
report() { echo "$1: $2"; bad=$((bad + 1)); }

for dir in "$src"/*/; do
  layer="$(basename "$dir")"
  if [ -z "${allowed[$layer]+x}" ]; then
    report "src/$layer" "folder not in the layer table (add it to src/README.md and here)"
    continue
  fi
  for f in "$dir"*.c "$dir"*.h; do
    [ -e "$f" ] || continue
    rel="$layer/$(basename "$f")"
    checked=$((checked + 1))
    while IFS=: read -r line text; do
      inc="$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$text")"
      [ "$inc" = "ws101.h" ] && continue
      case "$inc" in
        */*) ;;
        *) report "src/$rel:$line" "\"$inc\" does not name its folder"; continue ;;
      esac
      folder="${inc%%/*}"
      ok=0
      for a in ${allowed[$layer]}; do [ "$a" = "$folder" ] && ok=1; done
      if [ "$ok" = 0 ] && ! exception_ok "$rel" "$inc"; then
        report "src/$rel:$line" "$layer/ may not include \"$inc\" (allowed: ${allowed[$layer]})"
      fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
    if [ "$layer" = proto ] || [ "$layer" = core ]; then
      while IFS=: read -r line text; do
        report "src/$rel:$line" "sans-I/O $layer/ includes ${text//[[:space:]]/}"
      done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(uv\.h|openssl/ssl\.h)>' "$f")
    fi
  done
done

if [ "$checked" -lt 10 ]; then
  echo "check_layers: only $checked files found under $src" >&2
  exit 2
fi
if [ "$bad" -gt 0 ]; then
  echo "check_layers: $bad violation(s) in $checked files"
  exit 1
fi
echo "check_layers: $checked files, layering holds"
