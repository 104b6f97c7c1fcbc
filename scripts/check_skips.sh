#!/usr/bin/env bash
# After ctest: prints every skipped test with its reason, and fails where a skip hides a test this
# machine should have run. Every skip must say "requires <feature>: <why>" (see
# scripts/probe_features.sh for the features); it is expected only where the machine lacks that
# feature, as the probe finds it now (CPU flags, root, packages, namespaces, cgroups, CPUs), or where
# the test's ISA level hides it: isa_avx2.* tests run without AVX-512 (so without avx512_bf16 and
# amx), isa_scalar.* without AVX2 as well, and every test under the QWEN3_MAX_ISA this script sees.
# "requires no-asan" is expected only in a sanitized build tree; "requires cuda: built without CUDA"
# in a tree configured without it (QWEN3_HAVE_CUDA OFF in its CMakeCache.txt) even on a GPU machine.
#
#   ctest --test-dir build --output-junit ctest-junit.xml ...
#   scripts/check_skips.sh build [JUNIT_FILE]     (default BUILD_DIR/ctest-junit.xml)
#
# Exit 0: every skip expected; 1: one line per unexpected skip (a skip for a feature the machine has,
# or a reason that names no known feature); 2: no JUnit file to read.
# CTest's own log cannot tell a SKIP_RETURN_CODE skip from a pass ("Test Passed."), its JUnit file can.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: check_skips.sh BUILD_DIR [JUNIT_FILE]}
junit=${2:-$build/ctest-junit.xml}
[[ -f $junit ]] || { echo "check_skips: no $junit (run ctest with --output-junit ctest-junit.xml)"; exit 2; }

# One line per skipped test: NAME<TAB>REASON. The reason is the first "SKIPPED: ..." line (shell
# tests), or the message under GoogleTest's "file:line: Skipped".
skipped_tests() {
  awk '
    function unescape(s) {
      gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s)
      gsub(/&#10;/, " ", s); gsub(/&amp;/, "\\&", s)
      return s
    }
    /<testcase / {
      name = $0; sub(/.*<testcase name="/, "", name); sub(/".*/, "", name)
      skipped = ($0 ~ /status="notrun"/); reason = ""; after_skipped = 0; in_case = 1
      next
    }
    in_case && /<skipped/ { next }
    in_case && /<\/testcase>/ {
      # CMake 3.25 names a parameterised test "Suite/Test.Name/param  # GetParam() = ...": the comment goes.
      name = unescape(name); sub(/  # GetParam\(\) = .*/, "", name)
      if (skipped) printf "%s\t%s\n", name, (reason == "" ? "(no reason printed)" : reason)
      in_case = 0
      next
    }
    in_case && skipped && reason == "" {
      line = unescape($0); sub(/^[ \t]*<system-out>/, "", line); sub(/<\/system-out>$/, "", line)
      if (after_skipped && line !~ /^\[/) { reason = line; next }
      after_skipped = (line ~ /: Skipped$/)
      if (line ~ /^(SKIPPED|CLI_CASE_SKIPPED): /) { sub(/^[A-Z_]*: /, "", line); reason = line }
    }
  ' "$junit"
}

sanitized=no
grep -q '^QWEN3_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && sanitized=yes
cuda_built=yes
grep -q '^QWEN3_HAVE_CUDA:INTERNAL=OFF' "$build/CMakeCache.txt" 2>/dev/null && cuda_built=no

# The ISA level a test ran at: its isa_<level>. prefix, else QWEN3_MAX_ISA, else none.
level_of() {
  case $1 in
    isa_avx2.*) echo avx2 ;;
    isa_scalar.*) echo scalar ;;
    *) echo "${QWEN3_MAX_ISA:-}" ;;
  esac
}

# hidden_by_level FEATURE LEVEL: whether the level caps the feature away.
hidden_by_level() {
  case $2:$1 in
    avx2:avx512 | avx2:avx512_bf16 | avx2:avx512_vnni | avx2:amx) return 0 ;;
    scalar:avx2 | scalar:avx512 | scalar:avx512_bf16 | scalar:avx512_vnni | scalar:amx) return 0 ;;
  esac
  return 1
}

declare -A probed  # feature -> "" (present) or why it is missing, "?" for an unknown feature
# probe FEATURE: sets `missing` to why this machine lacks FEATURE ("" if it has it, "?" if unknown).
probe() {
  local f=$1 rc
  if [[ -z ${probed[$f]+set} ]]; then
    if [[ $f == no-asan ]]; then
      probed[$f]=""
      [[ $sanitized == yes ]] && probed[$f]="the build is sanitized"
    else
      probed[$f]=$(bash "$here/probe_features.sh" "$f")
      rc=$?
      ((rc == 2)) && probed[$f]="?"
    fi
  fi
  missing=${probed[$f]}
}

list=$(skipped_tests)
count=0
[[ -n $list ]] && count=$(wc -l <<< "$list")
echo "check_skips: $count skipped test(s) in $junit"
offending=()
# verdict NAME REASON: sets `v` to "expected: ..." or "UNEXPECTED: ..." for one skipped test.
verdict() {
  local name=$1 reason=$2 feature level
  if [[ ! $reason =~ ^requires\ ([a-z0-9_-]+|cpus\>=?[0-9]+)(:|$) ]]; then
    v="UNEXPECTED: the reason does not start with 'requires <feature>:'"
    return
  fi
  feature=${BASH_REMATCH[1]}
  probe "$feature"
  level=$(level_of "$name")
  if [[ $missing == "?" ]]; then
    v="UNEXPECTED: 'requires $feature' names no feature scripts/probe_features.sh knows"
  elif [[ $feature == cuda && $cuda_built == no && $reason == *"built without CUDA"* ]]; then
    v="expected: this build tree has no CUDA (QWEN3_HAVE_CUDA OFF)"
  elif [[ $feature == no-asan ]]; then
    if [[ -n $missing ]]; then v="expected: $missing"; else v="UNEXPECTED: the build is not sanitized"; fi
  elif [[ -n $missing ]]; then
    v="expected: no $feature here ($missing)"
  elif hidden_by_level "$feature" "$level"; then
    v="expected: the $level level hides $feature"
  else
    v="UNEXPECTED: this machine has $feature${level:+ (ISA level $level)}"
  fi
}
while IFS=$'\t' read -r name reason; do
  [[ -z $name ]] && continue
  verdict "$name" "$reason"
  echo "  skipped: $name: $reason"
  echo "           $v"
  [[ $v == UNEXPECTED* ]] && offending+=("$name: ${v#UNEXPECTED: }")
done <<< "$list"

if ((${#offending[@]})); then
  echo "check_skips: ${#offending[@]} unexpected skip(s):"
  printf 'unexpected skip: %s\n' "${offending[@]}"
  exit 1
fi
echo "check_skips: every skip is for a feature this machine lacks"
