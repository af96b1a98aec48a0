#!/usr/bin/env bash
# Builds the API reference and guide (target docs, ctest docs.doxygen).
#
#   bash docs/run_doxygen.sh DOXYFILE OUTPUT_DIR SOURCE_DIR
#
# Fails on any Doxygen warning (WARN_AS_ERROR = FAIL_ON_WARNINGS: an
# undocumented public function, a broken reference, a bad command), each
# printed, and on a guide excerpt or error table that does not match the
# tree (docs/check_guide.py). Skips (77) without doxygen.
set -euo pipefail

doxyfile="${1:?usage: run_doxygen.sh DOXYFILE OUTPUT_DIR SOURCE_DIR}"
out="${2:?}"
src="${3:?}"

command -v doxygen >/dev/null || {
  echo "SKIP: doxygen not found (Debian doxygen)"
  exit 77
}
python3 "$src/docs/check_guide.py" "$src"
mkdir -p "$out"
rm -f "$out/warnings.log"
rc=0
doxygen "$doxyfile" || rc=$?
if [ -s "$out/warnings.log" ]; then
  sed "s|$src/||" "$out/warnings.log" >&2
  echo "FAIL: $(grep -c . "$out/warnings.log") Doxygen warnings" >&2
  exit 1
fi
[ "$rc" -eq 0 ] || { echo "FAIL: doxygen exited with $rc" >&2; exit 1; }
echo "ok: API reference and guide in $out/html/index.html, no warnings"
