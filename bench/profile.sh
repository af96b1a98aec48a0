#!/usr/bin/env bash
# bench/profile.sh - where ws101-demo spends its time under the 32 B echo load.
#
#   bench/profile.sh                 # perf record (falls back to callgrind)
#   TOOL=callgrind bench/profile.sh  # valgrind --tool=callgrind (about 50x slower)
#   DURATION=10 CONNS=100 PIPELINE=1 SIZE=32 bench/profile.sh
#
# Needs build-bench/ws101-demo and build-bench/bench/wsload (bench/run.sh
# builds both; SKIP_BUILD=0 here builds them too). Release builds carry no
# debug info: for line-level detail configure build-bench with
# -DCMAKE_BUILD_TYPE=RelWithDebInfo. Output goes to
# bench/results/profile-<tool>.txt and the top functions are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-bench
BIN=$BUILD/bench
OUT=$ROOT/bench/results
TOOL=${TOOL:-perf}
DURATION=${DURATION:-5}
CONNS=${CONNS:-100}
PIPELINE=${PIPELINE:-1}
SIZE=${SIZE:-32}
TOP=${TOP:-25}
mkdir -p "$OUT" "$BIN"

if [ "${SKIP_BUILD:-1}" != 1 ] || [ ! -x "$BUILD/ws101-demo" ] || [ ! -x "$BIN/wsload" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWS101_BUILD_TESTS=OFF >/dev/null &&
    cmake --build "$BUILD" -j2 >/dev/null || { echo "profile: build failed" >&2; exit 1; }
  cc -std=c11 -O2 -o "$BIN/wsload" "$ROOT/bench/wsload.c" -lz || exit 1
fi
if [ "$TOOL" = perf ] && ! perf stat -e task-clock true >/dev/null 2>&1; then
  echo "profile: perf unavailable here, using callgrind" >&2
  TOOL=callgrind
fi

WORK=$(mktemp -d /tmp/ws101-profile.XXXXXX)
SPID=
cleanup() {
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  sleep 0.3
  [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
case $TOOL in
perf)
  taskset -c 0 perf record -F 999 -g -o "$WORK/perf.data" -- \
    "$BUILD/ws101-demo" --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
  ;;
callgrind)
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$BUILD/ws101-demo" --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
  ;;
*) echo "profile: TOOL must be perf or callgrind" >&2; exit 2 ;;
esac
SPID=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$WORK/server.log" && break
  kill -0 "$SPID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.05
done

timeout -k 5 $((${DURATION%.*} + 40)) taskset -c 1 "$BIN/wsload" \
  --url "ws://127.0.0.1:$PORT/ws" --connections "$CONNS" --pipeline "$PIPELINE" \
  --size "$SIZE" --duration "$DURATION" --warmup 1
# SIGINT lets perf / valgrind write their data files
kill -INT "$SPID" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
kill -TERM "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
SPID=

case $TOOL in
perf)
  perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol -g none \
    --percent-limit 0.5 2>/dev/null | grep -v '^$' >"$OUT/profile-perf.txt"
  echo "== top functions (self time), perf; full report: bench/results/profile-perf.txt"
  grep -E '^ +[0-9.]+%' "$OUT/profile-perf.txt" | head -n "$TOP"
  ;;
callgrind)
  callgrind_annotate --inclusive=no "$WORK/callgrind.out" 2>/dev/null >"$OUT/profile-callgrind.txt"
  echo "== top functions (self Ir), callgrind; full report: bench/results/profile-callgrind.txt"
  grep -E '^ *[0-9,]+ ' "$OUT/profile-callgrind.txt" | head -n "$((TOP + 1))"
  ;;
esac
