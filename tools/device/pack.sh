#!/usr/bin/env bash
# Fills .devcarry/ (git-ignored through .git/info/exclude) with what tools/device/gpu_bench.sh
# needs on a machine without network: Deno, the npm packages (without the tokenizer test data),
# node-llama-cpp with its Vulkan build only, Debian's Vulkan loader, and Gemma 3 270M as Q4_K_M
# and F16 with pattern weights. About 50 MiB: the device tool carries 64 MiB a call.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
carry=.devcarry
mkdir -p "$carry" .git/info
grep -qx "/$carry/" .git/info/exclude 2>/dev/null || echo "/$carry/" >>.git/info/exclude
deno=$(bash tools/deno_path.sh)
model=${XDG_CACHE_HOME:-$HOME/.cache}/gemma/models/gemma-3-270m-q4_k_m.gguf
[ -f "$model" ] || { echo "pack.sh: no $model (run ./deno task gemma pull gemma3:270m)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

xz -T0 -6 -c "$deno" >"$carry/deno.xz"
"$deno" run -A tools/gguf_pattern.ts "$model" "$work/q4km.gguf"
"$deno" run -A cli/main.ts convert "$model" -t f16 -o "$work/full-f16.gguf" -q
"$deno" run -A tools/gguf_pattern.ts "$work/full-f16.gguf" "$work/f16.gguf"
xz -T0 -6 -c "$work/q4km.gguf" >"$carry/q4km.xz"
xz -T0 -6 -c "$work/f16.gguf" >"$carry/f16.xz"
tar cf - --exclude=node_modules/@deno --exclude=node_modules/deno --exclude=node_modules/@lenml \
  --exclude=node_modules/.gemma-setup \
  --exclude=tests/llama/node_modules/@node-llama-cpp/linux-x64 \
  --exclude=tests/llama/node_modules/node-llama-cpp/llama/gitRelease.bundle \
  node_modules tests/llama/node_modules | xz -T0 -6 >"$carry/nm.tar.xz"
(cd "$carry" && rm -f ./*.deb &&
  apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
du -sh "$carry"
