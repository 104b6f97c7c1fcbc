#!/usr/bin/env bash
# Property: a checkpoint shard truncated by another process while a --mmap run reads it ends the run
# with exit status 1 and one line naming the file, not "Bus error" (SIGBUS) and a core dump.
#   truncated_while_mapped.sh QWEN3_MPI MODEL_DIR SCRATCH_DIR
set -u
exe=$1 model=$2 scratch=$3
rm -rf "$scratch" && mkdir -p "$scratch" && cp "$model"/*.json "$model"/*.safetensors "$scratch"/ && rm -f "$scratch/reference.safetensors"
err=$(mktemp) out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT
# --verify never stops by itself: only the truncation can end it.
"$exe" -m "$scratch" --mmap --verify 1,2,3 --gen-len 1000000 -c 1000010 -t 1 >"$out" 2>"$err" &
pid=$!
for _ in $(seq 100); do grep -q "^load: " "$err" && break; sleep 0.1; done
sleep 0.5
truncate -s 4096 "$scratch/model.safetensors"
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill -9 $pid; echo "still running 10 s after the truncation"; exit 1; fi
wait $pid
rc=$?
if [[ $rc -ne 1 ]]; then echo "exit status $rc, expected 1"; cat "$err"; exit 1; fi
grep -v -e "^load: " -e "^note: " "$err" > "$err.rest"  # the load line and the notes before it
lines=$(wc -l < "$err.rest")
msg=$(cat "$err.rest"); rm -f "$err.rest"
[[ $lines -eq 1 ]] || { echo "expected one line besides the load line and its notes, got $lines:"; cat "$err"; exit 1; }
[[ "$msg" == "qwen3_mpi: error: $scratch/model.safetensors: the file shrank or changed while mapped"* ]] || { echo "message: $msg"; exit 1; }
echo "ok: $msg"
