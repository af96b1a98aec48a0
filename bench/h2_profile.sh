#!/usr/bin/env bash
# bench/h2_profile.sh - user-space instructions per HTTP/2 request (callgrind)
# for ws101-demo, h2o and nghttpd under the same h2load workload, in one run.
#
#   bench/h2_profile.sh                   # h2c, -c 100 -m 10, 20,000 requests
#   M=100 N=50000 bench/h2_profile.sh     # -m 100
#   TLS=1 bench/h2_profile.sh             # h2 over TLS (ALPN)
#   SERVERS="ws101" bench/h2_profile.sh   # a subset
#
# Each server runs under `valgrind --tool=callgrind --instr-atstart=no`; a
# warm-up h2load run (its own connections) comes first, then
# `callgrind_control --instr=on`, then the measured run of exactly N
# requests on C connections with M streams each (connection setup
# included: 100 prefaces and SETTINGS exchanges over N requests). Ir/req =
# the whole server process's user-space instructions / N. Writes
# bench/results/h2-profile-<server>-<mode>.txt (callgrind_annotate, top
# functions) and appends one line per server to bench/results/h2-profile-ir.txt.
# Knobs: N, C, M, TLS, SERVERS, BUILD (default build-bench, Release), LABEL
# (names the build in the Ir line; default the commit), PROF=1
# (ws101 from build-bench/prof, RelWithDebInfo, for readable reports).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/h2_common.sh
. "$ROOT/bench/h2_common.sh"
N=${N:-20000}
C=${C:-100}
M=${M:-10}
TLS=${TLS:-0}
SERVERS=${SERVERS:-"ws101 h2o nghttpd"}
RESULTS=${RESULTS_DIR:-$ROOT/bench/results}
mkdir -p "$RESULTS"
h2_setup

# PROF=1: the RelWithDebInfo build (file:line in the report; -O2, so its
# Ir/req is not comparable with the Release figures)
[ "${PROF:-0}" = 1 ] && H2_DEMO=$ROOT/build-bench/prof/ws101-demo
mode=$([ "$TLS" = 1 ] && echo h2 || echo h2c)

for s in $SERVERS; do
  out=$H2_RUN/callgrind-$s.out
  h2_start "$s" "$mode" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$out.%p" || { echo "h2_profile: $s unavailable" >&2; continue; }
  url=$(h2_url "$s" "$mode")
  # warm-up on its own connections: code paths, lazily built state, heap
  timeout -k 5 300 taskset -c "$H2_LOAD_CPU" h2load -t1 -c"$C" -m"$M" -n $((C * M * 4)) \
    "$url" >/dev/null 2>&1
  # the server and its children (h2o over TLS forks neverbleed, which
  # signs the handshakes): their instructions count too
  for p in "${H2_PID[$s]}" $(pgrep -P "${H2_PID[$s]}"); do
    timeout 60 callgrind_control --instr=on "$p" >/dev/null 2>&1 ||
      echo "h2_profile: callgrind_control --instr=on failed for $s ($p)" >&2
  done
  timeout -k 5 600 taskset -c "$H2_LOAD_CPU" h2load -t1 -c"$C" -m"$M" -n "$N" "$url" \
    >"$H2_RUN/h2load-$s.out" 2>&1
  ok=$(awk '/^requests:/ {print $8}' "$H2_RUN/h2load-$s.out")
  h2_stop "$s"
  f=$RESULTS/h2-profile-$s-$mode-m$M.txt
  callgrind_annotate --auto=no --inclusive=no "$(ls -S "$out".* | head -1)" 2>/dev/null >"$f"
  # kept for callgrind_annotate --tree=caller / kcachegrind (not committed)
  cp "$(ls -S "$out".* | head -1)" "$H2_BUILD/callgrind-h2-$s-$mode-m$M.out" 2>/dev/null
  # every process of the server (the report above shows the biggest)
  ir=$(cat "$out".* | awk '/^summary:/ {s += $2} END {print s + 0}')
  per=$(awk -v i="${ir:-0}" -v n="${ok:-0}" 'BEGIN { if (n > 0) printf "%.0f", i / n; else print "n/a" }')
  line="$(date -u +%FT%TZ) ${LABEL:-$(git rev-parse --short HEAD 2>/dev/null)} $mode -c$C -m$M n=$N ok=${ok:-0} $s Ir/req=$per"
  echo "$line" | tee -a "$RESULTS/h2-profile-ir.txt"
  echo "== $s: top functions (self Ir), full report ${f#"$ROOT"/}"
  grep -E '^ *[0-9,]+ \(' "$f" | head -15
done
