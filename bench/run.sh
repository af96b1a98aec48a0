#!/usr/bin/env bash
# bench/run.sh - the one command for the libws101 benchmarks.
#
#   bench/run.sh                       # DURATION=5 ROUNDS=3 (about 16 minutes)
#   QUICK=1 bench/run.sh               # about a minute: a smoke run
#   DURATION=10 ROUNDS=5 bench/run.sh  # longer, steadier numbers
#
# Installs what is missing (apt, npm), builds libws101 in release mode, the
# load generator and the peers, then runs every workload against every server
# in interleaved rounds (server on core 0, load generator on core 1) and
# writes bench/results/latest.{csv,json,png}. See bench/README.md.
#
# Knobs (environment): DURATION, WARMUP, ROUNDS, QUICK, IDLE_N, IDLE_HOLD,
# SERVERS (space-separated subset of: ws101 uws lws node pyws aiohttp pyws101
# pyaio asgi-ws101 asgi-uvicorn asgi-hypercorn),
# WORKLOADS (subset of: echo echo16 echo512 big deflate deflate1k http http16 h2c
# handshakes idle h2; h2 = bench/h2.sh, its own table in results/h2-latest.txt),
# WS101_H2C=1 (measure ws101-demo with h2load once it speaks h2c),
# SKIP_DEPS=1, SKIP_BUILD=1, RESULTS_DIR (default bench/results).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
BUILD=$ROOT/build-bench
BIN=$BUILD/bench
RESULTS=${RESULTS_DIR:-$BENCH/results} # where latest.* go
PY=/usr/bin/python3
# The Python binding, installed offline into a venv that also sees Debian's
# python3-* packages (Starlette, uvloop): pyws101, pyaio, asgi-ws101 servers
PYVENV=$BUILD/pyvenv-sys

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-1}
  WARMUP=${WARMUP:-0.3}
  ROUNDS=${ROUNDS:-1}
  IDLE_N=${IDLE_N:-2000}
  IDLE_HOLD=${IDLE_HOLD:-1}
else
  DURATION=${DURATION:-5}
  WARMUP=${WARMUP:-1}
  ROUNDS=${ROUNDS:-3}
  IDLE_N=${IDLE_N:-10000}
  IDLE_HOLD=${IDLE_HOLD:-2}
fi
SERVERS=${SERVERS:-"ws101 uws lws node pyws aiohttp pyws101 pyaio asgi-ws101 asgi-uvicorn asgi-hypercorn"}
WORKLOADS=${WORKLOADS:-"echo echo16 echo512 big deflate deflate1k http http16 h2c handshakes idle h2"}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Dependencies
# ---------------------------------------------------------------------------
APT_PKGS="build-essential cmake pkg-config libuv1-dev zlib1g-dev libssl-dev
  libnghttp2-dev libwebsockets-dev python3 python3-websockets python3-aiohttp
  python3-matplotlib nghttp2-client nghttp2-server h2o wrk nginx-light util-linux
  nodejs liblua5.4-dev lua5.4 libluajit-5.1-dev luajit swig lua-http
  python3-dev python3-venv python3-uvloop python3-starlette uvicorn
  python3-hypercorn"

install_deps() {
  local missing=() p
  for p in $APT_PKGS; do
    dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' ||
      missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y --no-install-recommends "${missing[@]}" ||
      log "WARNING: apt-get install failed; rows needing those tools will be n/a"
  fi
  command -v npm >/dev/null || { apt-get install -y --no-install-recommends npm || true; }
  if [ ! -d "$BENCH/peers/node/node_modules/ws" ] ||
    [ "$BENCH/peers/node/package.json" -nt "$BENCH/peers/node/node_modules" ]; then
    log "npm install in bench/peers/node"
    (cd "$BENCH/peers/node" && npm install --no-audit --no-fund --silent) &&
      touch "$BENCH/peers/node/node_modules" || log "WARNING: npm install failed"
  fi
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
build_all() {
  mkdir -p "$BIN"
  log "building libws101 (Release) in build-bench/"
  if [ -f "$ROOT/CMakeLists.txt" ]; then
    { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWS101_BUILD_TESTS=OFF &&
      cmake --build "$BUILD" -j2; } >"$BIN/build-ws101.log" 2>&1 ||
      log "WARNING: libws101 build failed (see build-bench/bench/build-ws101.log); ws101 rows will be n/a"
  else
    log "WARNING: no top-level CMakeLists.txt yet; ws101 rows will be n/a"
  fi
  log "building wsload and lws_echo"
  cc -std=c11 -O2 -Wall -Wextra -o "$BIN/wsload" "$BENCH/wsload.c" -lz || {
    log "ERROR: wsload failed to build"
    exit 1
  }
  # shellcheck disable=SC2046
  cc -std=c11 -O2 -Wall -o "$BIN/lws_echo" "$BENCH/peers/lws_echo.c" \
    $(pkg-config --cflags --libs libwebsockets) ||
    log "WARNING: lws_echo failed to build; lws rows will be n/a"
  if has_server uws; then
    log "building the uWebSockets peer from ../shared/thirdparty"
    bash "$BENCH/peers/uws/build.sh" "$BIN/uws" >/dev/null ||
      log "WARNING: uws_echo failed to build; uws rows will be n/a"
  fi
  if has_server pyws101 || has_server pyaio || has_server asgi-ws101; then
    log "installing the Python binding into build-bench/pyvenv-sys"
    { [ -x "$PYVENV/bin/python" ] || $PY -m venv --system-site-packages "$PYVENV"; } &&
      "$PYVENV/bin/pip" install --no-index --force-reinstall --no-deps "$ROOT/bindings/python" \
        >"$BIN/build-pyws101.log" 2>&1 ||
      log "WARNING: Python binding install failed (see build-bench/bench/build-pyws101.log); pyws101 rows will be n/a"
  fi
}

# ---------------------------------------------------------------------------
# Servers: started once, each pinned to SERVER_CPU, stopped on EXIT
# ---------------------------------------------------------------------------
declare -A PID PORT
RUN_DIR=$(mktemp -d /tmp/ws101-bench.XXXXXX)
LOAD_PIDS=()

cleanup() {
  local p
  for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready NAME: up to 15 s for "listening on" in its log or an open port
wait_ready() {
  local name=$1 i
  for i in $(seq 1 300); do
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      log "WARNING: $name exited at start (log: $RUN_DIR/$name.log):"
      tail -5 "$RUN_DIR/$name.log" >&2
      unset "PID[$name]"
      return 1
    fi
    if grep -q "listening on" "$RUN_DIR/$name.log" 2>/dev/null || port_open "${PORT[$name]}"; then
      return 0
    fi
    sleep 0.05
  done
  log "WARNING: $name not ready after 15 s"
  return 1
}

# server_cmd NAME PORT: the command line that runs server NAME
server_cmd() {
  local name=$1 port=$2
  case $name in
  ws101) [ -x "$BUILD/ws101-demo" ] && echo "$BUILD/ws101-demo --host 127.0.0.1 --port $port" ;;
  lws) [ -x "$BIN/lws_echo" ] && echo "$BIN/lws_echo $port" ;;
  # permessage-deflate on (shared compressor), as in ws101-demo: it applies
  # only to the rows whose client offers it.
  uws) [ -x "$BIN/uws/uws_echo" ] && echo "$BIN/uws/uws_echo $port --deflate" ;;
  node) [ -d "$BENCH/peers/node/node_modules/ws" ] && echo "node $BENCH/peers/node/ws_echo.js $port" ;;
  pyws) $PY -c 'import websockets' 2>/dev/null && echo "$PY $BENCH/peers/py_websockets_echo.py $port" ;;
  aiohttp) $PY -c 'import aiohttp' 2>/dev/null && echo "$PY $BENCH/peers/py_aiohttp_echo.py $port" ;;
  pyws101) # the Python binding's example; --quiet: no print per open/close
    "$PYVENV/bin/python" -c 'import ws101' 2>/dev/null &&
      echo "$PYVENV/bin/python $ROOT/bindings/python/examples/echo_server.py --host 127.0.0.1 --port $port --quiet"
    ;;
  # The Lua binding's example (built into build-bench/lua/ with the
  # library), under Lua 5.4 and LuaJIT; lua-http (LuaJIT: Debian packages
  # it for 5.1-5.3 only) as the Lua peer.
  luaws101)
    [ -f "$BUILD/lua/5.4/ws101/core.so" ] && command -v lua5.4 >/dev/null &&
      echo "env LUA_PATH=$ROOT/bindings/lua/?.lua;; LUA_CPATH=$BUILD/lua/5.4/?.so;; lua5.4 $ROOT/bindings/lua/examples/echo_server.lua --port $port --quiet"
    ;;
  luajitws101)
    [ -f "$BUILD/lua/5.1/ws101/core.so" ] && command -v luajit >/dev/null &&
      echo "env LUA_PATH=$ROOT/bindings/lua/?.lua;; LUA_CPATH=$BUILD/lua/5.1/?.so;; luajit $ROOT/bindings/lua/examples/echo_server.lua --port $port --quiet"
    ;;
  luahttp)
    command -v luajit >/dev/null && luajit -e 'require "http.server"' 2>/dev/null &&
      echo "luajit $BENCH/peers/lua_http_echo.lua $port"
    ;;
  pyaio) # ws101.aio on uvloop, written as the pyws peer is
    "$PYVENV/bin/python" -c 'import ws101.aio, uvloop' 2>/dev/null &&
      echo "$PYVENV/bin/python $BENCH/peers/py_ws101_aio_echo.py $port --uvloop"
    ;;
  # The same Starlette app (peers/asgi_app.py) under three ASGI servers,
  # each on uvloop.
  asgi-ws101)
    "$PYVENV/bin/python" -c 'import ws101.asgi, starlette' 2>/dev/null &&
      echo "env PYTHONPATH=$BENCH/peers $PYVENV/bin/python -m ws101.asgi asgi_app:app --host 127.0.0.1 --port $port --loop uvloop --log-level warning"
    ;;
  asgi-uvicorn)
    $PY -c 'import uvicorn, starlette' 2>/dev/null &&
      echo "env PYTHONPATH=$BENCH/peers $PY -m uvicorn asgi_app:app --host 127.0.0.1 --port $port --loop uvloop --log-level warning --no-access-log"
    ;;
  asgi-hypercorn)
    $PY -c 'import hypercorn, starlette, uvloop' 2>/dev/null &&
      echo "env PYTHONPATH=$BENCH/peers $PY -m hypercorn asgi_app:app --bind 127.0.0.1:$port --worker-class uvloop --log-level warning"
    ;;
  nginx)
    command -v nginx >/dev/null || return 0
    mkdir -p "$RUN_DIR/nginx"
    sed -e "s#@PREFIX@#$RUN_DIR/nginx#g" -e "s#@PORT@#$port#g" \
      -e "s#@NOFILE@#$(ulimit -n)#g" "$BENCH/peers/nginx.conf.in" >"$RUN_DIR/nginx/nginx.conf"
    echo "nginx -c $RUN_DIR/nginx/nginx.conf -p $RUN_DIR/nginx"
    ;;
  nghttpd)
    command -v nghttpd >/dev/null || return 0
    mkdir -p "$RUN_DIR/htdocs"
    printf 'hello' >"$RUN_DIR/htdocs/hello"
    echo "nghttpd --no-tls -a 127.0.0.1 -d $RUN_DIR/htdocs $port"
    ;;
  esac
}

# ensure_server NAME: starts it if it is not running; returns 1 if unavailable
ensure_server() {
  local name=$1 cmd
  if [ -n "${PID[$name]:-}" ] && kill -0 "${PID[$name]}" 2>/dev/null; then
    return 0
  fi
  [ -n "${PID[$name]:-}" ] && log "WARNING: $name died; restarting it"
  cmd=$(server_cmd "$name" 0) || true
  [ -n "$cmd" ] || return 1
  PORT[$name]=$(free_port)
  cmd=$(server_cmd "$name" "${PORT[$name]}")
  # shellcheck disable=SC2086
  taskset -c "$SERVER_CPU" $cmd >"$RUN_DIR/$name.log" 2>&1 &
  PID[$name]=$!
  wait_ready "$name"
}

stop_server() {
  local name=$1 p=${PID[$1]:-}
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null
  for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  unset "PID[$name]"
}

# RSS in KiB of a process and its children (nginx's worker holds the sockets)
rss_kib() {
  local pid=$1 total=0 c v
  for c in $pid $(pgrep -P "$pid"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$c/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ---------------------------------------------------------------------------
# Measurements: each appends one JSON line to $RAW
# ---------------------------------------------------------------------------
RAW=$RUN_DIR/raw.jsonl
: >"$RAW"

record() { # record WORKLOAD SERVER ROUND JSON
  $PY -c 'import json,sys; d=json.loads(sys.argv[4]); d.update(workload=sys.argv[1], server=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(d))' \
    "$1" "$2" "$3" "$4" >>"$RAW"
}

record_na() { # record_na WORKLOAD SERVER REASON
  $PY -c 'import json,sys; print(json.dumps(dict(workload=sys.argv[1], server=sys.argv[2], round=0, na=sys.argv[3])))' \
    "$1" "$2" "$3" >>"$RAW"
}

# bounded: every tool run gets a hard timeout on top of its own duration
TMO() { timeout -k 5 "$1" "${@:2}"; }
LIMIT=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')

run_wsload() { # run_wsload WORKLOAD SERVER ROUND ARGS...
  local w=$1 s=$2 r=$3 out
  shift 3
  out=$(TMO "$LIMIT" taskset -c "$LOAD_CPU" "$BIN/wsload" --url "ws://127.0.0.1:${PORT[$s]}/ws" \
    --duration "$DURATION" --warmup "$WARMUP" --json "$@" 2>"$RUN_DIR/wsload.err")
  if [ -z "$out" ]; then
    log "WARNING: wsload produced nothing for $w/$s: $(tail -2 "$RUN_DIR/wsload.err")"
    out='{"errors":1,"note":"wsload failed"}'
  fi
  record "$w" "$s" "$r" "$out"
}

run_wrk() { # run_wrk WORKLOAD SERVER ROUND [pipeline]
  local w=$1 s=$2 r=$3 extra=()
  [ "${4:-}" = pipeline ] && extra=(-s "$BENCH/peers/wrk_pipeline.lua")
  TMO "$LIMIT" taskset -c "$LOAD_CPU" wrk -t1 -c100 -d"${DURATION}s" --latency "${extra[@]}" \
    "http://127.0.0.1:${PORT[$s]}/hello" >"$RUN_DIR/wrk.out" 2>&1
  record "$w" "$s" "$r" "$($PY "$BENCH/report.py" wrk "$RUN_DIR/wrk.out")"
}

run_h2load() { # run_h2load WORKLOAD SERVER ROUND
  local w=$1 s=$2 r=$3 d wu
  # h2load takes whole seconds only
  d=$(awk -v x="$DURATION" 'BEGIN { x = int(x + 0.999); print (x < 1 ? 1 : x) }')
  wu=$(awk -v x="$WARMUP" 'BEGIN { x = int(x + 0.999); print (x < 1 ? 1 : x) }')
  TMO "$LIMIT" taskset -c "$LOAD_CPU" h2load -t1 -c10 -m100 -D "$d" \
    --warm-up-time "$wu" "http://127.0.0.1:${PORT[$s]}/hello" >"$RUN_DIR/h2load.out" 2>&1
  record "$w" "$s" "$r" "$($PY "$BENCH/report.py" h2load "$RUN_DIR/h2load.out")"
}

# established TCP connections on the server's port (server side)
established() {
  ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l
}

# rss_settled PID: RSS (KiB) once two reads 0.2 s apart agree (at most 5 s)
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

# warm_up SERVER: open and close 100 WebSockets and make one HTTP request, so
# one-time costs (library pages touched, lazily initialised state, the first
# arena growth) are in the baseline instead of being charged per connection.
warm_up() {
  local s=$1
  TMO 40 taskset -c "$LOAD_CPU" "$BIN/wsload" --url "ws://127.0.0.1:${PORT[$s]}/ws" \
    --idle 100 --hold 0.2 --json >/dev/null 2>&1
  # any answer will do (404 from an echo-only server included)
  TMO 10 curl -s -m 5 -o /dev/null "http://127.0.0.1:${PORT[$s]}/hello" || true
  for _ in $(seq 1 50); do # until the server has closed them all
    [ "$(established "${PORT[$s]}")" -le 0 ] && break
    sleep 0.1
  done
}

run_idle() { # run_idle WORKLOAD SERVER: RSS delta / N for N idle WebSockets
  local w=$1 s=$2 fresh before after lp i out est=0
  stop_server "$s"  # a fresh server, so earlier load does not hide the cost
  ensure_server "$s" || { record_na "$w" "$s" "server unavailable"; return; }
  sleep 0.3
  fresh=$(rss_kib "${PID[$s]}")
  warm_up "$s"
  before=$(rss_settled "${PID[$s]}")
  : >"$RUN_DIR/idle.err"
  TMO $((60 + ${IDLE_HOLD%.*} + 30)) taskset -c "$LOAD_CPU" "$BIN/wsload" \
    --url "ws://127.0.0.1:${PORT[$s]}/ws" --idle "$IDLE_N" --hold "$IDLE_HOLD" --json \
    >"$RUN_DIR/idle.out" 2>"$RUN_DIR/idle.err" &
  lp=$!
  LOAD_PIDS+=("$lp")
  for i in $(seq 1 1800); do
    grep -q READY "$RUN_DIR/idle.err" && break
    kill -0 "$lp" 2>/dev/null || break
    sleep 0.05
  done
  # READY means the client saw every 101; wait until the server side holds
  # them all too (an accepted socket per connection), then for RSS to settle
  for _ in $(seq 1 40); do
    est=$(established "${PORT[$s]}")
    [ "$est" -ge "$IDLE_N" ] && break
    sleep 0.05
  done
  after=$(rss_settled "${PID[$s]}")
  wait "$lp"
  out=$(cat "$RUN_DIR/idle.out")
  [ -n "$out" ] || out='{"errors":1,"note":"wsload --idle failed"}'
  out=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); o=d.get("open",0); f,b,a,e=(int(x) for x in sys.argv[2:6]); d.update(rss_fresh_kib=f, rss_before_kib=b, rss_after_kib=a, server_established=e, warmup_kib=b-f, bytes_per_conn=((a-b)*1024/o if o else None), p50_us=None, p99_us=None, mb_per_s=None); print(json.dumps(d))' \
    "$out" "$fresh" "$before" "$after" "$est")
  record "$w" "$s" 1 "$out"
  log "  idle $s: $(grep READY "$RUN_DIR/idle.err") server-side $est; rss fresh ${fresh}, after warm-up ${before}, open ${after} KiB"
  stop_server "$s"
}

# One workload: every server in turn, ROUNDS times (interleaved).
# run_workload NAME KIND SERVERS ARGS...
run_workload() {
  local w=$1 kind=$2 servers=$3 r s
  shift 3
  for s in $servers; do
    ensure_server "$s" || record_na "$w" "$s" "server unavailable"
  done
  for r in $(seq 1 "$ROUNDS"); do
    for s in $servers; do
      [ -n "${PID[$s]:-}" ] || continue
      ensure_server "$s" || continue
      log "$w  round $r/$ROUNDS  $s"
      case $kind in
      ws) run_wsload "$w" "$s" "$r" "$@" ;;
      wrk) run_wrk "$w" "$s" "$r" "$@" ;;
      h2load) run_h2load "$w" "$s" "$r" ;;
      esac
    done
  done
}

has_server() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }
http_servers() { # peers with a GET /hello
  local s out=""
  for s in ws101 uws nginx node aiohttp asgi-ws101 asgi-uvicorn asgi-hypercorn; do
    { [ "$s" = nginx ] || has_server "$s"; } && out="$out $s"
  done
  echo "$out"
}

# ---------------------------------------------------------------------------
main() {
  mkdir -p "$RESULTS"
  [ "${SKIP_DEPS:-0}" = 1 ] || install_deps
  [ "${SKIP_BUILD:-0}" = 1 ] || build_all
  local want=$((IDLE_N + 200))
  if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
    ulimit -Hn "$want" 2>/dev/null || true
  fi
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    IDLE_N=$(($(ulimit -n) - 200))
    log "WARNING: RLIMIT_NOFILE is $(ulimit -n); idle test lowered to $IDLE_N connections"
  fi
  log "DURATION=${DURATION}s WARMUP=${WARMUP}s ROUNDS=$ROUNDS IDLE_N=$IDLE_N servers: $SERVERS"
  log "server on CPU $SERVER_CPU, load on CPU $LOAD_CPU; load avg: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ -x "$BUILD/ws101-demo" ] || log "WARNING: build-bench/ws101-demo missing; ws101 rows will be n/a"

  local w
  for w in $WORKLOADS; do
    case $w in
    echo) run_workload ws-32B-c100-p1 ws "$SERVERS" --connections 100 --pipeline 1 --size 32 ;;
    echo16) run_workload ws-32B-c100-p16 ws "$SERVERS" --connections 100 --pipeline 16 --size 32 ;;
    echo512) # uWebSockets' published single-core 512 B figure (stretch target)
      run_workload ws-512B-c100-p16 ws "$SERVERS" --connections 100 --pipeline 16 --size 512 ;;
    big) run_workload ws-64KiB-c10-p1 ws "$SERVERS" --connections 10 --pipeline 1 --size 65536 --binary ;;
    deflate) run_workload ws-32B-c100-p1-deflate ws "$SERVERS" --connections 100 --pipeline 1 --size 32 --deflate ;;
    deflate1k) run_workload ws-1KiB-c100-p1-deflate ws "$SERVERS" --connections 100 --pipeline 1 --size 1024 --deflate ;;
    handshakes) run_workload handshakes-c16 ws "$SERVERS" --connections 16 --handshakes ;;
    http) run_workload http1-hello-c100 wrk "$(http_servers)" ;;
    http16) run_workload http1-hello-c100-pipe16 wrk "$(http_servers)" pipeline ;;
    h2c)
      if [ "${WS101_H2C:-0}" = 1 ]; then
        run_workload h2c-hello-c10-m100 h2load "ws101 nghttpd"
      else
        record_na h2c-hello-c10-m100 ws101 "n/a (HTTP/2 not yet implemented)"
        run_workload h2c-hello-c10-m100 h2load "nghttpd"
      fi
      ;;
    idle)
      local s
      for s in $SERVERS; do
        log "idle-$IDLE_N  $s"
        run_idle "idle-$IDLE_N" "$s"
      done
      ;;
    h2) # HTTP/2 against h2o and nghttpd, RFC 8441 beside HTTP/1.1: its own
      # servers, rounds and table (bench/results/h2-latest.txt)
      log "h2: bench/h2.sh"
      DURATION=$DURATION WARMUP=$WARMUP ROUNDS=$ROUNDS QUICK=$QUICK SKIP_BUILD=1 \
        BUILD=$BUILD RESULTS_DIR=$RESULTS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU \
        bash "$BENCH/h2.sh" || log "WARNING: bench/h2.sh failed"
      ;;
    *) log "WARNING: unknown workload $w" ;;
    esac
  done

  for s in "${!PID[@]}"; do stop_server "$s"; done
  $PY -c 'import json,sys,os; print(json.dumps(dict(date=sys.argv[1], duration=float(sys.argv[2]), warmup=float(sys.argv[3]), rounds=int(sys.argv[4]), idle_n=int(sys.argv[5]), quick=sys.argv[6]=="1", commit=sys.argv[7], kernel=os.uname().release, cpus=os.cpu_count(), server_cpu=sys.argv[8], load_cpu=sys.argv[9])))' \
    "$(date -u +%FT%TZ)" "$DURATION" "$WARMUP" "$ROUNDS" "$IDLE_N" "$QUICK" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$SERVER_CPU" "$LOAD_CPU" >"$RUN_DIR/meta.json"
  cp "$RAW" "$RESULTS/latest.raw.jsonl"
  echo
  $PY "$BENCH/report.py" summarize "$RAW" "$RESULTS" "$RUN_DIR/meta.json" | tee "$RESULTS/latest.txt"
  if $PY "$BENCH/plot.py" "$RESULTS/latest.json" "$RESULTS/latest.png"; then
    log "wrote ${RESULTS#"$ROOT"/}/latest.{csv,json,txt,png}"
  else
    log "WARNING: plot failed; wrote ${RESULTS#"$ROOT"/}/latest.{csv,json,txt}"
  fi
}

main "$@"
