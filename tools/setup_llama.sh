#!/usr/bin/env bash
# Installs llama.cpp (prebuilt, through node-llama-cpp) for the parity tests and the benchmark:
# only the CPU and Vulkan builds for linux-x64 (--omit=optional skips CUDA and other platforms).
# Not part of tools/setup.sh: running gemma does not need it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../tests/llama"
if [ ! -f node_modules/.gemma-setup ] || ! cmp -s package-lock.json node_modules/.gemma-setup; then
  echo "setup: installing llama.cpp for the tests (npm ci in tests/llama)" >&2
  npm ci --omit=optional --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json node_modules/.gemma-setup
fi
