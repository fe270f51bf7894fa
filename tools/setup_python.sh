#!/usr/bin/env bash
# Installs the Python packages the tests use as references (never the program's engine):
# llama.cpp's `gguf` package, whose gguf.quants.dequantize decodes every GGUF block type, and
# lm-evaluation-harness with transformers on the CPU torch (torch 2.13.0 is the CPU build that
# pip finds on this machine's disk; pinned, so that nothing pulls a multi-GB CUDA build), and
# pyarrow for Parquet fixtures, and peft (the LoRA peer: loads our adapters, trains the same LoRA in
# tools/peft_bench.py).
# Into a private virtual environment ($XDG_CACHE_HOME/gemma/python), reused across checkouts.
# Not part of tools/setup.sh: running gemma does not need Python.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/gemma/python"
stamp="$venv/.gemma-requirements"
requirements="gguf==0.19.0 numpy==2.4.6 torch==2.13.0 transformers==5.24.0 accelerate==1.16.0 \
lm-eval==0.4.13 pyarrow==26.0.1 sentencepiece==0.2.3 peft==0.21.2"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$requirements" ]; then exit 0; fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "setup: python3 is required for the reference tests (gguf, lm-eval)" >&2
  exit 1
fi
echo "setup: installing the Python references ($requirements) into $venv" >&2
python3 -m venv "$venv" >&2
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q --disable-pip-version-check $requirements >&2
echo "$requirements" >"$stamp"
