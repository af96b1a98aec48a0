#!/bin/bash
# test_cli.sh TOOL PYTHON PEERS - the `ws101` CLI end to end (the basics;
# test_cli.py has the rest, one ctest per case):
#   ws101 serve + ws101 connect, ws101 connect against Python `websockets`
#   and node `ws` echo servers, a non-101 answer, ws101 get, --help.
# Readiness comes from the servers' own "listening"/port lines: no sleeps.
set -u
TOOL=$1 PY=$2 PEERS=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${srv:-}" ] && kill "$srv" 2>/dev/null' EXIT

"$TOOL" --help | grep -q 'ws101 connect URL' || fail "--help"

# 1. Against our own server.
exec 3< <(exec "$TOOL" serve --host 127.0.0.1 --port 0 --echo)
srv=$!
read -r line <&3 || fail "serve printed nothing"
case $line in "listening on http://127.0.0.1:"*/) ;; *) fail "serve: $line" ;; esac
port=${line#listening on http://127.0.0.1:}
port=${port%/}
out=$(printf 'a\nb\n' | "$TOOL" connect "ws://127.0.0.1:$port/ws") ||
  fail "connect to ws101 serve exited $?"
[ "$out" = $'a\nb' ] || fail "ws101 serve echo gave '$out'"
# stdin from a regular file takes the other input path.
printf 'x\ny\nlast-without-newline' > "$tmp/in"
out=$("$TOOL" connect --no-deflate "ws://127.0.0.1:$port/" < "$tmp/in") ||
  fail "connect with file stdin exited $?"
[ "$out" = $'x\ny\nlast-without-newline' ] || fail "file stdin gave '$out'"
out=$("$TOOL" get "http://127.0.0.1:$port/") || fail "get from serve"
case $out in "ws101 server"*) ;; *) fail "get gave '$out'" ;; esac
kill -TERM "$srv"
wait "$srv" 2>/dev/null
srv=
exec 3<&-

# 2. Python websockets and node ws echo servers (through peers.py).
for peer in ws-echo ws-node; do
  out=$("$PY" "$PEERS" $peer -- bash -c \
    'printf "a\nb\n" | "$0" connect "ws://127.0.0.1:$WS101_TEST_PORT/ws"' \
    "$TOOL")
  rc=$?
  if [ $rc = 77 ]; then echo "note: $peer unavailable, skipped"; continue; fi
  [ $rc = 0 ] || fail "connect to $peer exited $rc"
  [ "$out" = $'a\nb' ] || fail "$peer echo gave '$out'"
done

# 3. A server answering 426: non-zero exit and a clear message.
"$PY" "$PEERS" ws-raw -- bash -c \
  'printf "a\n" | "$0" connect "ws://127.0.0.1:$WS101_TEST_PORT/426"' \
  "$TOOL" 2> "$tmp/err" && fail "connect to a 426 answer exited 0"
grep -q "426 Upgrade Required" "$tmp/err" || fail "426 message: $(cat "$tmp/err")"
# Refused connection.
printf 'a\n' | "$TOOL" connect ws://127.0.0.1:1/ 2> "$tmp/err" &&
  fail "refused connection exited 0"
grep -q "refused" "$tmp/err" || fail "refused message: $(cat "$tmp/err")"

# 4. ws101 get against Python's http.server.
out=$("$PY" "$PEERS" http -- bash -c \
  '"$0" get "http://127.0.0.1:$WS101_TEST_PORT/hello"' "$TOOL") ||
  fail "get exited $?"
[ "$out" = "hello world" ] || fail "get gave '$out'"

echo "cli ok"
