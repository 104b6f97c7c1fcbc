#!/usr/bin/env bash
# Ctrl-C on mpirun stops every rank cleanly and rank 0 still prints its timing line: SIGINT goes to
# mpirun alone (the ranks sit in process groups of their own, as under a terminal), mpirun passes
# SIGTERM on to the ranks, rank 0 stops between two tokens and tells the others.
#   test_ctrl_c.sh QWEN3_BIN MODEL_DIR MPIEXEC [ARGS...]
set -uo pipefail
bin=$1 model=$2
shift 2
dir=$(mktemp -d /tmp/qwen3-ctrl-c.XXXXXX)
job=""
trap '[[ -n "$job" ]] && kill -9 "$job" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAILED: $*"; echo "--- stderr"; tail -5 "$dir/err"; exit 1; }
"$@" -n 3 "$bin" -m "$model" -p "It was late in the evening when" -n -1 --temp 0 --kv-policy sink-window --window 60 -t 1 \
  > "$dir/out" 2> "$dir/err" &
job=$!
for _ in $(seq 600); do [[ -s "$dir/out" ]] && break; sleep 0.05; done
[[ -s "$dir/out" ]] || fail "no generated text within 30 s"
sleep 0.5
ranks=$(pgrep -P "$job" | tr '\n' ' ')
t0=$(date +%s%N)
kill -INT "$job"
for _ in $(seq 200); do kill -0 "$job" 2>/dev/null || break; sleep 0.05; done
kill -0 "$job" 2>/dev/null && fail "mpirun still runs 10 s after SIGINT"
wait "$job"
rc=$?
job=""
ms=$((($(date +%s%N) - t0) / 1000000))
for p in $ranks; do  # a rank may take a moment to be reaped after mpirun returned
  for _ in $(seq 40); do [[ -d /proc/$p && $(awk '{print $3}' /proc/$p/stat 2>/dev/null) != Z ]] || break; sleep 0.05; done
  [[ -d /proc/$p && $(awk '{print $3}' /proc/$p/stat 2>/dev/null) != Z ]] && fail "rank process $p outlived mpirun by 2 s"
done
grep -q "^timing: .*stop interrupted" "$dir/err" || fail "no 'stop interrupted' timing line from rank 0"
[[ $(grep -c "^timing: " "$dir/err") -eq 1 ]] || fail "more than one timing line"
echo "SIGINT to mpirun: every rank stopped, the job ended $ms ms later (mpirun exit $rc); rank 0 printed:"
grep "^timing: " "$dir/err" | sed 's/^/  /'
