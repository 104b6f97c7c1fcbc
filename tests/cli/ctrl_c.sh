#!/usr/bin/env bash
# Property: Ctrl-C (SIGINT) during generation stops it cleanly: exit status 0, the timing line with
# "stop interrupted" on stderr, and whatever was generated so far on stdout.
# SIGTERM (what a batch system or mpirun sends) is handled the same way.
#   ctrl_c.sh QWEN3_MPI MODEL_DIR [SIGNAL]     (SIGNAL: INT, the default, or TERM)
set -u
exe=$1 model=$2 sig=${3:-INT}
err=$(mktemp) out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT
# --verify never stops at end-of-text, and a million ids take far longer than the 4 s before the
# signal: only the signal can stop it (sampled text could end on its own by drawing end-of-text).
timeout --preserve-status -s "$sig" 4 "$exe" -m "$model" --verify 1,2,3 --gen-len 1000000 -c 1000010 -t 1 >"$out" 2>"$err"
rc=$?
if [[ $rc -ne 0 ]]; then echo "exit status $rc, expected 0"; cat "$err"; exit 1; fi
grep -q "^timing: .*stop interrupted" "$err" || { echo "no 'stop interrupted' timing line"; cat "$err"; exit 1; }
[[ -s "$out" ]] || { echo "nothing generated before the interrupt"; exit 1; }
echo "ok: interrupted cleanly after $(wc -c <"$out") bytes of output"
