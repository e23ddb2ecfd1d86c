#!/usr/bin/env bash
# The set-up `npm test` and `npm run train` do first (npm's pretest / pretrain), so that a fresh
# clone needs only Node and npm: the Debian packages of the CPU WebGPU implementations (and, for
# the tests, Chromium and PyTorch), then `npm ci` when node_modules is missing or does not match
# package-lock.json. Prints nothing when there is nothing to do. Needs no installed npm package.
#
#   bash scripts/setup.sh [train|test] [--check]
#     train    only what training needs; test (default): also what the tests need
#     --check  say what is missing and exit 1, without installing anything
# WEBGPU_VAE_SKIP_SETUP=1 skips it all (e.g. a machine set up by other means).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=test
check=false
for arg in "$@"; do
  case "$arg" in
    train | test) mode=$arg ;;
    --check) check=true ;;
    *) echo "setup: unknown argument '$arg' (train, test, --check)" >&2; exit 2 ;;
  esac
done
if [ "${WEBGPU_VAE_SKIP_SETUP:-}" = 1 ]; then exit 0; fi

# Debian packages, one per line (easy to merge).
# To run: llvmpipe (Mesa EGL/GL, through Dawn's OpenGL backend) and the Vulkan loader.
run_packages=(
  libvulkan1
  libegl1
  libegl-mesa0
  libgl1-mesa-dri
)
# For the tests: SwiftShader and headless Chromium (browser tests), the PyTorch twin.
test_packages=(
  chromium
  python3-torch
  python3-pil
)
packages=("${run_packages[@]}")
if [ "$mode" = test ]; then packages+=("${test_packages[@]}"); fi

missing=()
if command -v dpkg-query > /dev/null; then
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
fi
# node_modules: installed and matching package-lock.json?
stale=$(node scripts/deps-status.mjs) || true

if $check; then
  status=0
  if ((${#missing[@]} > 0)); then echo "setup: missing Debian packages: ${missing[*]}"; status=1; fi
  if [ -n "$stale" ]; then echo "setup: npm ci needed: $stale"; status=1; fi
  exit $status
fi

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]} (apt-get)"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

if [ -n "$stale" ]; then
  if [ -L node_modules ]; then
    # A link to node_modules shared with other checkouts: reinstalling here would change theirs.
    echo "setup: node_modules (a link) does not match package-lock.json ($stale); not reinstalling it" >&2
  else
    echo "setup: $stale; running npm ci"
    npm ci --no-audit --no-fund
  fi
fi
