#!/usr/bin/env bash
# What this machine offers of the features some tests require. A test that lacks one skips with
# "requires <feature>: <why>" (GoogleTest: GTEST_SKIP() << "requires avx512: ..."; shell tests print
# "SKIPPED: requires root: ..." and exit 77), and scripts/check_skips.sh asks this script whether the
# machine really lacks it. The shell tests ask it too, so that a test skips only where the
# prerequisite is absent; once it is there, a failing setup is a failure.
#
#   probe_features.sh              every feature, one line each: "avx2 yes" or "amx no: <why>"
#   probe_features.sh FEATURE      exit 0 if the machine has it; else print why not (one line), exit 1;
#                                  exit 2 for a feature this script does not know
#
# Features:
#   avx2         cpu flags avx2, fma, f16c (our AVX2 kernels)
#   avx512       cpu flags avx512f, avx512bw, avx512vl (our AVX-512 kernels)
#   avx512_bf16  cpu flag avx512_bf16 (oneDNN's bf16 matmul)
#   amx          cpu flags amx_tile, amx_bf16
#   onednn       oneDNN can run: cpu flag sse4_1, its lowest x86 level
#   root         the tests run as root (uid 0)
#   slurm        Slurm and MUNGE installed: munged, slurmctld, slurmd, sbatch, sinfo, squeue, scontrol,
#                scancel, runuser, and a munge user
#   netns        root, ip and unshare installed, and `unshare --net true` works (the kernel or the
#                container allows network namespaces)
#   cgroup       root and a memory cgroup to make a child in: the process's cgroup-v1 memory
#                hierarchy is writable, or systemd runs and systemd-run is installed (cgroup v2)
#   openai-client  the test venv (scripts/setup.sh makes it; QWEN3_TEST_VENV, default
#                ~/.cache/qwen3_mpi/test-venv) has Python with the official `openai` client
#   cuda         an NVIDIA GPU with its driver: nvidia-smi lists a GPU (the GPU attention tests, cuda/)
#   cpus>N, cpus>=N   the process may use more than N (at least N) CPUs (nproc: its affinity mask)
#   no-asan      the build is not sanitized: scripts/check_skips.sh decides it from the build tree
#                (CMakeCache.txt), this script cannot
# The CPU flags are those /proc/cpuinfo lists (the kernel leaves out what the OS does not enable);
# QWEN3_PROBE_CPU_FLAGS="flag flag ..." replaces them, to see what another CPU would expect.
set -uo pipefail

FEATURES=(avx2 avx512 avx512_bf16 avx512_vnni amx onednn root slurm netns cgroup openai-client cuda)

cpu_flags() {
  if [[ -n ${QWEN3_PROBE_CPU_FLAGS+set} ]]; then
    echo " $QWEN3_PROBE_CPU_FLAGS "
  else
    echo " $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  fi
}

# needs_cpu_flags FLAG...: silent if the CPU has every flag, else names the missing ones.
needs_cpu_flags() {
  local flags missing=() f
  flags=$(cpu_flags)
  for f in "$@"; do [[ $flags == *" $f "* ]] || missing+=("$f"); done
  ((${#missing[@]} == 0)) || echo "the CPU lacks ${missing[*]} (/proc/cpuinfo flags)"
}

needs_root() { [[ $(id -u) -eq 0 ]] || echo "not running as root (uid $(id -u))"; }

needs_commands() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
  ((${#missing[@]} == 0)) || echo "${missing[*]} not installed"
}

slurm_missing() {
  local why
  why=$(needs_commands munged slurmctld slurmd sbatch sinfo squeue scontrol scancel runuser)
  [[ -n $why ]] && { echo "$why (bash scripts/setup.sh installs Slurm and MUNGE)"; return; }
  id munge >/dev/null 2>&1 || echo "there is no munge user (the munge package creates it)"
}

netns_missing() {
  local why
  why=$(needs_root)
  [[ -n $why ]] && { echo "$why"; return; }
  why=$(needs_commands ip unshare)
  [[ -n $why ]] && { echo "$why (iproute2, util-linux)"; return; }
  unshare --net true 2>/dev/null || echo "unshare --net fails: the kernel or the container allows no network namespace"
}

# The memory cgroup (v1) this process is in, under /sys/fs/cgroup/memory; empty on cgroup v2.
memory_cgroup_v1() { awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup; }

cgroup_missing() {
  local why v1
  why=$(needs_root)
  [[ -n $why ]] && { echo "$why"; return; }
  v1=$(memory_cgroup_v1)
  if [[ -n $v1 ]]; then
    [[ -w /sys/fs/cgroup/memory$v1 ]] || echo "the memory cgroup /sys/fs/cgroup/memory$v1 is not writable"
    return
  fi
  [[ -d /run/systemd/system ]] || { echo "cgroup v2 without systemd: no cgroup-v1 memory hierarchy and no systemd-run scope"; return; }
  needs_commands systemd-run
}

openai_client_missing() {
  local venv=${QWEN3_TEST_VENV:-$HOME/.cache/qwen3_mpi/test-venv}
  [[ -x $venv/bin/python ]] || { echo "no test venv at $venv (bash scripts/setup.sh makes it)"; return; }
  "$venv/bin/python" -c "import openai" 2>/dev/null || echo "the test venv $venv cannot import openai"
}

cuda_missing() {
  command -v nvidia-smi >/dev/null || { echo "no CUDA device (no nvidia-smi: no NVIDIA driver installed)"; return; }
  nvidia-smi -L 2>/dev/null | grep -q '^GPU ' || echo "no CUDA device (nvidia-smi -L lists no GPU)"
}

cpus_missing() {  # OP N
  local have
  have=$(nproc)
  if [[ $1 == '>=' ]]; then ((have >= $2)) || echo "this process may use $have CPU(s)"
  else ((have > $2)) || echo "this process may use $have CPU(s)"; fi
}

# why_missing FEATURE: prints why the machine lacks FEATURE (nothing if it has it); returns 2 if unknown.
why_missing() {
  case $1 in
    avx2) needs_cpu_flags avx2 fma f16c ;;
    avx512) needs_cpu_flags avx512f avx512bw avx512vl ;;
    avx512_bf16) needs_cpu_flags avx512_bf16 ;;
    avx512_vnni) needs_cpu_flags avx512f avx512bw avx512vl avx512_vnni ;;
    amx) needs_cpu_flags amx_tile amx_bf16 ;;
    onednn) needs_cpu_flags sse4_1 ;;
    root) needs_root ;;
    slurm) slurm_missing ;;
    netns) netns_missing ;;
    cgroup) cgroup_missing ;;
    openai-client) openai_client_missing ;;
    cuda) cuda_missing ;;
    'cpus>='[0-9]*) cpus_missing '>=' "${1#cpus>=}" ;;
    'cpus>'[0-9]*) cpus_missing '>' "${1#cpus>}" ;;
    *) return 2 ;;
  esac
  return 0
}

if (($# == 0)); then
  for f in "${FEATURES[@]}" 'cpus>2'; do
    why=$(why_missing "$f")
    if [[ -z $why ]]; then echo "$f yes"; else echo "$f no: $why"; fi
  done
  exit 0
fi
why=$(why_missing "$1") || { echo "unknown feature '$1' (known: ${FEATURES[*]} cpus>N cpus>=N no-asan)"; exit 2; }
[[ -z $why ]] || { echo "$why"; exit 1; }
