#!/usr/bin/env bash
# Installs what patchline needs and is missing on this machine (Debian 12 + Node 20):
#   - Debian packages: OpenCV (linked by @u4/opencv4nodejs), mosquitto (the MQTT tests' broker)
#   - node_modules via `npm ci` when absent or out of date with package-lock.json
#   - dist/ (compiled CLI)
#   - with --model: the default backbone in the models directory ($PATCHLINE_MODEL_DIR or
#     ./models), downloaded and sha256-checked when absent
#   - with --tests: Debian's torch, torchvision and onnx, for the export tool's tests, and
#     chromium, for the operator page's browser tests
#   - with --bench: those plus faiss, scikit-learn, scipy, tqdm and Pillow, what
#     amazon-science/patchcore-inspection needs for `npm run bench -- --reference DIR`
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

want_model=0
want_tests=0
want_bench=0
for a in "$@"; do
  case "$a" in
    --model) want_model=1 ;;
    --tests) want_tests=1 ;;
    --bench) want_tests=1; want_bench=1 ;;
    *) echo "setup.sh: unknown argument '$a' (accepted: --model, --tests, --bench)" >&2; exit 2 ;;
  esac
done

say() { printf 'setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none)). Install it, e.g. from NodeSource, then run this again."
  exit 1
fi

# The shellcheck and systemd-analyze (systemd) tools let the tests check the deployment scripts and unit.
apt_packages=(libopencv-dev mosquitto mosquitto-clients shellcheck systemd)
# chromium: the operator page's tests drive it through playwright-core (no browser download).
if [ "$want_tests" -eq 1 ]; then apt_packages+=(python3-torch python3-torchvision python3-onnx python3-numpy chromium); fi
if [ "$want_bench" -eq 1 ]; then apt_packages+=(python3-faiss python3-sklearn python3-scipy python3-tqdm python3-pil); fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else say "need root to install: ${missing[*]}"; exit 1; fi
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi
# mosquitto is started by the tests on a loopback port; the distribution's system service is not needed.

# Install-time switches (../shared/STACK.md): link Debian's OpenCV instead of building it, and
# skip onnxruntime-node's CUDA download (the CPU backend ships in the package).
export OPENCV4NODEJS_DISABLE_AUTOBUILD=1 ONNXRUNTIME_NODE_INSTALL=skip JOBS=max
stamp=node_modules/.patchline-lock.sha256
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sha" ] || [ ! -f node_modules/@u4/opencv4nodejs/build/Release/opencv4nodejs.node ]; then
  say "npm ci (builds the OpenCV binding: several minutes the first time)"
  npm ci --no-audit --no-fund
  echo "$lock_sha" > "$stamp"
else
  npm run --silent build
fi

if [ "$want_model" -eq 1 ]; then
  node bin/patchline.js model fetch mobilenetv2
fi
say "ready"
