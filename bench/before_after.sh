#!/usr/bin/env bash
# Did a change move prefill or decode speed? Two build trees of qwen3_mpi (before and after), side by
# side on one model, alternating, REPS runs each, nothing else running:
#   - the command line: TTFT of a PROMPT-token --verify prompt and TPOT of GEN greedy tokens (its
#     timing line), so the whole runtime setup and generate path is in the figure;
#   - bench/decode: prefill and decode tokens/s of the engine itself (streaming attention, depth 0).
# Prints the medians and after/before ratios, and writes OUT_DIR/before_after_<model>.json.
#   bench/before_after.sh BEFORE_BUILD AFTER_BUILD MODEL_DIR [OUT_DIR] [PROMPT] [GEN] [REPS] [THREADS]
set -euo pipefail
before=${1:?usage: $0 BEFORE_BUILD AFTER_BUILD MODEL_DIR [OUT_DIR] [PROMPT] [GEN] [REPS] [THREADS]}
after=${2:?} model=${3:?}
out=${4:-bench/results} prompt=${5:-256} gen=${6:-64} reps=${7:-5} threads=${8:-2}
mkdir -p "$out"
ids=$(seq -s, 100 $((99 + prompt)))
declare -A ttft tpot prefill decode
cli() {  # cli NAME BUILD
  local line
  line=$("$2/qwen3_mpi" -m "$model" --verify "$ids" --gen-len "$gen" -c $((prompt + gen)) -t "$threads" 2>&1 >/dev/null | grep '^timing:')
  ttft[$1]+="$(sed -E 's/.*ttft ([0-9.]+) ms.*/\1/' <<<"$line") "
  tpot[$1]+="$(sed -E 's/.*tpot ([0-9.]+) ms.*/\1/' <<<"$line") "
}
engine() {  # engine NAME BUILD
  local json
  json=$(mktemp)
  "$2/bench/decode" --model "$model" --threads "$threads" --prompt "$prompt" --gen "$gen" --depth 0 --reps 1 --json "$json" >/dev/null 2>&1
  read -r p d < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["rows"]; g=lambda t: next(x["tokens_per_s"] for x in r if x["test"]==t and x["attention"]=="streaming"); print(g("prefill"), g("decode"))' "$json")
  rm -f "$json"
  prefill[$1]+="$p " decode[$1]+="$d "
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
runs() { tr ' ' ',' <<<"${1% }"; }
for ((i = 0; i < reps; ++i)); do
  cli before "$before"; cli after "$after"
  engine before "$before"; engine after "$after"
done
printf '%-30s %12s %12s %8s\n' "$(basename "$model"), -t $threads" before after ratio
row() {  # row LABEL BEFORE AFTER
  printf '%-30s %12.3f %12.3f %8.3f\n' "$1" "$2" "$3" "$(awk "BEGIN{print $3/$2}")"
}
row "cli ttft ms ($prompt tokens)" "$(median "${ttft[before]}")" "$(median "${ttft[after]}")"
row "cli tpot ms" "$(median "${tpot[before]}")" "$(median "${tpot[after]}")"
row "engine prefill tokens/s" "$(median "${prefill[before]}")" "$(median "${prefill[after]}")"
row "engine decode tokens/s" "$(median "${decode[before]}")" "$(median "${decode[after]}")"
cat > "$out/before_after_$(basename "$model").json" <<JSON
{"model": "$model", "prompt_tokens": $prompt, "gen_tokens": $gen, "reps": $reps, "threads": $threads,
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)", "before": "$before", "after": "$after",
 "before_runs": {"ttft_ms": [$(runs "${ttft[before]}")], "tpot_ms": [$(runs "${tpot[before]}")], "prefill_tokens_per_s": [$(runs "${prefill[before]}")], "decode_tokens_per_s": [$(runs "${decode[before]}")]},
 "after_runs": {"ttft_ms": [$(runs "${ttft[after]}")], "tpot_ms": [$(runs "${tpot[after]}")], "prefill_tokens_per_s": [$(runs "${prefill[after]}")], "decode_tokens_per_s": [$(runs "${decode[after]}")]}}
JSON
