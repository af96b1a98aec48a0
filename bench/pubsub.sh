#!/usr/bin/env bash
# bench/pubsub.sh - the pub/sub broadcast benchmark: ws101 vs uWebSockets.
#
#   bench/pubsub.sh                 # DURATION=3 ROUNDS=2 (about 5 minutes)
#   QUICK=1 bench/pubsub.sh         # 1 round of 1 s: a smoke run
#
# One publisher, SUBS subscribers (1,000 and 10,000) on one topic, text
# messages of 32 B and 1 KiB, published as fast as a sliding window of
# messages "not yet received by everybody" allows (bench/psload.c). Servers:
#   ws101      ws101-demo /chat/bench, one loop, pinned to core 0
#   ws101-w2   ws101-demo --workers 2, cores 0 and 1 (the load generator
#              shares core 1: read deliveries per CPU-second, not per second)
#   ws101-redis  two ws101-demo nodes on one redis-server (all on core 0):
#              the publisher on node A, every subscriber on node B, so every
#              delivery crosses Redis; the number of Redis PUBLISH calls per
#              published message is recorded (1 = once per message per node)
#   uws        uWebSockets (bench/peers/uws_pubsub.cpp, app.publish), core 0
# The load generator runs on core 1. Rounds are interleaved over servers.
# Writes bench/results/pubsub-latest.{jsonl,txt}.
#
# Knobs: DURATION, ROUNDS, QUICK, SUBS ("1000 10000"), SIZES ("32 1024"),
# SERVERS ("ws101 ws101-w2 ws101-redis uws"), SKIP_BUILD=1, SKIP_DEPS=1,
# IR=0 (skip the callgrind instructions-per-delivery part; writes
# bench/results/pubsub-ir.txt otherwise).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-bench
UWS_SRC=${UWS_SRC:-$ROOT/../shared/thirdparty/uWebSockets}
UWS_BUILD=$BUILD/bench/uws
RESULTS=${RESULTS_DIR:-$ROOT/bench/results}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-1}
  ROUNDS=${ROUNDS:-1}
else
  DURATION=${DURATION:-3}
  ROUNDS=${ROUNDS:-2}
fi
SUBS=${SUBS:-"1000 10000"}
SIZES=${SIZES:-"32 1024"}
SERVERS=${SERVERS:-"ws101 ws101-w2 ws101-redis uws"}
SERVER_CPU=0
LOAD_CPU=1
# A port free right now on 127.0.0.1 (the kernel picks it).
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# 10,000 subscribers: each side needs more than 10,000 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 10100 ]; then
  echo "pubsub.sh: ulimit -n is $(ulimit -n); 10,000 subscribers need 10,100" >&2
  exit 1
fi

if [ "${SKIP_DEPS:-0}" != 1 ]; then bash scripts/deps.sh >/dev/null || exit 1; fi
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWS101_BUILD_TESTS=OFF \
    >/dev/null || exit 1
  cmake --build "$BUILD" -j"$(nproc)" --target ws101-demo >/dev/null || exit 1
  gcc -O2 -Wall -Wextra -o "$BUILD/psload" bench/psload.c || exit 1
  # uSockets as bench/peers/uws/build.sh builds it (same flags as the echo
  # peer), then our pub/sub service on it.
  bash bench/peers/uws/build.sh "$UWS_BUILD" >/dev/null || exit 1
  if [ ! -x "$UWS_BUILD/uws_pubsub" ] ||
     [ bench/peers/uws/uws_pubsub.cpp -nt "$UWS_BUILD/uws_pubsub" ]; then
    g++ -O3 -march=x86-64-v3 -std=c++2b -DLIBUS_NO_SSL \
      -I"$UWS_BUILD/uSockets-ssl0/src" -I"$UWS_SRC/src" \
      -o "$UWS_BUILD/uws_pubsub" bench/peers/uws/uws_pubsub.cpp \
      "$UWS_BUILD/uSockets-ssl0/uSockets.a" -lz >"$UWS_BUILD/uws_pubsub.log" 2>&1 ||
      { echo "uWS pub/sub peer failed (see $UWS_BUILD/uws_pubsub.log)" >&2; exit 1; }
  fi
fi
DEMO=$BUILD/ws101-demo
LOAD=$BUILD/psload
mkdir -p "$RESULTS"
OUT=$RESULTS/pubsub-latest.jsonl
: >"$OUT"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

# Waits (bounded) for a line in a log file.
wait_log() { # file pattern
  local i
  for i in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "pubsub.sh: no '$2' in $1" >&2
  cat "$1" >&2
  return 1
}

port_of() { sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$1" | head -1; }

window_for() { # subs size: keep what is in flight under ~64 MB
  local w=$((64 * 1024 * 1024 / ($1 * ($2 + 8))))
  [ "$w" -gt 64 ] && w=64
  [ "$w" -lt 2 ] && w=2
  echo "$w"
}

run_one() { # server subs size round
  local s=$1 n=$2 size=$3 round=$4 log=$BUILD/pubsub-$s.log
  local pids=() port pubport extra=() redis_port rlog calls0 calls1
  : >"$log"
  case $s in
    ws101)
      taskset -c $SERVER_CPU "$DEMO" --port 0 >"$log" 2>&1 &
      PIDS+=($!); pids=($!) ;;
    ws101-w2)
      taskset -c 0,1 "$DEMO" --port 0 --workers 2 >"$log" 2>&1 &
      PIDS+=($!); pids=($!) ;;
    uws)
      port=$(free_port)
      taskset -c $SERVER_CPU "$UWS_BUILD/uws_pubsub" $port >"$log" 2>&1 &
      PIDS+=($!); pids=($!) ;;
    ws101-redis)
      redis_port=$(free_port); rlog=$BUILD/pubsub-redis-server.log
      taskset -c $SERVER_CPU redis-server --port $redis_port --bind 127.0.0.1 \
        --save "" --appendonly no >"$rlog" 2>&1 &
      PIDS+=($!); pids=($!)
      wait_log "$rlog" "Ready to accept" || return 1
      taskset -c $SERVER_CPU "$DEMO" --port 0 --redis redis://127.0.0.1:$redis_port \
        >"$log.a" 2>&1 &
      PIDS+=($!); pids+=($!)
      taskset -c $SERVER_CPU "$DEMO" --port 0 --redis redis://127.0.0.1:$redis_port \
        >"$log" 2>&1 &
      PIDS+=($!); pids+=($!)
      wait_log "$log.a" "redis: up" || return 1
      wait_log "$log" "redis: up" || return 1
      pubport=$(port_of "$log.a")
      calls0=$(redis-cli -p $redis_port info commandstats |
               sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p')
      ;;
  esac
  wait_log "$log" "listening on" || return 1
  [ -z "${port:-}" ] && port=$(port_of "$log")
  [ -n "${pubport:-}" ] && extra=(--pub-port "$pubport")
  local pidargs=()
  for p in "${pids[@]}"; do pidargs+=(--pid "$p"); done
  local res
  res=$(timeout 300 taskset -c $LOAD_CPU "$LOAD" --port "$port" "${extra[@]}" \
        --subs "$n" --size "$size" --duration "$DURATION" \
        --window "$(window_for "$n" "$size")" "${pidargs[@]}")
  local rc=$?
  if [ "$s" = ws101-redis ] && [ $rc = 0 ]; then
    calls1=$(redis-cli -p $redis_port info commandstats |
             sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p')
    res=${res%\}}",\"redis_publish_calls\":$((${calls1:-0} - ${calls0:-0}))}"
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ $rc != 0 ]; then echo "pubsub.sh: $s $n $size failed" >&2; return 1; fi
  echo "{\"server\":\"$s\",\"round\":$round,${res#\{}" | tee -a "$OUT"
}

for round in $(seq 1 "$ROUNDS"); do
  for n in $SUBS; do
    for size in $SIZES; do
      for s in $SERVERS; do
        run_one "$s" "$n" "$size" "$round"
      done
    done
  done
done

# Instructions per delivery (callgrind: exact, independent of the machine's
# load): ws101 and uWS, 1,000 subscribers, each size. Instrumentation is on
# from the start of the timed part until its last message has arrived.
IR_OUT=$RESULTS/pubsub-ir.txt
if [ "${IR:-1}" = 1 ] && command -v valgrind >/dev/null; then
  : >"$IR_OUT"
  for size in $SIZES; do
    for s in ws101 uws; do
      log=$BUILD/pubsub-ir-$s.log
      irport=$(free_port)
      case $s in
        ws101) cmd=("$DEMO" --port "$irport") ;;
        uws) cmd=("$UWS_BUILD/uws_pubsub" "$irport") ;;
      esac
      taskset -c $SERVER_CPU valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$BUILD/pubsub-ir-$s.out" "${cmd[@]}" >"$log" 2>&1 &
      vpid=$!; PIDS+=($vpid)
      wait_log "$log" "listening on" || exit 1
      res=$(timeout 600 taskset -c $LOAD_CPU "$LOAD" --port "$irport" \
            --subs 1000 --size "$size" --duration "$DURATION" --window 16 \
            --exec-start "callgrind_control --instr=on $vpid >/dev/null 2>&1" \
            --exec-end "callgrind_control --instr=off $vpid >/dev/null 2>&1")
      kill -INT $vpid 2>/dev/null
      for _ in $(seq 1 200); do kill -0 $vpid 2>/dev/null || break; sleep 0.05; done
      kill -TERM $vpid 2>/dev/null; wait $vpid 2>/dev/null
      ir=$(callgrind_annotate "$BUILD/pubsub-ir-$s.out" 2>/dev/null |
           awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
      msgs=$(echo "$res" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p')
      if [ -n "$ir" ] && [ "${msgs:-0}" -gt 0 ]; then
        echo "$s 1000 subs ${size} B: $((ir / (msgs * 1000))) Ir/delivery" \
          "($ir Ir, $msgs messages x 1000)" | tee -a "$IR_OUT"
      fi
    done
  done
fi

/usr/bin/python3 - "$OUT" "$RESULTS/pubsub-latest.txt" <<'PY'
import json, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = collections.defaultdict(list)
for r in rows:
    best[(r["subs"], r["size"], r["server"])].append(r)
lines = ["%-6s %-5s %-12s %14s %16s %9s %6s %s" % (
    "subs", "size", "server", "deliveries/s", "per CPU-second", "cpu_s",
    "lost", "redis PUBLISH/msg")]
for (n, size, s), rs in sorted(best.items()):
    # median-ish: the round with the median deliveries per CPU-second
    rs.sort(key=lambda r: r["deliveries_per_cpu_s"])
    r = rs[len(rs) // 2]
    ratio = ""
    if "redis_publish_calls" in r:
        ratio = "%.3f" % (r["redis_publish_calls"] / max(1, r["messages"] + 1))
    lines.append("%-6d %-5d %-12s %14.0f %16.0f %9.2f %6d %s" % (
        n, size, s, r["deliveries_per_s"], r["deliveries_per_cpu_s"],
        r["server_cpu_s"], r["lost"], ratio))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
