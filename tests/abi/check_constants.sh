#!/usr/bin/env bash
# abi.constants: every constant of the frozen release header keeps its value.
#
#   bash tests/abi/check_constants.sh FROZEN_HEADER CURRENT_HEADER WORK_DIR
#
# abidiff sees the types of functions, not the numbers programs compile in:
# error codes (WS101_ERRNO_MAP), event and opcode values and the anonymous
# enums are baked into every binary built against the header. This lists
# every WS101_* constant the frozen header names (and every error of its
# WS101_ERRNO_MAP), prints its value compiled against each header, and
# fails if one is missing or differs in the current header. New constants
# are fine; WS101_VERSION_* are meant to change.
set -euo pipefail

frozen="${1:?usage: check_constants.sh FROZEN_HEADER CURRENT_HEADER WORK_DIR}"
current="${2:?}"
work="${3:?}"
cc="${CC:-cc}"
mkdir -p "$work"

# Identifiers outside comments; function-like macros and the header's own
# machinery (include guard, export and deprecation macros, the X-macro)
# are not values.
python3 - "$frozen" >"$work/names" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
funclike = set(re.findall(r"#\s*define\s+(WS101_\w+)\(", text))
skip = {"WS101_H", "WS101_EXTERN", "WS101_DEPRECATED", "WS101_ERRNO_MAP"}
names = sorted({n for n in re.findall(r"\bWS101_[A-Z][A-Z0-9_]*\b", text)
                if n not in skip and n not in funclike
                and not n.startswith("WS101_VERSION_")
                and not n.startswith("WS101__")})
print("\n".join(names))
PY

{
  echo '#include <stdio.h>'
  echo '#include "ws101.h"'
  echo 'int main(void) {'
  while read -r n; do
    echo "  printf(\"$n=%lld\\n\", (long long)($n));"
  done <"$work/names"
  echo '#define XX(name, val, msg) printf("WS101_" #name "=%lld\\n", (long long)WS101_##name);'
  echo '  WS101_ERRNO_MAP(XX)'
  echo '  return 0;'
  echo '}'
} >"$work/constants.c"

for which in frozen current; do
  hdr="$frozen"
  [ "$which" = current ] && hdr="$current"
  mkdir -p "$work/$which"
  cp "$hdr" "$work/$which/ws101.h"
  "$cc" -std=c11 -Wall -I"$work/$which" -o "$work/constants-$which" \
    "$work/constants.c" 2>"$work/$which.log" || {
    cat "$work/$which.log" >&2
    echo "FAIL: the constants of the frozen header do not compile against" \
      "the $which header (a constant was removed or renamed?)" >&2
    exit 1
  }
  "$work/constants-$which" | sort -u >"$work/$which.txt"
done

changed="$(comm -23 "$work/frozen.txt" "$work/current.txt")"
if [ -n "$changed" ]; then
  echo "FAIL: constants of the 1.0 header changed in the current header:" >&2
  while IFS= read -r line; do
    now="$(grep "^${line%%=*}=" "$work/current.txt" || echo "${line%%=*} gone")"
    echo "  1.0: $line   now: $now" >&2
  done <<<"$changed"
  exit 1
fi
echo "ok: $(wc -l <"$work/frozen.txt") constants of the 1.0 header keep their values"
