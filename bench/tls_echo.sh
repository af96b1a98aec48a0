#!/usr/bin/env bash
# bench/tls_echo.sh - what TLS costs a WebSocket echo, ws101 beside
# uWebSockets built with OpenSSL (issue 11): user-space instructions per
# echoed message under callgrind, over ws:// and wss://, same workload,
# same load generator (bench/peers/node/wss_load.js), in one run; the
# handshakes of the measured connections are not counted.
#
#   bench/tls_echo.sh                     # 32 B x 16 in flight, 64 KiB x 1
#   DURATION=3 bench/tls_echo.sh
#
# Instructions, not messages per second: the node load generator would be
# the bottleneck, and callgrind's counts do not depend on machine noise. The
# count starts after a 1 s warm-up run (callgrind_control --instr=on) and
# covers the whole server process. The ratio that matters is wss/ws per
# server: the goal is ws101's no worse than uWS's. Writes
# bench/results/tls-echo-latest.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/build-bench
PBUILD=$BUILD/prof
BIN=$BUILD/bench
OUT=$ROOT/bench/results/tls-echo-latest.txt
DURATION=${DURATION:-5}
NODE_DIR=$ROOT/bench/peers/node
RUN=$(mktemp -d /tmp/ws101-tlsecho.XXXXXX)
SPID=
cleanup() {
  [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT
log() { printf '[tls-echo] %s\n' "$*" >&2; }

if [ ! -d "$NODE_DIR/node_modules/ws" ]; then
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent) || exit 1
fi
if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -x "$PBUILD/ws101-demo" ]; then
  { cmake -S "$ROOT" -B "$PBUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWS101_BUILD_TESTS=OFF &&
    cmake --build "$PBUILD" -j2 --target ws101-demo; } >"$RUN/build.log" 2>&1 ||
    { log "build failed"; cat "$RUN/build.log" >&2; exit 1; }
fi
bash "$ROOT/bench/peers/uws/build.sh" "$BIN/uws" --ssl >/dev/null || exit 1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RUN/key.pem" -out "$RUN/cert.pem" \
  -days 2 -subj /CN=localhost >/dev/null 2>&1 || exit 1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# measure SERVER SCHEME CONNS PIPELINE SIZE: prints Ir/msg
measure() {
  local server=$1 scheme=$2 conns=$3 pipe=$4 size=$5 port cmd total msgs
  port=$(free_port)
  case $server in
  ws101)
    cmd=("$PBUILD/ws101-demo" --host 127.0.0.1 --port "$port")
    [ "$scheme" = wss ] && cmd+=(--tls-cert "$RUN/cert.pem" --tls-key "$RUN/key.pem")
    ;;
  uws) # the OpenSSL build serves wss only; ws:// rows use the plain build
    if [ "$scheme" = wss ]; then
      cmd=("$BIN/uws/uws_echo_ssl" "$port" --cert "$RUN/cert.pem" --key "$RUN/key.pem")
    else
      cmd=("$BIN/uws/uws_echo" "$port")
    fi
    ;;
  esac
  taskset -c 0 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$RUN/cg.out" "${cmd[@]}" >"$RUN/server.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 300); do
    grep -q "listening on" "$RUN/server.log" && break
    kill -0 "$SPID" 2>/dev/null || { cat "$RUN/server.log" >&2; return 1; }
    sleep 0.05
  done
  local url="$scheme://127.0.0.1:$port/ws"
  # Warm-up on its own connections; then the measured run opens its
  # connections (full handshakes, not counted), and only once they are all
  # open is instrumentation switched on and the load released (--gate).
  timeout -k 5 60 taskset -c 1 node "$NODE_DIR/wss_load.js" "$url" "$conns" "$pipe" "$size" 1 >/dev/null
  rm -f "$RUN/gate"
  mkfifo "$RUN/gate"
  timeout -k 5 $((DURATION + 150)) taskset -c 1 node "$NODE_DIR/wss_load.js" "$url" \
    "$conns" "$pipe" "$size" "$DURATION" --gate <"$RUN/gate" >"$RUN/load.json" 2>"$RUN/load.err" &
  local lp=$!
  exec 7>"$RUN/gate"
  for _ in $(seq 1 2400); do
    grep -q OPEN "$RUN/load.err" && break
    kill -0 "$lp" 2>/dev/null || break
    sleep 0.05
  done
  callgrind_control --instr=on "$SPID" >/dev/null 2>&1
  echo go >&7
  exec 7>&-
  wait "$lp"
  msgs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"])' "$RUN/load.json" 2>/dev/null)
  kill -INT "$SPID" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
  kill -TERM "$SPID" 2>/dev/null
  wait "$SPID" 2>/dev/null
  SPID=
  total=$(callgrind_annotate "$RUN/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  if [ -z "$total" ] || [ -z "$msgs" ] || [ "$msgs" -le 0 ]; then
    echo "n/a"
  else
    echo "$((total / msgs))"
  fi
}

{
  echo "# wss vs ws echo, user-space Ir per message (callgrind), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD)"
  printf '%-22s %10s %10s %8s\n' "workload/server" "ws Ir/msg" "wss Ir/msg" "wss/ws"
} >"$OUT"
for wl in "32 100 16" "65536 10 1"; do
  set -- $wl
  size=$1 conns=$2 pipe=$3
  for server in ws101 uws; do
    log "$server ${size}B c$conns p$pipe"
    a=$(measure "$server" ws "$conns" "$pipe" "$size")
    b=$(measure "$server" wss "$conns" "$pipe" "$size")
    r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", b / a; else print "n/a" }')
    printf '%-22s %10s %10s %8s\n' "${size}B-c$conns-p$pipe/$server" "$a" "$b" "$r" | tee -a "$OUT"
  done
done
log "wrote ${OUT#"$ROOT"/}"
