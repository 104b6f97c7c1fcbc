#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/, clang, ASan + UBSan) and runs each one on its committed
# seed corpus for SECONDS (default 30), with a 1 s limit per input. New inputs go to a scratch corpus,
# never into the repository; a crash, leak, timeout or failed property stops the run with its input
# saved as OUT/crash-* (and exit 1). .ci/run calls it as a regression check; for a long local run:
#   bash scripts/fuzz.sh 1800 [BUILD_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${2:-build-fuzz}
out=${3:-$build/fuzz-out}
CXX=${FUZZ_CXX:-clang++} cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQWEN3_FUZZ=ON > /dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
status=0
for seeds in tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  work="$out/$name"
  mkdir -p "$work/corpus"
  echo "== $name: ${seconds} s on $(ls "$seeds" | wc -l) seeds"
  if ! "$build/tests/fuzz/$name" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work/corpus" "$seeds" > "$work/log" 2>&1; then
    status=1
    echo "FAILED: $name (input saved under $work/):"
    grep -E "ERROR|property failed|SUMMARY|Test unit written" "$work/log" | head -10
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE" "$work/log" | tr '\n' ' '
  echo
done
exit $status
