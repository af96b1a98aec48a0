#!/usr/bin/env bash
# bench/profile.sh - where ws101-demo spends its time under one workload.
#
#   bench/profile.sh                        # 32 B echo, 100 conns, pipeline 1
#   PIPELINE=16 bench/profile.sh            # 32 B echo, pipeline 16
#   CONNS=10 SIZE=65536 BINARY=1 bench/profile.sh
#   SIZE=1024 DEFLATE=1 bench/profile.sh    # permessage-deflate
#   MODE=http bench/profile.sh              # wrk keep-alive GET /hello
#   TOOL=strace bench/profile.sh            # syscalls per message (strace -c -f)
#   SERVER=uws bench/profile.sh             # the same workload against uWebSockets
#   SERVER=both bench/profile.sh            # ws101 then uWS, one after the other,
#                                           # and a side-by-side Ir/msg line
#
# TOOL: perf (perf record) if `perf stat -e instructions true` counts
# instructions, else callgrind (valgrind --tool=callgrind, ~50x slower, user
# space only, exact instruction counts). TOOL=perf forces perf record with
# its default event (cpu-clock on a VM without PMU). TOOL=strace counts
# syscalls with `strace -c -f` and divides by the messages (requests) the
# load generator completed; the tracing slows the server, so it batches
# more per read than untraced: read the per-message numbers as upper
# bounds at pipeline > 1.
#
# The profiled server is a RelWithDebInfo build in build-bench/prof/ (same
# sources, -O2 -g) so that static functions keep their names. The load
# generator runs on core 1, the server on core 0. Output:
# bench/results/profile-<tool>-<label>.txt; the top functions are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-bench
PBUILD=$BUILD/prof
BIN=$BUILD/bench
OUT=$ROOT/bench/results
MODE=${MODE:-ws}
DURATION=${DURATION:-5}
CONNS=${CONNS:-100}
PIPELINE=${PIPELINE:-1}
SIZE=${SIZE:-32}
DEFLATE=${DEFLATE:-0}
BINARY=${BINARY:-0}
TOP=${TOP:-25}
SERVER_NAME=${SERVER:-ws101}
mkdir -p "$OUT" "$BIN"

if [ "$SERVER_NAME" = both ]; then
  # One workload, both servers, the same load generator: the comparison
  # issue 13 asks for. Instruction counts do not depend on machine noise.
  SERVER=ws101 "$0" || exit 1
  SKIP_BUILD=1 SERVER=uws "$0" || exit 1
  # The two runs' lines in profile-irmsg.txt (the last two it holds).
  # Steady figures when both runs have them (handshakes excluded).
  tail -n 2 "$OUT/profile-irmsg.txt" | awk '
    $1 == "ws101" { w = $NF; wl = $2; ws = ($5 == "steady") } $1 == "uws" { u = $NF; us = ($5 == "steady") }
    END { if (w && u) printf "== %s %sIr/msg: ws101 %d, uWS %d, ws101/uWS %.3f\n", wl, (ws && us ? "steady " : ""), w, u, w / u }'
  exit 0
fi

if [ -z "${TOOL:-}" ]; then
  if perf stat -x, -e instructions true 2>&1 | grep -q '^[0-9]'; then
    TOOL=perf
  else
    echo "profile: perf cannot count instructions here, using callgrind" >&2
    TOOL=callgrind
  fi
fi

if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -x "$PBUILD/ws101-demo" ] || [ ! -x "$BIN/wsload" ]; then
  { cmake -S "$ROOT" -B "$PBUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWS101_BUILD_TESTS=OFF &&
    cmake --build "$PBUILD" -j2 --target ws101-demo; } >"$BIN/build-prof.log" 2>&1 ||
    { echo "profile: build failed (see $BIN/build-prof.log)" >&2; exit 1; }
  cc -std=c11 -O2 -o "$BIN/wsload" "$ROOT/bench/wsload.c" -lz || exit 1
fi
if [ "$SERVER_NAME" = uws ] && [ ! -x "$BIN/uws/uws_echo" ]; then
  bash "$ROOT/bench/peers/uws/build.sh" "$BIN/uws" >/dev/null || exit 1
fi

if [ "$MODE" = http ]; then
  LABEL=http1-hello-c$CONNS
else
  LABEL=ws-${SIZE}B-c$CONNS-p$PIPELINE
  [ "$DEFLATE" = 1 ] && LABEL=$LABEL-deflate
fi
[ "$SERVER_NAME" = ws101 ] || LABEL=$SERVER_NAME-$LABEL

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
case $SERVER_NAME in
ws101) SERVER=("$PBUILD/ws101-demo" --host 127.0.0.1 --port "$PORT") ;;
uws)
  SERVER=("$BIN/uws/uws_echo" "$PORT")
  [ "$DEFLATE" = 1 ] && SERVER+=(--deflate)
  ;;
*) echo "profile: SERVER must be ws101, uws or both" >&2; exit 2 ;;
esac
case $TOOL in
perf) WRAP=(perf record -F 999 -g -o "$WORK/perf.data" --) ;;
callgrind) # instrumentation starts after the warm-up (below)
  WRAP=(valgrind --tool=callgrind --instr-atstart="$([ "$MODE" = http ] && echo yes || echo no)"
    --callgrind-out-file="$WORK/callgrind.out") ;;
strace) WRAP=(strace -c -f -o "$WORK/strace.txt") ;;
*) echo "profile: TOOL must be perf, callgrind or strace" >&2; exit 2 ;;
esac
taskset -c 0 "${WRAP[@]}" "${SERVER[@]}" >"$WORK/server.log" 2>&1 &
SPID=$!
for _ in $(seq 1 300); do
  grep -q "listening on" "$WORK/server.log" && break
  kill -0 "$SPID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.05
done

# strace counts from the first syscall: no warm-up, so messages ~ all traffic
WARM=1
[ "$TOOL" = strace ] && WARM=0
LIMIT=$((${DURATION%.*} + 40))
if [ "$MODE" = http ]; then
  timeout -k 5 "$LIMIT" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" \
    "http://127.0.0.1:$PORT/hello" >"$WORK/load.out" 2>&1
  MSGS=$(awk '/requests in/ {print $1}' "$WORK/load.out")
else
  args=(--connections "$CONNS" --pipeline "$PIPELINE" --size "$SIZE")
  [ "$DEFLATE" = 1 ] && args+=(--deflate)
  [ "$BINARY" = 1 ] && args+=(--binary)
  if [ "$TOOL" = callgrind ]; then
    # Steady state only: a warm-up run on its own connections, then
    # instrumentation is switched on, so start-up, handshakes and the first heap growth
    # are not charged to the measured messages (the same for every server).
    timeout -k 5 "$LIMIT" taskset -c 1 "$BIN/wsload" --url "ws://127.0.0.1:$PORT/ws" \
      "${args[@]}" --duration 1 --warmup 0 --json >/dev/null
    callgrind_control --instr=on "$SPID" >/dev/null 2>&1 ||
      echo "profile: callgrind_control --instr=on failed; nothing measured" >&2
    # A short run on its own connections, dumped apart (a dump resets the
    # counters): it costs the same handshakes and closes as the measured
    # run, so the difference of the two over the difference of their
    # messages is the cost of a message alone (steady Ir/msg below),
    # whatever the message count of a run on a busy machine.
    timeout -k 5 "$LIMIT" taskset -c 1 "$BIN/wsload" --url "ws://127.0.0.1:$PORT/ws" \
      "${args[@]}" --duration 1 --warmup 0 --json >"$WORK/short.out"
    callgrind_control --dump=short "$SPID" >/dev/null 2>&1
    SHORT_MSGS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$WORK/short.out" 2>/dev/null)
    WARM=0
  fi
  timeout -k 5 "$LIMIT" taskset -c 1 "$BIN/wsload" --url "ws://127.0.0.1:$PORT/ws" \
    "${args[@]}" --duration "$DURATION" --warmup "$WARM" --json >"$WORK/load.out"
  MSGS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$WORK/load.out" 2>/dev/null)
fi
echo "== $LABEL under $TOOL: $(head -c 400 "$WORK/load.out" | tr '\n' ' ')"
# SIGINT lets perf / valgrind write their data files. Background jobs of a
# non-interactive shell ignore SIGINT, hence the SIGTERM below. strace only
# writes its summary once the traced server exits: signal the server itself.
if [ "$TOOL" = strace ]; then
  kill -TERM $(pgrep -P "$SPID") 2>/dev/null
fi
kill -INT "$SPID" 2>/dev/null
for _ in $(seq 1 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
kill -TERM "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
SPID=

F=$OUT/profile-$TOOL-$LABEL.txt
case $TOOL in
perf)
  perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,symbol -g none \
    --percent-limit 0.5 2>/dev/null | grep -v '^$' >"$F"
  echo "== top functions (self time), perf; full report: ${F#"$ROOT"/}"
  grep -E '^ +[0-9.]+%' "$F" | head -n "$TOP"
  ;;
callgrind)
  callgrind_annotate --inclusive=no "$WORK/callgrind.out" 2>/dev/null >"$F"
  # kept for callgrind_annotate --tree=caller / kcachegrind (not committed)
  cp "$WORK/callgrind.out" "$PBUILD/callgrind-$LABEL.out"
  echo "== top functions (self Ir), callgrind; full report: ${F#"$ROOT"/}"
  # messages served while traced, for instructions per message
  echo "messages: $MSGS" >>"$F"
  # Each function's self Ir per message in front, so that two servers'
  # tables compare line by line.
  grep -E '^ *[0-9,]+ ' "$F" | head -n "$((TOP + 1))" |
    awk -v m="${MSGS:-0}" '{ n = $1; gsub(",", "", n)
      printf "%8.1f/msg  %s\n", (m > 0 ? n / m : 0), $0 }'
  # Whole-process user-space instructions over the messages the load
  # generator completed in the measured run (its handshakes included).
  total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$F")
  if [ -n "$total" ] && [ "${MSGS:-0}" -gt 0 ] 2>/dev/null; then
    echo "Ir/msg: $((total / MSGS)) (the measured run's handshakes included)" | tee -a "$F"
    short=
    for d in "$WORK"/callgrind.out.*; do
      [ -f "$d" ] && short=$(awk '/^(summary|totals):/ { print $2; exit }' "$d")
    done
    if [ -n "$short" ] && [ "${SHORT_MSGS:-0}" -gt 0 ] && [ "$MSGS" -gt "$SHORT_MSGS" ]; then
      steady=$(((total - short) / (MSGS - SHORT_MSGS)))
      echo "steady Ir/msg: $steady (short run: $short Ir, $SHORT_MSGS msgs)" | tee -a "$F"
      echo "$SERVER_NAME $LABEL Ir/msg $((total / MSGS)) steady $steady" >>"$OUT/profile-irmsg.txt"
    else
      echo "$SERVER_NAME $LABEL Ir/msg $((total / MSGS))" >>"$OUT/profile-irmsg.txt"
    fi
  fi
  ;;
strace)
  {
    echo "messages (or requests) completed: $MSGS"
    cat "$WORK/strace.txt"
  } >"$F"
  echo "== syscalls (strace -c -f); full report: ${F#"$ROOT"/}"
  awk -v m="${MSGS:-0}" 'NR > 2 && $4 ~ /^[0-9]+$/ && m > 0 {
      printf "%-16s %10d calls  %6.3f per message\n", $NF, $4, $4 / m }' \
    "$WORK/strace.txt"
  ;;
esac
