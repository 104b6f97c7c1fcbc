#!/usr/bin/env bash
# Installs the Debian packages qwen3_mpi builds against. Idempotent: packages already present are
# skipped, so running it twice costs one dpkg query. Non-interactive (CI runs it with no stdin).
#   bash scripts/setup.sh            install build + test dependencies
#   bash scripts/setup.sh --check    only report what is missing (exit 1 if anything is)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  nlohmann-json3-dev   # config.json, tokenizer.json, safetensors headers, --json output
  libpcre2-dev         # the Qwen2/Qwen3 pre-tokenizer regex needs \p{L}/\p{N} and look-ahead
  libutf8proc-dev      # NFC normalisation of input text before BPE
  libcli11-dev         # command-line options and subcommands
  libcpp-httplib-dev   # serve: HTTP/1.1 server with keep-alive, chunked streaming and timeouts
  curl                 # tests/serve: a real HTTP client beside the openai one
  libgtest-dev         # unit and fixture tests
  libdnnl-dev          # oneDNN: prefill matrix products
  libhwloc-dev         # NUMA topology (numa/)
  libopenmpi-dev openmpi-bin  # MPI distribution (mpi/)
  xz-utils             # the Qwen3 tokenizer test data ships as .tar.xz
  slurmctld slurmd slurm-client munge  # tests/slurm: a one-node cluster for scripts/slurm/*.sbatch
  iproute2 util-linux procps  # tests/mpi: network namespaces and veth (ip), unshare, pgrep
  clang libclang-rt-dev llvm   # scripts/fuzz.sh: libFuzzer harnesses (clang's runtime), llvm-symbolizer for reports
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then echo "missing: ${missing[*]}"; exit 1; fi
  "${QWEN3_TEST_VENV:-$HOME/.cache/qwen3_mpi/test-venv}/bin/python" -c "import openai" 2>/dev/null || { echo "missing: the openai client's test venv"; exit 1; }
  echo "all dependencies present"; exit 0
fi

# tests/serve talk to `qwen3_mpi serve` with the official openai client (PyPI), kept in a venv of its
# own outside the repository; nothing at run time needs Python.
venv=${QWEN3_TEST_VENV:-$HOME/.cache/qwen3_mpi/test-venv}
openai_pin="openai==1.59.7"
install_test_venv() {
  if "$venv/bin/python" -c "import openai" 2>/dev/null; then return; fi
  echo "setup: making the test venv $venv ($openai_pin)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$openai_pin"
}

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  install_test_venv
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_test_venv
echo "setup: done"
