#!/usr/bin/env bash
# One process with 2 threads against 2 ranks with 1 thread each (tp 2, then sp 2), side by side in one
# run on this machine: prefill and decode tokens/s at depth 0 and DEPTH, medians of REPS runs, then a
# table of the ratios (bench/compare_ranks.py). Nothing else may run meanwhile (2 cores).
#   bench/ranks_side_by_side.sh MODEL_DIR [OUT_DIR] [DEPTH] [GEN] [REPS]
set -euo pipefail
model=${1:?usage: $0 MODEL_DIR [OUT_DIR] [DEPTH] [GEN] [REPS]}
out=${2:-bench/results}
depth=${3:-4096}
gen=${4:-64}
reps=${5:-3}
build=${BUILD:-build}
mkdir -p "$out"
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
common=(--model "$model" --prompt 512 --gen "$gen" --depth "0,$depth" --reps "$reps")
echo "== 1 rank x 2 threads"
"$build/bench/decode" "${common[@]}" --threads 2 --json "$out/ranks_1x2.json"
for layout in tp sp; do
  echo "== 2 ranks x 1 thread, --$layout 2"
  mpiexec "${root[@]}" -n 2 --bind-to core "$build/bench/decode" "${common[@]}" --threads 1 "--$layout" 2 --json "$out/ranks_2x1_$layout.json"
done
python3 "$(dirname "$0")/compare_ranks.py" "$out/ranks_1x2.json" "$out/ranks_2x1_tp.json" "$out/ranks_2x1_sp.json"
