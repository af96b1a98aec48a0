#!/usr/bin/env bash
# Installs what is missing, builds everything (release) and starts the demo
# server on http://127.0.0.1:${PORT:-8080}/ (it prints its URL).
#
#   bash scripts/demo.sh          PORT=9000 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/build.sh --release
dir="${WS101_BUILD_DIR:-build}"
if [ ! -x "$dir/ws101-demo" ]; then
  echo "demo.sh: $dir/ws101-demo was not built (is examples/ws101_demo.c there?)" >&2
  exit 1
fi
exec "$dir/ws101-demo" --host 127.0.0.1 --port "${PORT:-8080}"
