#!/usr/bin/env bash
# A qwen3::Error that one rank alone throws mid-run (QWEN3_TEST_FAULT, engine/fault_injection.hpp)
# ends the whole job: a 3-rank job whose rank 1 fails in prefill, or rank 2 at decode step 3, exits
# non-zero within 5 s of the fault with one line from us naming the rank. Before, that rank returned 1
# and the other two waited in their next collective forever.
#   test_rank_fault.sh prefill|decode QWEN3_BIN MODEL_DIR MPIEXEC [ARGS...]
set -uo pipefail
phase=$1 bin=$2 model=$3
shift 3
mpiexec=("$@")
dir=$(mktemp -d /tmp/qwen3-rank-fault.XXXXXX)
job=""
trap '[[ -n "$job" ]] && kill -9 "$job" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAILED: $*"; echo "--- stderr"; tail -20 "$dir/err"; exit 1; }

case "$phase" in
  prefill) rank=1 fault="1:prefill" ;;
  decode)  rank=2 fault="2:decode:3" ;;
  *) echo "phase: prefill or decode"; exit 2 ;;
esac
QWEN3_TEST_FAULT=$fault "${mpiexec[@]}" -n 3 "$bin" -m "$model" -t 1 -p "It was late in the evening when" -n 32 --temp 0 \
  > "$dir/out" 2> "$dir/err" &
job=$!

# The fault line, then the job's end: both within the budget.
line="qwen3_mpi: error: rank $rank: injected test fault"
for _ in $(seq 600); do grep -q "^$line" "$dir/err" && break; kill -0 "$job" 2>/dev/null || break; sleep 0.05; done
grep -q "^$line" "$dir/err" || fail "no line '$line...' within 30 s"
t0=$(date +%s%N)
for _ in $(seq 100); do kill -0 "$job" 2>/dev/null || break; sleep 0.05; done
kill -0 "$job" 2>/dev/null && fail "the job still runs 5 s after rank $rank's fault"
wait "$job"
rc=$?
job=""
ms=$((($(date +%s%N) - t0) / 1000000))
[[ $rc -ne 0 ]] || fail "the job exited 0 after rank $rank's fault"
[[ $(grep -c "^qwen3_mpi: error:" "$dir/err") -eq 1 ]] || fail "expected exactly one 'qwen3_mpi: error:' line"
echo "rank $rank's fault in $phase ended the job ${ms} ms after its line, exit $rc; stderr said:"
grep "^qwen3_mpi: error:" "$dir/err" | sed 's/^/  /'
