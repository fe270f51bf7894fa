#!/usr/bin/env bash
# The bench on a lent GPU machine (no network there, nothing installed): one prepared script, so
# that a short lease measures everything at once. tools/device/pack.sh fills .devcarry/ here with
# what must travel (Deno, the npm packages, node-llama-cpp's Vulkan build, the Vulkan loader and
# two Gemma 3 270M GGUFs whose weights repeat a pattern, see tools/gguf_pattern.ts); this script
# unpacks them there and writes its logs to $OUT. Stages, each under its own time limit:
#   1. the adapter (stops here if WebGPU finds none)
#   2. tools/bench.ts: F16 and Q4_K_M, gemma against llama.cpp-Vulkan, prefill/decode/×8
#   3. the batched decoding curve, 1 … 64 sequences
#   4. the decode GEMV variants on the real model's shapes
#   5. the kernel tests on this GPU (a real GPU runs workgroups truly in parallel)
# QUICK=1 shrinks every stage (to try the script on a software GPU first); STAGES="bench tests"
# runs only those of stages 2 to 5 (bench curve gemv tests); ENGINES=gemma leaves llama.cpp out
# of the bench; TESTS="kernels/a_test.ts …" runs those tests (in parallel) instead of kernels/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
carry=.devcarry
out=${OUT:-/tmp/gpu_bench_out}
mkdir -p "$out"
quick=${QUICK:-0}
stage() { echo "=== $* ($(date +%T))"; }
wanted() { [[ " ${STAGES:-bench curve gemv tests} " == *" $1 "* ]]; }

stage setup
# The Vulkan loader, and the GL dispatch libraries NVIDIA's Vulkan driver links against.
if [ -n "$(ls "$carry"/*.deb 2>/dev/null)" ]; then
  for deb in "$carry"/*.deb; do dpkg -x "$deb" /; done
  ldconfig
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
  /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    break
  fi
done
bin=/tmp/gemma-bin
models=/tmp/gemma-models
mkdir -p "$bin" "$models"
xz -dc "$carry/deno.xz" >"$bin/deno" && chmod +x "$bin/deno"
# llama.cpp's driver script runs under Deno, which loads node-llama-cpp's addon as Node would.
printf '#!/bin/sh\nexec %s run -A "$@"\n' "$bin/deno" >"$bin/node" && chmod +x "$bin/node"
export PATH=$bin:$PATH
tar xJf "$carry/nm.tar.xz"
xz -dc "$carry/q4km.xz" >"$models/gemma-3-270m-q4_k_m.gguf"
xz -dc "$carry/f16.xz" >"$models/gemma-3-270m-f16.gguf"
nvidia-smi -L 2>/dev/null
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"

stage adapter
adapter='const a = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
if (!a) { console.log("no adapter"); Deno.exit(1); }
const { vendor, architecture, device, description } = a.info;
console.log(JSON.stringify({ vendor, architecture, device, description }));
console.log([...a.features].sort().join(" "));
const limits: Record<string, number> = {};
for (const name in a.limits) limits[name] = a.limits[name as keyof GPUSupportedLimits] as number;
console.log(JSON.stringify(limits));'
if ! timeout 60 deno eval "$adapter" 2>&1 | tee "$out/adapter.log"; then
  cat "${VK_DRIVER_FILES:-/dev/null}"
  VK_LOADER_DEBUG=error,warn,driver timeout 60 deno eval "$adapter" 2>&1 | tail -40
  exit 1
fi

f16=$models/gemma-3-270m-f16.gguf
q4km=$models/gemma-3-270m-q4_k_m.gguf
if [ "$quick" = 1 ]; then
  bench=(--runs 1 --prompt 16 --decode 8 --parallel 1,2 --parallel-prompt 8)
  curve=(--runs 1 --prompt 8 --decode 4 --parallel 1,2 --parallel-prompt 8)
  tests=(kernels/rms_norm_test.ts)
  stretch=300 # a software GPU takes its time
else
  bench=(--runs 2 --prompt 512 --decode 128 --parallel 1,8 --parallel-prompt 64)
  curve=(--runs 1 --prompt 64 --decode 64 --parallel 1,2,4,8,16,32,64 --parallel-prompt 64)
  read -ra tests <<<"${TESTS:-kernels/}"
  stretch=1
fi

wanted bench && stage bench &&
  timeout $((${BENCH_LIMIT:-240} * stretch)) deno run -A tools/bench.ts --types "$f16,$q4km" \
  --engines "${ENGINES:-gemma,llama-vulkan}" "${bench[@]}" 2>&1 | tee "$out/bench.log"

# The matmul variants the tuner chose on this GPU (kernels/tune.ts), for the profile's reading.
cat "${XDG_CACHE_HOME:-$HOME/.cache}/gemma/matmul_tune.json" 2>/dev/null | tee "$out/tune.json"
echo

wanted curve && stage curve &&
  timeout $((90 * stretch)) deno run -A tools/bench.ts --types "$q4km" --engines gemma \
  "${curve[@]}" 2>&1 | tee "$out/curve.log"

# The real model's shapes: the K-quants only where K is a whole number of their 256-value blocks.
wanted gemv && stage gemv &&
  timeout $((45 * stretch)) deno run -A tools/gemv_bench.ts --types f16,q8_0,q5_0 \
  --variants all --shapes 262144x640,2048x640,640x2048 2>&1 | tee "$out/gemv.log" &&
  timeout $((30 * stretch)) deno run -A tools/gemv_bench.ts --types q4_k,q6_k \
  --variants all --shapes 640x2048 2>&1 | tee -a "$out/gemv.log"

wanted tests && stage tests &&
  GEMMA_NO_TUNE=1 GEMMA_STRICT_GPU=1 timeout $((100 * stretch)) deno test -A --no-check --parallel \
  "${tests[@]}" 2>&1 | tee "$out/tests.log" | grep -aE "FAILED|failed|passed|=>" | tail -40
stage done
