#!/usr/bin/env bash
# A rank that dies ends the whole job: starts a 3-rank job, kills one rank chosen at random with
# SIGKILL during prefill or during decode, and checks that mpirun exits non-zero within 5 s with a
# message on stderr that names the rank.
#   test_rank_death.sh prefill|decode QWEN3_BIN MODEL_DIR PROMPT_TEXT_FILE MPIEXEC [ARGS...]
set -uo pipefail
phase=$1 bin=$2 model=$3 text=$4
shift 4
mpiexec=("$@")
ranks=3
dir=$(mktemp -d /tmp/qwen3-rank-death.XXXXXX)
job=""
trap '[[ -n "$job" ]] && kill -9 "$job" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "FAILED: $*"; echo "--- stderr"; tail -20 "$dir/err"; exit 1; }

case "$phase" in
  prefill)  # a prompt of ~40,000 tokens streamed through a 256-token window: prefill lasts seconds
    for _ in $(seq 20); do cat "$text"; done > "$dir/prompt.txt"
    args=(-f "$dir/prompt.txt" -n 4 --kv-policy sink-window --window 252) ;;
  decode)   # generates until killed
    args=(-p "It was late in the evening when" -n -1 --kv-policy sink-window --window 60 --temp 0) ;;
  *) echo "phase: prefill or decode"; exit 2 ;;
esac
"${mpiexec[@]}" -n "$ranks" "$bin" -m "$model" -t 1 "${args[@]}" > "$dir/out" 2> "$dir/err" &
job=$!

# Every rank has loaded once rank 0 printed its load line (the load ends in a collective).
for _ in $(seq 600); do grep -q "^load:" "$dir/err" && break; sleep 0.05; done
grep -q "^load:" "$dir/err" || fail "no load line within 30 s"
if [[ $phase == decode ]]; then
  for _ in $(seq 600); do [[ -s "$dir/out" ]] && break; sleep 0.05; done
  [[ -s "$dir/out" ]] || fail "no generated text within 30 s"
  sleep 0.3
else
  sleep 0.5
  [[ -s "$dir/out" ]] && fail "prefill already over before the kill: make the prompt longer"
fi

# The ranks are mpiexec's children on this host; OMPI_COMM_WORLD_RANK in each one's environment says which.
victim=$((RANDOM % ranks))
pid=""
for p in $(pgrep -P "$job"); do
  if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$victim"; then pid=$p; fi
done
[[ -n "$pid" ]] || fail "rank $victim's process not found among mpiexec's children"
t0=$(date +%s%N)
kill -9 "$pid"
for _ in $(seq 100); do kill -0 "$job" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$job" 2>/dev/null; then fail "the job still runs 5 s after rank $victim died"; fi
wait "$job"
rc=$?
job=""
ms=$((($(date +%s%N) - t0) / 1000000))
[[ $rc -ne 0 ]] || fail "the job exited 0 after rank $victim died"
# Open MPI's own line: "mpiexec noticed that process rank N with PID ... exited on signal 9 (Killed)."
named="process rank $victim with PID"
grep -q "$named" "$dir/err" || fail "stderr does not name rank $victim"
echo "rank $victim (pid $pid) killed during $phase: the job ended $ms ms later with exit $rc; stderr said:"
grep "$named" "$dir/err" | head -1 | sed 's/^/  /'
