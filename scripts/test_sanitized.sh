#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), in a
# second build tree. Any report fails its test and so the run (halt_on_error). Reports from code this
# project does not own are suppressed by name in tests/sanitizers/*.supp, each with its reason; no
# sanitizer is turned off. .ci/run calls this after the ordinary suite.
#   bash scripts/test_sanitized.sh [BUILD_DIR]      (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
[[ $build = /* ]] && build=$(realpath --relative-to=. "$build")
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQWEN3_SANITIZE=ON -DQWEN3_BUILD_BENCH=OFF -DQWEN3_CUDA=OFF
cmake --build "$build" -j"$(nproc)"
supp=$PWD/tests/sanitizers
# The tests that start MPI processes append fast_unwind_on_malloc=0 to these (QWEN3_MPI_TEST_PROPERTIES
# in cmake/Qwen3Testing.cmake says why).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:verify_asan_link_order=0"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Open MPI 4.1 unloads its components (dlclose) in MPI_Finalize, after which LSan cannot name the
# module a leaked block came from; this shim keeps every module loaded (verify_asan_link_order=0
# lets it come before the ASan runtime).
export LD_PRELOAD="$PWD/$build/tests/sanitizers/libkeep_modules_loaded.so"
# Every test runs, except the AVX2 and scalar repeats of the slowest model-level tests (0.5-2 min each
# under ASan, 5 min together on 2 cores) and of every CLI case (122 runs of the whole binary under
# ASan): their auto-level runs are here, and the kernels they would reach at the lower levels run under
# ASan, each variant by name, in the kernel, attention and reference tests. The ordinary suite runs all
# of them at every level.
slow_isa_repeats='^isa_(avx2|scalar)\.(BothPaths/DefaultModel\.|StreamingReference\.|TinyGqa4Long/|Cli[A-Za-z]*\.|cli/)'
# The JUnit file is what scripts/check_skips.sh reads (.ci/run runs it after this).
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" -E "$slow_isa_repeats" --output-junit ctest-junit.xml
