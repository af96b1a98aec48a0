#!/usr/bin/env bash
# bench/h2.sh - the HTTP/2 rows (issue 14), side by side in one run:
#
#   h2load    GET /hello, -c 100 -m 10 and -m 100, prior knowledge (h2c)
#             and h2 over TLS (ALPN), against ws101-demo, h2o (Debian,
#             num-threads 1) and nghttpd (Debian nghttp2-server)
#   idle      user-space bytes per idle HTTP/2 connection (SETTINGS
#             exchanged both ways) for each server: RSS delta / N
#   ws        WebSocket echo on ws101-demo over RFC 8441 (h2c and h2,
#             bench/h2wsload.c) beside the same echo over the HTTP/1.1
#             upgrade (bench/wsload.c): 32 B, 100 connections, 1 and 16
#             in flight
#
#   bench/h2.sh               # DURATION=5 WARMUP=1 ROUNDS=3 IDLE_N=5000 (~8 min)
#   QUICK=1 bench/h2.sh       # a smoke run: 1 s, 1 round, 1,000 idle
#
# Server on core 0, load generator on core 1; rounds interleaved (round 1
# runs every server in turn, then round 2, ...), medians of the rounds.
# Ratios: ws101/h2o and ws101/nghttpd (req/s: above 1 = ws101 faster;
# B/conn: below 1 = ws101 smaller); for the WebSocket rows RFC 8441 /
# HTTP/1.1 on ws101 itself (neither h2o 2.2 nor nghttpd serves RFC 8441).
# Writes bench/results/h2-latest.txt (table) and h2-latest.jsonl (every
# sample). Knobs: DURATION, WARMUP, ROUNDS, QUICK, IDLE_N, IDLE_HOLD,
# SERVERS (subset of "ws101 h2o nghttpd"), ROWS (subset of "h2load idle
# ws"), SKIP_BUILD=1, RESULTS_DIR, SERVER_CPU, LOAD_CPU. bench/run.sh runs
# this for its workload `h2`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/h2_common.sh
. "$ROOT/bench/h2_common.sh"
if [ "${QUICK:-0}" = 1 ]; then
  DURATION=${DURATION:-1}; WARMUP=${WARMUP:-1}; ROUNDS=${ROUNDS:-1}; IDLE_N=${IDLE_N:-1000}
else
  DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}; ROUNDS=${ROUNDS:-3}; IDLE_N=${IDLE_N:-5000}
fi
IDLE_HOLD=${IDLE_HOLD:-60}
SERVERS=${SERVERS:-"ws101 h2o nghttpd"}
ROWS=${ROWS:-"h2load idle ws"}
RESULTS=${RESULTS_DIR:-$ROOT/bench/results}
PY=/usr/bin/python3
mkdir -p "$RESULTS"
h2_setup
if [ ! -x "$H2_BIN/wsload" ] || [ "${SKIP_BUILD:-0}" != 1 ]; then
  cc -std=c11 -O2 -Wall -Wextra -o "$H2_BIN/wsload" bench/wsload.c -lz || h2_log "WARNING: wsload did not build"
fi
want=$((IDLE_N + 500))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$want" ] || {
  IDLE_N=$(($(ulimit -n) - 500))
  h2_log "WARNING: RLIMIT_NOFILE is $(ulimit -n); idle row lowered to $IDLE_N connections"
}
RAW=$H2_RUN/raw.jsonl
: >"$RAW"
LIMIT=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 60 }')
D=$(awk -v x="$DURATION" 'BEGIN { x = int(x + 0.999); print (x < 1 ? 1 : x) }')
WU=$(awk -v x="$WARMUP" 'BEGIN { x = int(x + 0.999); print (x < 1 ? 1 : x) }')
h2_log "DURATION=${DURATION}s ROUNDS=$ROUNDS IDLE_N=$IDLE_N servers: $SERVERS; load avg $(cut -d' ' -f1-3 /proc/loadavg)"

record() { # record ROW SERVER ROUND JSON
  $PY -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(row=sys.argv[1], server=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' \
    "$1" "$2" "$3" "$4" >>"$RAW"
}

# ensure NAME MODE: the server running in MODE (one process per mode)
ensure() {
  local key=$1-$2
  if [ -n "${H2_PID[$key]:-}" ] && kill -0 "${H2_PID[$key]}" 2>/dev/null; then return 0; fi
  h2_start "$1" "$2" || return 1
  H2_PID[$key]=${H2_PID[$1]}; H2_PORT[$key]=${H2_PORT[$1]}
  unset "H2_PID[$1]"
}

h2load_row() { # h2load_row MODE M
  local mode=$1 m=$2 row="$1-hello-c100-m$2" r s url out t0 t1
  for r in $(seq 1 "$ROUNDS"); do
    for s in $SERVERS; do
      ensure "$s" "$mode" || { h2_log "$s ($mode) unavailable"; continue; }
      url=$(h2_url "$s-$mode" "$mode")
      h2_log "$row  round $r/$ROUNDS  $s"
      t0=$(cpu_ticks "${H2_PID[$s-$mode]}")
      timeout -k 5 "$LIMIT" /usr/bin/time -f '%U %S %e' -o "$H2_RUN/h2load.time" \
        taskset -c "$H2_LOAD_CPU" h2load -t1 -c100 -m"$m" -D "$D" \
        --warm-up-time "$WU" "$url" >"$H2_RUN/h2load.out" 2>&1
      t1=$(cpu_ticks "${H2_PID[$s-$mode]}")
      out=$($PY "$ROOT/bench/report.py" h2load "$H2_RUN/h2load.out")
      # who was the limit: each side's share of its core over the whole
      # h2load run (warm-up included), server from /proc, h2load from time(1)
      out=$($PY -c 'import json,os,sys
d=json.loads(sys.argv[1]); u,s_,e=map(float,open(sys.argv[2]).read().split()[-3:])
d["server_cpu_pct"]=round(100*(int(sys.argv[4])-int(sys.argv[3]))/os.sysconf("SC_CLK_TCK")/e,1) if e else None
d["load_cpu_pct"]=round(100*(u+s_)/e,1) if e else None
print(json.dumps(d))' "$out" "$H2_RUN/h2load.time" "$t0" "$t1" 2>/dev/null || echo "$out")
      record "$row" "$s" "$r" "$out"
    done
  done
}

cpu_ticks() { # user+system clock ticks of a process and its children
  local total=0 c v
  for c in $1 $(pgrep -P "$1"); do
    v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$c/stat" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

rss_kib() { # a process and its children
  local total=0 c v
  for c in $1 $(pgrep -P "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$c/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
rss_settled() {
  local prev=-1 cur
  for _ in $(seq 1 25); do
    cur=$(rss_kib "$1")
    [ "$cur" = "$prev" ] && break
    prev=$cur
    sleep 0.2
  done
  echo "$cur"
}
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }

idle_row() { # idle_row MODE: fresh server, warm-up, N idle h2 connections
  local mode=$1 row="idle-$1-$IDLE_N" s key port before after est=0 lp i tls=()
  [ "$mode" = h2 ] && tls=(--tls)
  for s in $SERVERS; do
    key=$s-$mode
    h2_stop "$key"
    ensure "$s" "$mode" || continue
    port=${H2_PORT[$key]}
    # one-time costs (pages first touched, lazily built state, the first
    # heap growth) go into the baseline, not into the per-connection figure
    timeout -k 5 60 taskset -c "$H2_LOAD_CPU" h2load -t1 -c100 -m10 -n 2000 "$(h2_url "$key" "$mode")" >/dev/null 2>&1
    timeout -k 5 60 taskset -c "$H2_LOAD_CPU" "$H2_BIN/h2wsload" --port "$port" "${tls[@]}" --idle 100 --hold 0.2 >/dev/null 2>&1
    for _ in $(seq 1 100); do [ "$(established "$port")" -le 0 ] && break; sleep 0.1; done
    before=$(rss_settled "${H2_PID[$key]}")
    : >"$H2_RUN/idle.err"
    timeout -k 5 $((IDLE_HOLD + 120)) taskset -c "$H2_LOAD_CPU" "$H2_BIN/h2wsload" --port "$port" "${tls[@]}" \
      --idle "$IDLE_N" --hold "$IDLE_HOLD" >"$H2_RUN/idle.out" 2>"$H2_RUN/idle.err" &
    lp=$!
    for i in $(seq 1 2400); do
      grep -q READY "$H2_RUN/idle.err" && break
      kill -0 "$lp" 2>/dev/null || break
      sleep 0.05
    done
    for _ in $(seq 1 100); do
      est=$(established "$port")
      [ "$est" -ge "$IDLE_N" ] && break
      sleep 0.05
    done
    after=$(rss_settled "${H2_PID[$key]}")
    kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null
    record "$row" "$s" 1 "$($PY -c 'import json,sys,re
m = re.search(r"open=(\d+) failed=(\d+)", open(sys.argv[1]).read())
o, f = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
b, a, e = (int(x) for x in sys.argv[2:5])
print(json.dumps(dict(open=o, failed=f, rss_before_kib=b, rss_after_kib=a, server_established=e,
  bytes_per_conn=((a - b) * 1024 / o if o else None), errors=(0 if f == 0 else 1))))' "$H2_RUN/idle.err" "$before" "$after" "$est")"
    h2_log "  $row $s: $(grep READY "$H2_RUN/idle.err") server-side $est; rss $before -> $after KiB"
    h2_stop "$key"
  done
}

ws_row() { # ws_row PIPELINE: ws101 over HTTP/1.1 upgrade, RFC 8441 h2c, RFC 8441 h2
  local p=$1 row="ws-32B-c100-p$1" r how out
  for r in $(seq 1 "$ROUNDS"); do
    for how in http1.1 rfc8441-h2c rfc8441-h2; do
      case $how in
      http1.1) ensure ws101 h2c || continue
        out=$(timeout -k 5 "$LIMIT" taskset -c "$H2_LOAD_CPU" "$H2_BIN/wsload" \
          --url "ws://127.0.0.1:${H2_PORT[ws101-h2c]}/ws" --connections 100 --pipeline "$p" \
          --size 32 --duration "$DURATION" --warmup "$WARMUP" --json 2>"$H2_RUN/ws.err") ;;
      rfc8441-h2c) ensure ws101 h2c || continue
        out=$(timeout -k 5 "$LIMIT" taskset -c "$H2_LOAD_CPU" "$H2_BIN/h2wsload" \
          --port "${H2_PORT[ws101-h2c]}" --connections 100 --pipeline "$p" --size 32 \
          --duration "$DURATION" --warmup "$WARMUP" --json 2>"$H2_RUN/ws.err") ;;
      rfc8441-h2) ensure ws101 h2 || continue
        out=$(timeout -k 5 "$LIMIT" taskset -c "$H2_LOAD_CPU" "$H2_BIN/h2wsload" --tls \
          --port "${H2_PORT[ws101-h2]}" --connections 100 --pipeline "$p" --size 32 \
          --duration "$DURATION" --warmup "$WARMUP" --json 2>"$H2_RUN/ws.err") ;;
      esac
      [ -n "$out" ] || out='{"errors": 1, "note": "load generator failed"}'
      h2_log "$row  round $r/$ROUNDS  $how"
      record "$row" "$how" "$r" "$out"
    done
  done
}

case " $ROWS " in *" h2load "*)
  for mode in h2c h2; do for m in 10 100; do h2load_row "$mode" "$m"; done; done ;;
esac
case " $ROWS " in *" idle "*) idle_row h2c ;; esac
case " $ROWS " in *" ws "*)
  case " $SERVERS " in *" ws101 "*) ws_row 1; ws_row 16 ;; esac ;;
esac
for k in "${!H2_PID[@]}"; do h2_stop "$k"; done

cp "$RAW" "$RESULTS/h2-latest.jsonl"
$PY - "$RAW" "$(git rev-parse --short HEAD 2>/dev/null)" "$DURATION" "$ROUNDS" <<'EOF' | tee "$RESULTS/h2-latest.txt"
import json, statistics, sys, os
raw, commit, dur, rounds = sys.argv[1:5]
rows = {}
per_raw = {}
for line in open(raw):
    d = json.loads(line)
    per_raw.setdefault((d["row"], d["server"]), []).append(d)
    key = "bytes_per_conn" if d["row"].startswith("idle") else "msgs_per_s"
    v = d.get(key)
    rows.setdefault(d["row"], {}).setdefault(d["server"], []).append((v, d.get("errors", 0)))
load = open("/proc/loadavg").read().split()[:3]
print(f"HTTP/2 bench  commit {commit}  {dur}s x {rounds} rounds (median)  load {' '.join(load)}")
def med(samples):
    vals = [v for v, _ in samples if v is not None]
    return statistics.median(vals) if vals else None
def fmt(v):
    return "n/a" if v is None else f"{v:,.0f}"
for row, per in rows.items():
    unit = "B/conn" if row.startswith("idle") else ("msg/s" if row.startswith("ws") else "req/s")
    m = {s: med(x) for s, x in per.items()}
    errs = {s: sum(e or 0 for _, e in x) for s, x in per.items()}
    cells = "  ".join(f"{s} {fmt(v)}" + (f" ({errs[s]} err)" if errs[s] else "") for s, v in m.items())
    if row.startswith("ws"):
        base = m.get("http1.1")
        rat = "  ".join(f"{s}/http1.1 {m[s] / base:.2f}" for s in m if s != "http1.1" and m[s] and base)
    else:
        w = m.get("ws101")
        rat = "  ".join(f"ws101/{p} {w / m[p]:.2f}" for p in ("h2o", "nghttpd") if w and m.get(p))
    print(f"{row:24s} {unit:6s}  {cells}  |  {rat}")
    cpu = {s: (statistics.median(c) if (c := [v for v in (d.get("server_cpu_pct") for d in per_raw.get((row, s), [])) if v is not None]) else None,
               statistics.median(c) if (c := [v for v in (d.get("load_cpu_pct") for d in per_raw.get((row, s), [])) if v is not None]) else None)
           for s in per}
    if any(a is not None for a, _ in cpu.values()):
        print(f"{'':24s} cpu %   " + "  ".join(f"{s} {a:.0f} (h2load {b:.0f})" for s, (a, b) in cpu.items() if a is not None and b is not None))
EOF
