#!/usr/bin/env bash
# Property: under a real cgroup memory limit (what Slurm or a container gives a job), qwen3_mpi reads
# the limit itself (no QWEN3_MEMORY_AVAILABLE) and refuses at start-up, with one line naming the bytes
# and "cgroup memory limit", what would not fit; what fits runs. Needs root and a memory cgroup to
# make a child in: the process's cgroup-v1 memory hierarchy, or a systemd-run scope on cgroup v2
# (scripts/probe_features.sh cgroup). Without one it exits 77 ("SKIPPED: requires root|cgroup: ...",
# CTest: skipped); with one, a cgroup that cannot be made is a failure.
# Usage: test_cgroup_limit.sh QWEN3_MPI MODEL_DIR
set -uo pipefail
exe=$1 model=$2
fail() { echo "FAILED: $*"; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }
probe=$(dirname "$(realpath "$0")")/../../scripts/probe_features.sh
why=$(bash "$probe" root) || skip "requires root: $why (making a cgroup)"
why=$(bash "$probe" cgroup) || skip "requires cgroup: $why"
unset QWEN3_MEMORY_AVAILABLE

# run_limited LIMIT_BYTES ARGS...: runs qwen3_mpi in a fresh memory cgroup with that limit, stdout to
# $out and stderr to $err; returns its exit status. The same two ways as the probe, in its order.
v1_root=/sys/fs/cgroup/memory
self_v1=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)
if [ -n "$self_v1" ]; then
  run_limited() {
    local limit=$1; shift
    local cg="$v1_root$self_v1/qwen3-test-$$-$RANDOM"
    mkdir "$cg" || fail "cannot make the memory cgroup $cg"
    echo "$limit" > "$cg/memory.limit_in_bytes" || { rmdir "$cg"; fail "cannot set $cg/memory.limit_in_bytes"; }
    bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$exe" "$@" > "$out" 2> "$err"
    local rc=$?
    rmdir "$cg" 2>/dev/null
    return $rc
  }
else
  systemd-run --scope --quiet -p MemoryMax=1G true || fail "systemd-run --scope -p MemoryMax=1G true (see the error above)"
  run_limited() {
    local limit=$1; shift
    systemd-run --scope --quiet -p MemoryMax="$limit" "$exe" "$@" > "$out" 2> "$err"
  }
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
