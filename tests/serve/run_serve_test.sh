#!/usr/bin/env bash
# Runs tests/serve/test_serve.py GROUP with the test venv's Python (scripts/setup.sh makes it: the
# official openai client). Where the venv is missing, the test is a skip ("requires openai-client"),
# and scripts/check_skips.sh fails the run if this machine should have had it.
#   run_serve_test.sh GROUP QWEN3_MPI MODEL_DIR [LAUNCHER...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${QWEN3_TEST_VENV:-$HOME/.cache/qwen3_mpi/test-venv}
if ! why=$(bash "$here/../../scripts/probe_features.sh" openai-client); then
  echo "SKIPPED: requires openai-client: $why"
  exit 77
fi
exec "$venv/bin/python" "$here/test_serve.py" "$@"
