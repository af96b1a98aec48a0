#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole test suite
# in three configurations:
#
#   1. build/       release, WS101_WERROR=ON: unit, integration, install tests
#   2. build-asan/  ASan + UBSan (WS101_SANITIZE=ON): the same tests
#   3. build-fuzz/  clang + libFuzzer (WS101_FUZZ=ON): the fuzz.* smoke runs
#
# Every stage runs even when an earlier one failed; the exit status is
# non-zero if any stage failed. The last line is the summary:
#   test.sh: N passed, N failed, N skipped
# counting the ctest tests of all stages (a stage that fails to build counts
# as one failure).
#
# Environment: WS101_BUILD_DIR, WS101_ASAN_DIR, WS101_FUZZ_DIR override the
# three build directories; CTEST_PARALLEL_LEVEL (default: nproc) is ctest's -j;
# WS101_SKIP_DEPS=1 skips scripts/deps.sh.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

build_dir="${WS101_BUILD_DIR:-build}"
asan_dir="${WS101_ASAN_DIR:-build-asan}"
fuzz_dir="${WS101_FUZZ_DIR:-build-fuzz}"
jobs="$(nproc 2>/dev/null || echo 2)"
logs="$(mktemp -d "${TMPDIR:-/tmp}/ws101-test.XXXXXX")"
# Tests use ephemeral ports and their own temp dirs, so they run in parallel.
export CTEST_PARALLEL_LEVEL="${CTEST_PARALLEL_LEVEL:-$jobs}"

if [ "${WS101_SKIP_DEPS:-0}" != 1 ]; then
  bash scripts/deps.sh || {
    echo "test.sh: scripts/deps.sh failed"
    echo "test.sh: 0 passed, 1 failed"
    exit 1
  }
fi

total_pass=0
total_fail=0
total_skip=0
stages=()

banner() { printf '\n==== %s ====\n' "$*"; }

# run_ctest STAGE DIR [ctest args...]: runs ctest, adds up its counts.
run_ctest() {
  local stage="$1" dir="$2"
  shift 2
  local log="$logs/$stage.ctest.log" rc=0
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log" || rc=$?
  # "100% tests passed, 0 tests failed out of 12"
  local line failed total skipped
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)"
  if [ -n "$line" ]; then
    failed="$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/')"
    total="$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')"
    # Skipped tests (exit 77: a peer is missing) count as passed in ctest's
    # line; here they are counted apart.
    skipped="$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$log" || true)"
    total_pass=$((total_pass + total - failed - skipped))
    total_fail=$((total_fail + failed))
    total_skip=$((total_skip + skipped))
  elif [ "$rc" -ne 0 ] || ! grep -q 'No tests were found' "$log"; then
    total_fail=$((total_fail + 1)) # ctest itself failed
    rc=1
  fi
  if [ "$rc" -eq 0 ]; then
    stages+=("$stage: ok")
  else
    stages+=("$stage: FAILED (tests)")
  fi
  return "$rc"
}

build_failed() {
  stages+=("$1: FAILED (build)")
  total_fail=$((total_fail + 1))
}

# 1. Release build with -Werror.
banner "release build ($build_dir/, WS101_WERROR=ON)"
if WS101_BUILD_DIR="$build_dir" bash scripts/build.sh --release -DWS101_WERROR=ON; then
  banner "ctest in $build_dir/"
  run_ctest release "$build_dir"
else
  build_failed release
fi

# 2. ASan + UBSan. Without the Autobahn|Testsuite runs (label autobahn):
# they take minutes in release already, their 16 MiB messages and 1000-
# message cases would take far longer instrumented, and what they check is
# protocol behaviour, which the release build shows the same.
banner "ASan+UBSan build ($asan_dir/)"
if WS101_BUILD_DIR="$asan_dir" bash scripts/build.sh --asan; then
  banner "ctest in $asan_dir/ (ASan+UBSan)"
  ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    run_ctest asan "$asan_dir" -LE '^autobahn$'
else
  build_failed asan
fi

# 3. Fuzz smoke: clang, libFuzzer targets only.
banner "fuzz build ($fuzz_dir/, clang, WS101_FUZZ=ON)"
if cmake -S . -B "$fuzz_dir" -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWS101_FUZZ=ON &&
  cmake --build "$fuzz_dir" -j"$jobs" --target fuzzers; then
  banner "fuzz smoke in $fuzz_dir/"
  run_ctest fuzz "$fuzz_dir" -L '^fuzz$'
else
  build_failed fuzz
fi

rm -rf "$logs"
banner "summary"
for s in "${stages[@]}"; do
  echo "  $s"
done
echo "test.sh: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
