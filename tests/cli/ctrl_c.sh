#!/usr/bin/env bash
# Property: Ctrl-C (SIGINT) during generation stops it cleanly: exit status 0, the timing line with
# "stop interrupted" on stderr, and whatever was generated so far on stdout.
#   ctrl_c.sh QWEN3_MPI MODEL_DIR
set -u
exe=$1 model=$2
err=$(mktemp) out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT
# -n -1 with a context far beyond the run time: only the signal can stop it.
timeout --preserve-status -s INT 2 "$exe" -m "$model" -p "It is a truth" -n -1 -c 1000000 -t 1 >"$out" 2>"$err"
rc=$?
if [[ $rc -ne 0 ]]; then echo "exit status $rc, expected 0"; cat "$err"; exit 1; fi
grep -q "^timing: .*stop interrupted" "$err" || { echo "no 'stop interrupted' timing line"; cat "$err"; exit 1; }
[[ -s "$out" ]] || { echo "nothing generated before the interrupt"; exit 1; }
echo "ok: interrupted cleanly after $(wc -c <"$out") bytes of output"
