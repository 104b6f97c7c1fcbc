#!/usr/bin/env bash
# Packs what the GPU checks need into BUILD_DIR/gpu-bundle.tar.xz, for a GPU machine that has the CUDA
# driver but none of the Debian -dev packages this project builds with (the H200 the `device` tool
# lends): the binaries of a build tree made here with CUDA, and every shared library they load except
# glibc's own. scripts/gpu/run_checks.sh unpacks it on the GPU machine and runs the checks.
#   bash scripts/gpu/bundle.sh [BUILD_DIR]       (default build; must have been built with CUDA)
# Then, with the device tool: carry BUILD_DIR/gpu-bundle.tar.xz, command
#   bash scripts/gpu/run_checks.sh BUILD_DIR/gpu-bundle.tar.xz
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
[[ $build = /* ]] && build=$(realpath --relative-to=. "$build")
grep -q '^QWEN3_HAVE_CUDA:INTERNAL=ON$' "$build/CMakeCache.txt" 2>/dev/null \
  || { echo "bundle.sh: $build was not built with CUDA (QWEN3_HAVE_CUDA is not ON in its CMakeCache.txt)"; exit 1; }
# What run_checks.sh runs: the kernel tests, the CLI's --device tests and the binary they start, the
# GPU-against-CPU benchmark.
binaries=(qwen3_mpi tests/cuda/test_cuda tests/cli/test_cli_auto_level bench/cuda_attention)
cmake --build "$build" -j"$(nproc)" --target qwen3_mpi test_cuda test_cli_auto_level qwen3_bench_cuda_attention >/dev/null

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for b in "${binaries[@]}"; do
  mkdir -p "$stage/bin/$(dirname "$b")"
  cp "$build/$b" "$stage/bin/$b"
done
# glibc (and the loader) stay the GPU machine's own: they must match its kernel interface, and its
# other programs load them too.
for lib in $(for b in "${binaries[@]}"; do ldd "$build/$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u); do
  case $(basename "$lib") in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) continue ;;
  esac
  cp -L "$lib" "$stage/lib/"
done
# The tests and binaries name their files by absolute paths of this checkout (compile definitions):
# run_checks.sh makes those paths lead to wherever the GPU machine's copy of the tree is.
{
  echo "source_dir=$PWD"
  echo "build_dir=$build"
  echo "commit=$(git rev-parse HEAD)"
  echo "glibc=$(ldd --version | head -1)"
} > "$stage/manifest"
tar -C "$stage" -cJf "$build/gpu-bundle.tar.xz" .
size=$(stat -c %s "$build/gpu-bundle.tar.xz")
((size < 64 * 1024 * 1024)) || { echo "bundle.sh: $build/gpu-bundle.tar.xz is $size bytes, over the device tool's 64 MiB carry"; exit 1; }
echo "bundle.sh: $build/gpu-bundle.tar.xz, $(du -h "$build/gpu-bundle.tar.xz" | cut -f1): ${binaries[*]}, $(ls "$stage/lib" | wc -l) libraries"
