#!/usr/bin/env bash
# One-command set-up on a fresh Debian/Ubuntu machine: the CPU WebGPU implementations (SwiftShader
# ships with chromium, which the browser tests drive too; llvmpipe comes with Mesa's EGL/GL), the
# Vulkan loader Dawn needs for SwiftShader, Debian's PyTorch (python3-torch, with Pillow for image
# folders) for the tests of the PyTorch twin in python/, then the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(chromium libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri python3-torch python3-pil)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

npm ci --no-audit --no-fund
node scripts/embed-wgsl.mjs
