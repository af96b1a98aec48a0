#!/usr/bin/env bash
# Builds h2spec from ../shared/thirdparty/h2spec offline (GOPATH mode over
# Debian's Go packages, as its build-offline.sh does), with our own
# command line (h2spec_main.go) since the copy there lacks cmd/h2spec.
#   bash tests/h2/build_h2spec.sh OUTPUT_BINARY
# Exit 77 when the sources or Go are missing. About 15 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build_h2spec.sh OUTPUT_BINARY}
src_dir=${WS101_H2SPEC_SRC:-$here/../../../shared/thirdparty/h2spec}
[ -d "$src_dir" ] || src_dir=/work/shared/thirdparty/h2spec
if [ ! -f "$src_dir/h2spec.go" ] || ! command -v go >/dev/null; then
  echo "build_h2spec: no h2spec sources ($src_dir) or no go" >&2
  exit 77
fi
[ -x "$out" ] && [ "$out" -nt "$here/h2spec_main.go" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/gopath/src/github.com/summerwind/h2spec
mkdir -p "$pkg"
(cd "$src_dir" && tar --exclude=build-offline.sh -cf - .) | tar -xf - -C "$pkg"
chmod -R u+w "$pkg"
rm -f "$pkg/go.mod" "$pkg/go.sum"
mkdir -p "$pkg/cmd/h2spec"
cp "$here/h2spec_main.go" "$pkg/cmd/h2spec/main.go"
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$pkg" && env GOPATH="$work/gopath:/usr/share/gocode" GO111MODULE=off \
  GOFLAGS= GOPROXY=off GOCACHE="$work/cache" go build -o "$out" ./cmd/h2spec)
