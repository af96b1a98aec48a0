#!/usr/bin/env bash
# Long fuzzing runs: every libFuzzer target for RUNS executions (default
# 10^7) starting from its corpus in fuzz/corpus/<name>/, then the new
# inputs that add coverage are merged back into that corpus (minimised with
# -merge=1), so the tree keeps what was learnt. The CI smoke (ctest -L fuzz,
# 20000 runs) stays short; this is the run to do before a release.
#
#   bash bench/fuzz_long.sh [target...]      # default: every fuzz_* built
#
# Environment: RUNS (10000000), MAX_LEN (4096), FUZZ_DIR (build-fuzz),
# JOBS (targets fuzzed at once, default 2), MAX_TIME (seconds per target,
# 0 = no limit: stop earlier on a busy machine and say so). Builds build-fuzz/ with clang
# if it is missing. Prints one line per target: runs, seconds, exec/s,
# corpus size before/after, and FAIL with the crash file if one was found.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
runs="${RUNS:-10000000}"
max_len="${MAX_LEN:-4096}"
dir="${FUZZ_DIR:-build-fuzz}"
jobs="${JOBS:-2}"
max_time="${MAX_TIME:-0}"
if [ ! -d "$dir/fuzz" ]; then
  cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWS101_FUZZ=ON >/dev/null || exit 1
fi
cmake --build "$dir" -j2 --target fuzzers >/dev/null || exit 1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$dir"/fuzz/fuzz_*; do targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
logs="$dir/fuzz-long"
mkdir -p "$logs"

one() {
  local name="$1" bin="$dir/fuzz/fuzz_$1" corpus="fuzz/corpus/$1"
  local scratch="$logs/$name.new" t0 t1 before after rc
  rm -rf "$scratch" && mkdir -p "$scratch" "$corpus"
  before=$(ls "$corpus" | wc -l)
  t0=$(date +%s)
  (cd "$logs" && "../../$bin" -runs="$runs" -max_len="$max_len" -seed=1 \
     -max_total_time="$max_time" -print_final_stats=1 "../../$scratch" "../../$corpus") >"$logs/$name.log" 2>&1
  rc=$?
  t1=$(date +%s)
  # Keep only inputs that add coverage to what the tree already has.
  "$bin" -merge=1 "$corpus" "$scratch" >>"$logs/$name.log" 2>&1
  after=$(ls "$corpus" | wc -l)
  local done_runs
  done_runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$logs/$name.log" | grep -oE '[0-9]+$' | tail -1)
  # 72: interrupted (SIGINT), like a time limit: not a finding.
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 72 ]; then
    [ "${done_runs:-0}" -lt "$runs" ] && echo "fuzz_long: $name: stopped early at ${done_runs:-?} of $runs runs"
    rc=0
    echo "fuzz_long: $name: ${done_runs:-?} runs in $((t1 - t0)) s ($(( ${done_runs:-0} / ( t1 - t0 > 0 ? t1 - t0 : 1 ) )) exec/s), corpus $before -> $after: ok"
  else
    echo "fuzz_long: $name: FAIL (rc $rc) after $((t1 - t0)) s: $(ls "$logs"/crash-* "$logs"/leak-* "$logs"/timeout-* 2>/dev/null | tr '\n' ' ') see $logs/$name.log"
  fi
  return "$rc"
}

status=0
running=0
for t in "${targets[@]}"; do
  one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit "$status"
