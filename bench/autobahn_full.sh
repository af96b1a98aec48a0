#!/usr/bin/env bash
# bench/autobahn_full.sh - the whole Autobahn|Testsuite against libws101:
# every case of 1-7, 9, 10, 12 and 13 (12/13: all 216 permessage-deflate
# configurations, ~40 minutes per side), not the sample the test suite runs.
#
#   bench/autobahn_full.sh            # server, then client
#   bench/autobahn_full.sh server     # the demo server only
#   bench/autobahn_full.sh client     # the ws101 client only
#
# Each side runs twice: without deflate (the cases as the suite has them)
# and with permessage-deflate negotiated in every case. Verdicts are those
# of tests/autobahn/run_autobahn.py (OK, NON-STRICT or INFORMATIONAL pass).
# Writes bench/results/autobahn-full-<side>[-deflate].json (every case's
# verdict and duration) and appends one line per run to
# bench/results/autobahn-full.txt. Exit status non-zero if a run failed.
#
# Environment: WS101_BUILD_DIR (default build; built here in release mode
# unless SKIP_BUILD=1), WS101_AUTOBAHN_DIR (default
# ../shared/thirdparty/autobahn-testsuite), RESULTS_DIR (default
# bench/results), OUTDIR (reports; default $WS101_BUILD_DIR/autobahn-full).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${WS101_BUILD_DIR:-build}
suite=${WS101_AUTOBAHN_DIR:-$root/../shared/thirdparty/autobahn-testsuite}
results=${RESULTS_DIR:-$root/bench/results}
outdir=${OUTDIR:-$build/autobahn-full}
sides=${1:-both}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  WS101_BUILD_DIR="$build" bash scripts/build.sh --release >/dev/null || exit 1
fi
mkdir -p "$results" "$outdir"

rc=0
run() { # run SIDE DEFLATE PEER
  local side=$1 deflate=$2 peer=$3 name
  name="$side$([ "$deflate" = 1 ] && echo -deflate)"
  echo "== autobahn full: $name"
  /usr/bin/python3 "$root/tests/autobahn/run_autobahn.py" --mode "$side" \
    --deflate "$deflate" --cases full --peer "$peer" --suite "$suite" \
    --outdir "$outdir/$name" --timeout 7200 \
    --summary "$results/autobahn-full-$name.json" | tee "$outdir/$name.log"
  local st=${PIPESTATUS[0]}
  [ "$st" -eq 0 ] || rc=1
  printf '%s %s (%s): %s\n' "$(date -u +%FT%TZ)" "$name" \
    "$(git rev-parse --short HEAD)" \
    "$(grep -E '^autobahn (server|client) deflate=' "$outdir/$name.log" |
       tail -n1)$([ "$st" -eq 0 ] || echo ' FAILED')" \
    >>"$results/autobahn-full.txt"
}

case $sides in
  server | both) run server 0 "$build/ws101-demo"; run server 1 "$build/ws101-demo" ;;
esac
case $sides in
  client | both)
    run client 0 "$build/tests/autobahn/ab_client"
    run client 1 "$build/tests/autobahn/ab_client" ;;
esac
exit "$rc"
