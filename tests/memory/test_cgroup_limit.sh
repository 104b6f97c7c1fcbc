#!/usr/bin/env bash
# Property: under a real cgroup memory limit (what Slurm or a container gives a job), qwen3_mpi reads
# the limit itself (no QWEN3_MEMORY_AVAILABLE) and refuses at start-up, with one line naming the bytes
# and "cgroup memory limit", what would not fit; what fits runs. Needs root and a writable cgroup-v1
# memory hierarchy (or systemd-run for cgroup v2); exits 77 (CTest: skipped) without one.
# Usage: test_cgroup_limit.sh QWEN3_MPI MODEL_DIR
set -uo pipefail
exe=$1 model=$2
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make a cgroup"; exit 77; }
unset QWEN3_MEMORY_AVAILABLE

# run_limited LIMIT_BYTES ARGS...: runs qwen3_mpi in a fresh memory cgroup with that limit.
v1_root=/sys/fs/cgroup/memory
self_v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
if [ -n "$self_v1" ] && [ -w "$v1_root$self_v1" ]; then
  run_limited() {
    local limit=$1; shift
    local cg="$v1_root$self_v1/qwen3-test-$$-$RANDOM"
    mkdir "$cg" || return 99
    echo "$limit" > "$cg/memory.limit_in_bytes" || { rmdir "$cg"; return 99; }
    bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$exe" "$@" > "$out" 2> "$err"
    local rc=$?
    rmdir "$cg" 2>/dev/null
    return $rc
  }
elif command -v systemd-run > /dev/null && systemd-run --scope --quiet -p MemoryMax=1G true 2> /dev/null; then
  run_limited() {
    local limit=$1; shift
    systemd-run --scope --quiet -p MemoryMax="$limit" "$exe" "$@" > "$out" 2> "$err"
  }
else
  echo "SKIP: no writable memory cgroup (v1) and no systemd-run scope (v2)"; exit 77
fi

out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# 1. 1 GiB: an ordinary run fits.
run_limited $((1 << 30)) -m "$model" -p "It was" -n 4 -t 1 || fail "a small run under 1 GiB failed: $(cat "$err")"
grep -q "^load: " "$err" || fail "no load line: $(cat "$err")"

# 2. 1 GiB: a context of 10 million tokens is refused before any large allocation.
run_limited $((1 << 30)) -m "$model" -p "It was" -n 4 -t 1 -c 10000000
rc=$?
[ "$rc" = 1 ] || fail "-c 10000000 under 1 GiB: exit $rc, expected 1: $(cat "$err")"
[ "$(wc -l < "$err")" = 1 ] || fail "expected one line on stderr: $(cat "$err")"
grep -qE "^qwen3_mpi: error: -c 10000000: the KV cache needs [0-9.]+ GiB \(bf16\) .* are available \(cgroup memory limit\)" "$err" \
  || fail "message: $(cat "$err")"

# 3. 64 MiB: less than the process itself needs: the weights line, still from the cgroup.
run_limited $((64 << 20)) -m "$model" -p "It was" -n 4 -t 1
rc=$?
[ "$rc" = 1 ] || fail "64 MiB: exit $rc, expected 1: $(cat "$err")"
grep -qE "the weights and working buffers need [0-9.]+ MiB \(weights [0-9.]+ MiB\), but [0-9.]+ MiB are available \(cgroup memory limit\)" "$err" \
  || fail "message: $(cat "$err")"
echo "PASS"
