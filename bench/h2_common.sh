# bench/h2_common.sh - sourced by bench/h2.sh and bench/h2_profile.sh: the
# three HTTP/2 servers (ws101-demo, h2o, nghttpd) started the same way,
# server on core 0, load on core 1, each on a port picked free at run time,
# all stopped on exit.
#
#   h2_setup                  build (unless SKIP_BUILD=1), certificates,
#                             the static "hello" file, a temp dir $H2_RUN
#   h2_start NAME MODE [WRAPPER...]   MODE h2c (prior knowledge) or h2 (TLS)
#   h2_url NAME MODE          the URL of GET /hello on it
#   h2_stop NAME
#
# The body is the demo's: "hello from libws101\n" (20 bytes), so all three
# send the same DATA. h2o and nghttpd serve it as a static file (h2o 2.2
# caches the open file; nghttpd opens it per request, as it always does).
# h2o: `num-threads: 1` (one event loop, as ours), access log off,
# http2-idle-timeout raised so the idle-connection row is not cut short.

H2_ROOT=${H2_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
H2_BUILD=${BUILD:-$H2_ROOT/build-bench}
H2_DEMO=$H2_BUILD/ws101-demo
H2_BIN=$H2_BUILD/bench
H2_SERVER_CPU=${SERVER_CPU:-0}
H2_LOAD_CPU=${LOAD_CPU:-1}
declare -A H2_PID H2_PORT

h2_log() { printf '[h2-bench] %s\n' "$*" >&2; }

h2_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

h2_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

h2_cleanup() {
  local s
  for s in "${!H2_PID[@]}"; do h2_stop "$s"; done
  [ -n "${H2_RUN:-}" ] && rm -rf "$H2_RUN"
}

h2_setup() {
  H2_RUN=$(mktemp -d /tmp/ws101-h2bench.XXXXXX)
  trap h2_cleanup EXIT
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cmake -S "$H2_ROOT" -B "$H2_BUILD" -DCMAKE_BUILD_TYPE=Release -DWS101_BUILD_TESTS=OFF >/dev/null &&
      cmake --build "$H2_BUILD" -j2 --target ws101-demo >/dev/null || h2_log "WARNING: build failed"
  fi
  mkdir -p "$H2_BIN"
  if [ "${SKIP_BUILD:-0}" != 1 ] || [ ! -x "$H2_BIN/h2wsload" ]; then
    cc -O2 -Wall -Wextra -o "$H2_BIN/h2wsload" "$H2_ROOT/bench/h2wsload.c" -lnghttp2 -lssl -lcrypto ||
      h2_log "WARNING: h2wsload did not build"
  fi
  bash "$H2_ROOT/tests/tls/make_certs.sh" "$H2_RUN/pki" >/dev/null 2>&1
  mkdir -p "$H2_RUN/htdocs"
  printf 'hello from libws101\n' >"$H2_RUN/htdocs/hello"
}

# h2_start NAME MODE [WRAPPER...]: sets H2_PID[NAME], H2_PORT[NAME]
h2_start() {
  local name=$1 mode=$2 port log i cmd=()
  shift 2
  port=$(h2_free_port)
  log=$H2_RUN/$name-$mode.log
  case $name in
  ws101)
    [ -x "$H2_DEMO" ] || return 1
    cmd=("$H2_DEMO" --host 127.0.0.1 --port "$port")
    [ "$mode" = h2 ] && cmd+=(--tls-cert "$H2_RUN/pki/server.pem" --tls-key "$H2_RUN/pki/server.key")
    ;;
  h2o)
    command -v h2o >/dev/null || return 1
    {
      echo "num-threads: 1"
      echo "user: $(id -un)" # run as root, h2o would switch to nobody (and callgrind_control could not reach it)
      echo "http2-idle-timeout: 3600"
      echo "max-connections: 100000" # the default, 1024, would cap the idle row
      echo "hosts:"
      echo "  default:"
      echo "    listen:"
      echo "      host: 127.0.0.1"
      echo "      port: $port"
      if [ "$mode" = h2 ]; then
        echo "      ssl:"
        echo "        certificate-file: $H2_RUN/pki/server.pem"
        echo "        key-file: $H2_RUN/pki/server.key"
        echo "        ocsp-update-interval: 0"
      fi
      echo "    paths:"
      echo "      /hello:"
      echo "        file.file: $H2_RUN/htdocs/hello"
    } >"$H2_RUN/h2o-$mode.conf"
    cmd=(h2o -c "$H2_RUN/h2o-$mode.conf")
    ;;
  nghttpd)
    command -v nghttpd >/dev/null || return 1
    cmd=(nghttpd -a 127.0.0.1 -d "$H2_RUN/htdocs")
    if [ "$mode" = h2 ]; then
      cmd+=("$port" "$H2_RUN/pki/server.key" "$H2_RUN/pki/server.pem")
    else
      cmd+=(--no-tls "$port")
    fi
    ;;
  *) return 1 ;;
  esac
  taskset -c "$H2_SERVER_CPU" "$@" "${cmd[@]}" >"$log" 2>&1 &
  H2_PID[$name]=$!
  H2_PORT[$name]=$port
  for i in $(seq 1 1200); do # 60 s: valgrind starts slowly
    if ! kill -0 "${H2_PID[$name]}" 2>/dev/null; then
      h2_log "WARNING: $name exited at start: $(tail -3 "$log")"
      unset "H2_PID[$name]"
      return 1
    fi
    h2_port_open "$port" && return 0
    sleep 0.05
  done
  h2_log "WARNING: $name not listening after 60 s"
  return 1
}

h2_url() {
  local scheme=http
  [ "$2" = h2 ] && scheme=https
  echo "$scheme://127.0.0.1:${H2_PORT[$1]}/hello"
}

h2_stop() {
  local p=${H2_PID[$1]:-} i
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null
  for i in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  unset "H2_PID[$1]"
}
