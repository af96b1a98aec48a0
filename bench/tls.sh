#!/usr/bin/env bash
# bench/tls.sh - TLS rows beside their plain twins and beside nginx with TLS
# (issue 11), in one run:
#
#   https hello   wrk -c50 against ws101-demo and nginx, TLS and plain
#   handshakes/s  openssl s_time -new (full) and -reuse (resumed)
#   idle bytes    server RSS growth per idle ws:// and wss:// connection
#                 (bench/tls_idle.c holds IDLE_N connections open)
#
#   bench/tls.sh                 # DURATION=5 IDLE_N=10000
#   QUICK=1 bench/tls.sh         # a smoke run
#
# Server on core 0, load on core 1 (taskset). Writes
# bench/results/tls-latest.txt. The wss echo beside uWebSockets with
# OpenSSL is bench/tls_echo.sh (instructions per message under callgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build-bench}
OUT=${RESULTS_DIR:-$ROOT/bench/results}/tls-latest.txt
if [ "${QUICK:-0}" = 1 ]; then DURATION=${DURATION:-1}; IDLE_N=${IDLE_N:-1000}
else DURATION=${DURATION:-5}; IDLE_N=${IDLE_N:-10000}; fi
RUN=$(mktemp -d /tmp/ws101-tlsbench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$RUN"; }
trap cleanup EXIT
log() { printf '[tls-bench] %s\n' "$*" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWS101_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target ws101-demo ws101 >/dev/null
fi
cc -O2 -I include bench/tls_idle.c -o "$RUN/tls_idle" -L"$BUILD" -lws101 -luv \
  -Wl,-rpath,"$BUILD"
bash tests/tls/make_certs.sh "$RUN/pki"
DEMO=$BUILD/ws101-demo
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_demo [--tls] -> sets PORT and SPID (bounded wait for its line)
start_demo() {
  local args=() f=$RUN/demo.$RANDOM line=""
  [ "${1:-}" = --tls ] && args=(--tls-cert "$RUN/pki/server.pem" --tls-key "$RUN/pki/server.key")
  taskset -c 0 "$DEMO" --port 0 "${args[@]}" >"$f" &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 200); do
    line=$(head -n1 "$f")
    [ -n "$line" ] && break
    sleep 0.05
  done
  PORT=${line##*:}; PORT=${PORT%/}
}

start_nginx() {
  local d=$RUN/nginx port
  mkdir -p "$d"; port=$(free_port)
  cat >"$d/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path $d/cb; proxy_temp_path $d/px; fastcgi_temp_path $d/fc;
  uwsgi_temp_path $d/uw; scgi_temp_path $d/sc;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port ssl;
    listen 127.0.0.1:$((port + 1));
    ssl_certificate $RUN/pki/server.pem;
    ssl_certificate_key $RUN/pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "hello from libws101\n"; }
  }
}
CONF
  taskset -c 0 nginx -p "$d/" -c "$d/nginx.conf" -g "daemon off; pid $d/pid; error_log $d/err;" &
  PIDS+=($!)
  NPORT=$port
  for _ in $(seq 100); do  # bounded wait for the listener
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
    sleep 0.05
  done
  log "nginx did not start"; return 1
}

wrk_rps() { # URL -> requests/s
  taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" "$1" 2>/dev/null |
    awk '/Requests\/sec/ {print $2}'
}

# s_time PORT ARGS... -> connections per real second. Full handshakes are
# TLS 1.3; resumed ones TLS 1.2 with a ticket (s_time does not wait for a
# TLS 1.3 ticket, so its -reuse would really be full handshakes).
s_time() {
  local port=$1
  shift
  taskset -c 1 openssl s_time -connect "127.0.0.1:$port" "$@" -time "$DURATION" 2>/dev/null |
    awk '/connections in [0-9]+ real seconds/ {print int($1/$4); exit}'
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

idle_bytes() { # URL SPID -> bytes per connection
  local before after line fifo=$RUN/idle.$RANDOM out=$RUN/idle.out.$RANDOM ipid
  before=$(rss_kib "$2")
  mkfifo "$fifo"
  taskset -c 1 "$RUN/tls_idle" "$1" "$IDLE_N" <"$fifo" >"$out" &
  ipid=$!
  exec 7>"$fifo" # holds the connections open until closed below
  for _ in $(seq 2400); do
    line=$(head -n1 "$out")
    [ -n "$line" ] && break
    sleep 0.05
  done
  after=$(rss_kib "$2")
  exec 7>&-
  wait "$ipid" 2>/dev/null || true
  [ "${line%% *}" = open ] || { log "idle: ${line:-no answer}"; echo NA; return; }
  echo $(( (after - before) * 1024 / IDLE_N ))
}

{
  echo "# bench/tls.sh $(date -u +%FT%TZ) DURATION=$DURATION IDLE_N=$IDLE_N"
  echo "# $(openssl version); $(nginx -v 2>&1)"
  start_demo; plain=$PORT; ppid=$SPID
  start_demo --tls; tls=$PORT; tpid=$SPID
  start_nginx
  echo "https-hello ws101 $(wrk_rps "https://127.0.0.1:$tls/hello") req/s"
  echo "http-hello  ws101 $(wrk_rps "http://127.0.0.1:$plain/hello") req/s"
  echo "https-hello nginx $(wrk_rps "https://127.0.0.1:$NPORT/") req/s"
  echo "http-hello  nginx $(wrk_rps "http://127.0.0.1:$((NPORT + 1))/") req/s"
  echo "handshakes-full    ws101 $(s_time "$tls" -new -tls1_3) /s"
  echo "handshakes-full    nginx $(s_time "$NPORT" -new -tls1_3) /s"
  echo "handshakes-resumed ws101 $(s_time "$tls" -reuse -tls1_2) /s"
  echo "handshakes-resumed nginx $(s_time "$NPORT" -reuse -tls1_2) /s"
  echo "idle-ws  ws101 $(idle_bytes "ws://127.0.0.1:$plain/ws" "$ppid") B/conn"
  echo "idle-wss ws101 $(idle_bytes "wss://127.0.0.1:$tls/ws" "$tpid") B/conn"
} | tee "$OUT"
