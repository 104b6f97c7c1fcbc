#!/usr/bin/env bash
# The checks of the CUDA path that need a GPU (cuda/README.md, "What remains, on a GPU"), in one bounded
# run on a GPU machine without this project's Debian packages. Unpacks the bundle that
# scripts/gpu/bundle.sh made, points the bundle's absolute paths at this copy of the tree, then runs,
# most important first, each step under its own time limit, writing its output to OUT_DIR:
#   1. test_cuda               the kernel against the scalar CPU streaming attention (1e-5)
#   2. compute-sanitizer       memcheck on every test_cuda test, racecheck and synccheck on one shape
#   3. CliDevice.*             every fixture's ids with --device cuda, eviction on the GPU, the load line
#   4. cuda_attention          attention per decode token at depth 4k, 32k, 128k: our kernel and our
#                              CPU path on this machine (bench/cuda_attention.cpp)
#   5. torch_sdpa.py           PyTorch's scaled_dot_product_attention on the same GPU and shapes
# Exit 0 when every step that ran passed; the summary at the end lists each step's exit status.
#   bash scripts/gpu/run_checks.sh BUNDLE [OUT_DIR]      (OUT_DIR default: $OUT, else gpu-checks/)
set -uo pipefail
cd "$(dirname "$0")/../.."
bundle=$(realpath "$1")
out=${2:-${OUT:-gpu-checks}}
mkdir -p "$out"
out=$(realpath "$out")
root=$PWD

unpacked=$(mktemp -d)
tar -C "$unpacked" -xJf "$bundle" || { echo "run_checks.sh: cannot unpack $bundle"; exit 1; }
source_dir=$(sed -n 's/^source_dir=//p' "$unpacked/manifest")
build=$(sed -n 's/^build_dir=//p' "$unpacked/manifest")
echo "bundle: $(tr '\n' ' ' < "$unpacked/manifest")"
echo "here:   $root, $(ldd --version | head -1), commit $(git rev-parse HEAD 2>/dev/null || echo unknown)"
# The binaries were compiled with paths under source_dir: make that path this tree.
if [[ $source_dir != "$root" ]]; then
  if [[ -e $source_dir && ! $source_dir -ef $root ]]; then
    echo "run_checks.sh: $source_dir exists here and is not this tree ($root); the bundle's paths cannot be pointed at it"
    exit 1
  fi
  [[ -e $source_dir ]] || { mkdir -p "$(dirname "$source_dir")" && ln -s "$root" "$source_dir"; } \
    || { echo "run_checks.sh: cannot link $source_dir to $root"; exit 1; }
fi
mkdir -p "$build"
cp -r "$unpacked/bin/." "$build/"
export LD_LIBRARY_PATH="$unpacked/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$PATH:/usr/local/cuda/bin"

nvidia-smi -L 2>&1 | tee "$out/devices.txt"
nproc_here=$(nproc)
declare -a summary
# step NAME SECONDS COMMAND...: runs COMMAND under a time limit, its output to the terminal and to
# OUT_DIR/NAME.log, and records its exit status.
step() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo "== $name: $*"
  timeout --kill-after=10 "$limit" "$@" > >(tee "$out/$name.log") 2>&1
  rc=$?
  summary+=("$name: exit $rc in $((SECONDS - t0)) s$([[ $rc == 124 || $rc == 137 ]] && echo ' (time limit)')")
}

step test_cuda 120 "$build/tests/cuda/test_cuda" --gtest_output="json:$out/test_cuda.json"
sanitizer=$(command -v compute-sanitizer)
if [[ -n $sanitizer ]]; then
  step memcheck 240 "$sanitizer" --tool memcheck --leak-check full --error-exitcode 3 "$build/tests/cuda/test_cuda"
  one_shape='Shapes/CudaSdpa.*h32_kv4_d128_b64_bf16'
  step racecheck 180 "$sanitizer" --tool racecheck --error-exitcode 3 "$build/tests/cuda/test_cuda" --gtest_filter="$one_shape"
  step synccheck 120 "$sanitizer" --tool synccheck --error-exitcode 3 "$build/tests/cuda/test_cuda" --gtest_filter="$one_shape"
else
  summary+=("compute-sanitizer: not found in PATH or /usr/local/cuda/bin")
fi
step cli_device 180 "$build/tests/cli/test_cli_auto_level" --gtest_filter='CliDevice.*' --gtest_output="json:$out/cli_device.json"
step cuda_attention 300 "$build/bench/cuda_attention" --threads "$nproc_here" --json "$out/cuda_attention.json"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  step torch_sdpa 240 python3 bench/torch_sdpa.py --json "$out/torch_sdpa.json"
else
  summary+=("torch_sdpa: python3 has no torch with CUDA here")
fi

echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1), $nproc_here CPUs)"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
! grep -q -v ': exit 0 ' "$out/summary.txt"
