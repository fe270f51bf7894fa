#!/usr/bin/env bash
# Installs what `gemma` needs, only where it is missing (fast when everything is there):
#   1. the npm packages, pinned by package-lock.json, including Deno itself (npm package "deno");
#   2. on Linux, a Vulkan driver when there is none: Debian's mesa-vulkan-drivers gives lavapipe,
#      a software Vulkan device with shader-f16 (without it Deno falls back to OpenGL, no f16);
#   3. the built-in demo model (.cache/demo-model): a tiny random-weight Gemma checkpoint.
# Progress goes to stderr so that stdout stays clean for pipelines.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { echo "setup: $*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
  log "npm is required (Node.js 18 or newer) to install the pinned Deno and packages"
  exit 1
fi

stamp=node_modules/.gemma-setup
if [ ! -x "$(bash tools/deno_path.sh)" ] || [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

has_vulkan_driver() {
  compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null || compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null
}
if [ "$(uname -s)" = Linux ] && ! has_vulkan_driver; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "no Vulkan driver: installing mesa-vulkan-drivers (lavapipe)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers >&2
  else
    log "warning: no Vulkan driver found; install mesa-vulkan-drivers (or a GPU driver) for WebGPU"
  fi
fi

if [ ! -f .cache/demo-model/model.safetensors ]; then
  log "building the demo model (.cache/demo-model)"
  XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" "$(bash tools/deno_path.sh)" run --allow-read --allow-write tools/build_demo_model.ts .cache/demo-model >&2
fi
