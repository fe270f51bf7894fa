#!/usr/bin/env bash
# A private Mesa 25 lavapipe (software Vulkan), for benchmarking on the driver that current
# distributions ship beside Debian 12's Mesa 22.3. Only on request: nothing else runs this.
#
#   bash tools/setup_mesa25.sh [--prefix DIR] [--mirror URL] [--print-env] [--verify]
#
# Downloads pinned bookworm-backports packages (sha256-checked), unpacks them with dpkg-deb into
# DIR (default ${XDG_CACHE_HOME:-~/.cache}/gemma/mesa25) and writes DIR/lvp_icd.json pointing at
# the private libvulkan_lvp.so. The system's driver is never touched: a process selects this one
# with VK_ICD_FILENAMES=DIR/lvp_icd.json LD_LIBRARY_PATH=DIR/lib (what --print-env prints).
# What the system lacks: mesa-vulkan-drivers 25.0.7 itself, and libdrm2 ≥ 2.4.121 (bookworm has
# 2.4.114). Its other dependencies are bookworm's own (it is built against bookworm's LLVM 15).
# Idempotent: a stamp records what was unpacked; a second run with the same pins does nothing.
# --verify then runs tools/driver_info.ts under the private driver (Deno's WebGPU adapter and
# node-llama-cpp's Vulkan device, with the lavapipe library each process mapped).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

fail() {
  echo "setup_mesa25: $*" >&2
  exit 1
}
usage() {
  echo "usage: bash tools/setup_mesa25.sh [--prefix DIR] [--mirror URL] [--print-env] [--verify]"
}

prefix="${XDG_CACHE_HOME:-$HOME/.cache}/gemma/mesa25"
mirror="http://deb.debian.org/debian"
print_env=0
verify=0
while [ $# -gt 0 ]; do
  case "$1" in
  --prefix | --mirror)
    [ $# -ge 2 ] && [ -n "$2" ] || fail "$1 needs a value"
    if [ "$1" = --prefix ]; then prefix="$2"; else mirror="${2%/}"; fi
    shift 2
    ;;
  --print-env) print_env=1 && shift ;;
  --verify) verify=1 && shift ;;
  -h | --help) usage && exit 0 ;;
  *) fail "unknown argument \"$1\" ($(usage))" ;;
  esac
done
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac

# Pool path, sha256 (from bookworm-backports' Packages index), and the files kept from each.
pins=(
  "pool/main/m/mesa/mesa-vulkan-drivers_25.0.7-2~bpo12+1_amd64.deb 3899f1800424c60a05df5d6913076a526ca8fdbabec43672cd397563d1ca3263 usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
  "pool/main/libd/libdrm/libdrm2_2.4.123-1~bpo12+1_amd64.deb 9cc2f341964286295124a32d3625edb76730500625e54a1e682761f883064d7b usr/lib/x86_64-linux-gnu/libdrm.so.2*"
)
api_version="1.4.305" # the api_version of the package's own lvp_icd.json
stamp="$prefix/.setup-stamp"
wanted=$(printf '%s\n' "${pins[@]}")

if [ "$print_env" = 1 ] && [ "$verify" = 0 ] && ! cmp -s "$stamp" <(echo "$wanted"); then
  fail "Mesa 25 is not set up in $prefix: run bash tools/setup_mesa25.sh"
fi

if ! cmp -s "$stamp" <(echo "$wanted"); then
  [ "$(uname -s -m)" = "Linux x86_64" ] || fail "the pinned packages are for Linux x86_64 only"
  for tool in dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is required (Debian/Ubuntu)"
  done
  if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fsL --retry 3 -o "$2" "$1"; }
  elif command -v wget >/dev/null 2>&1; then
    fetch() { wget -q -O "$2" "$1"; }
  else
    fail "curl or wget is required to download the packages"
  fi
  mkdir -p "$prefix" || fail "cannot create $prefix"
  work=$(mktemp -d "$prefix/.setup.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lib"
  for pin in "${pins[@]}"; do
    read -r path sha keep <<<"$pin"
    deb="$work/$(basename "$path")"
    url="$mirror/${path//+/%2B}"
    echo "setup_mesa25: downloading $url" >&2
    fetch "$url" "$deb" || fail "cannot download $url (the version may have left the mirror)"
    echo "$sha  $deb" | sha256sum --check --status ||
      fail "$(basename "$path") does not have the pinned sha256 $sha"
    dpkg-deb -x "$deb" "$work/unpacked" || fail "dpkg-deb cannot unpack $(basename "$path")"
    # shellcheck disable=SC2086 # $keep is a glob on purpose
    cp -P "$work/unpacked/"$keep "$work/lib/" || fail "$(basename "$path") lacks $keep"
  done
  # Every symbol the driver needs must resolve (against the private libdrm and the system rest).
  if unresolved=$(LD_LIBRARY_PATH="$work/lib" ldd -r "$work/lib/libvulkan_lvp.so" 2>&1 |
    grep -E "not found|undefined symbol"); then
    fail "the private lavapipe cannot load on this system: ${unresolved%%$'\n'*}"
  fi
  rm -rf "$prefix/lib.old"
  [ -d "$prefix/lib" ] && mv "$prefix/lib" "$prefix/lib.old"
  mv "$work/lib" "$prefix/lib"
  rm -rf "$prefix/lib.old"
  printf '{\n  "file_format_version": "1.0.0",\n  "ICD": {\n    "library_path": "%s",\n    "api_version": "%s"\n  }\n}\n' \
    "$prefix/lib/libvulkan_lvp.so" "$api_version" >"$work/lvp_icd.json"
  mv "$work/lvp_icd.json" "$prefix/lvp_icd.json"
  echo "$wanted" >"$work/stamp"
  mv "$work/stamp" "$stamp"
  echo "setup_mesa25: Mesa 25.0.7 lavapipe is in $prefix" >&2
fi

env_line="VK_ICD_FILENAMES=$prefix/lvp_icd.json LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[ "$print_env" = 1 ] && echo "$env_line"
if [ "$verify" = 1 ]; then
  # shellcheck disable=SC2086 # the line is NAME=value pairs
  env $env_line XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" \
    "$(bash "$root/tools/deno_path.sh")" run --allow-all \
    "$root/tools/driver_info.ts"
fi
