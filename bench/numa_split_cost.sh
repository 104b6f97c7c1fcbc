#!/usr/bin/env bash
# What the NUMA domain split costs where there is nothing to gain: one team of 2 threads (--numa off)
# against 2 pretend domains of 1 thread each (hwloc's HWLOC_SYNTHETIC, CPU binding real) on this
# one-domain machine, side by side, alternating, REPS runs each. Prefill is the TTFT of a PROMPT-token
# prompt, decode the TPOT of GEN greedy tokens (the CLI's timing line). Prints a table of medians and
# their ratio, and writes OUT_DIR/numa_split_cost.json. Nothing else may run meanwhile.
#   bench/numa_split_cost.sh MODEL_DIR [OUT_DIR] [PROMPT] [GEN] [REPS]
set -euo pipefail
model=${1:?usage: $0 MODEL_DIR [OUT_DIR] [PROMPT] [GEN] [REPS]}
out=${2:-bench/results}
prompt=${3:-500}
gen=${4:-128}
reps=${5:-7}
exe=${BUILD:-build}/qwen3_mpi
mkdir -p "$out"
ids=$(seq -s, 100 $((99 + prompt)))
declare -A ttft tpot
export HWLOC_THISSYSTEM=1 HWLOC_SYNTHETIC="package:2 numa:1 core:1 pu:1"
run() {  # run NAME EXTRA_ARGS...
  local name=$1; shift
  local line
  line=$("$exe" -m "$model" --verify "$ids" --gen-len "$gen" -c $((prompt + gen)) "$@" 2>&1 >/dev/null | grep '^timing:')
  ttft[$name]+="$(sed -E 's/.*ttft ([0-9.]+) ms.*/\1/' <<<"$line") "
  tpot[$name]+="$(sed -E 's/.*tpot ([0-9.]+) ms.*/\1/' <<<"$line") "
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for ((i = 0; i < reps; ++i)); do
  run off --numa off -t 2
  run domains
done
off_ttft=$(median "${ttft[off]}") dom_ttft=$(median "${ttft[domains]}")
off_tpot=$(median "${tpot[off]}") dom_tpot=$(median "${tpot[domains]}")
printf '%-34s %14s %14s\n' "model: $(basename "$model")" "ttft ms ($prompt)" "tpot ms"
printf '%-34s %14.2f %14.3f\n' "--numa off, 1 team x 2 threads" "$off_ttft" "$off_tpot"
printf '%-34s %14.2f %14.3f\n' "2 pretend domains x 1 thread" "$dom_ttft" "$dom_tpot"
printf '%-34s %14.3f %14.3f\n' "domains / off" "$(awk "BEGIN{print $dom_ttft/$off_ttft}")" "$(awk "BEGIN{print $dom_tpot/$off_tpot}")"
cat > "$out/numa_split_cost.json" <<JSON
{"model": "$model", "prompt_tokens": $prompt, "gen_tokens": $gen, "reps": $reps, "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)",
 "off": {"ttft_ms": $off_ttft, "tpot_ms": $off_tpot, "ttft_runs": [$(tr ' ' ',' <<<"${ttft[off]% }")], "tpot_runs": [$(tr ' ' ',' <<<"${tpot[off]% }")]},
 "domains": {"ttft_ms": $dom_ttft, "tpot_ms": $dom_tpot, "ttft_runs": [$(tr ' ' ',' <<<"${ttft[domains]% }")], "tpot_runs": [$(tr ' ' ',' <<<"${tpot[domains]% }")]}}
JSON
echo "wrote $out/numa_split_cost.json"
