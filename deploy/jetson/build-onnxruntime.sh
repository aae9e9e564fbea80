#!/usr/bin/env bash
# Builds onnxruntime with the CUDA and TensorRT execution providers for the installed JetPack and
# installs its Node.js binding into /opt/patchline (the npm onnxruntime-node for arm64 is CPU-only).
# Written for: JetPack 6.0 (L4T R36.3, CUDA 12.2, cuDNN 8.9, TensorRT 8.6), onnxruntime v1.20.1,
# Node.js 20. Takes 1-3 hours on an Orin; needs ~30 GB free disk. Run as root:
#   sudo deploy/jetson/build-onnxruntime.sh [--version v1.20.1] [--app /opt/patchline]
set -euo pipefail

ORT_VERSION=v1.20.1
APP_DIR=/opt/patchline
BUILD_DIR=/var/tmp/onnxruntime-build
while [ $# -gt 0 ]; do
  case "$1" in
    --version) ORT_VERSION="$2"; shift 2 ;;
    --app) APP_DIR="$2"; shift 2 ;;
    *) echo "build-onnxruntime.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

say() { printf 'build-onnxruntime: %s\n' "$*"; }

if [ "$(uname -m)" != "aarch64" ]; then
  say "this script is for Jetson (aarch64); on x86-64 use the npm package's CUDA providers instead"
  exit 1
fi
[ -d /usr/local/cuda ] || { say "CUDA not found in /usr/local/cuda: install JetPack (nvidia-jetpack)"; exit 1; }
dpkg -s tensorrt >/dev/null 2>&1 || dpkg -s libnvinfer-dev >/dev/null 2>&1 || { say "TensorRT not found: apt-get install nvidia-jetpack"; exit 1; }

say "build dependencies"
apt-get install -y -q --no-install-recommends git cmake build-essential python3 python3-pip python3-dev libpython3-dev

if [ ! -d "$BUILD_DIR/.git" ]; then
  git clone --recursive --branch "$ORT_VERSION" --depth 1 https://github.com/microsoft/onnxruntime "$BUILD_DIR"
fi
cd "$BUILD_DIR"

say "building onnxruntime $ORT_VERSION with CUDA + TensorRT (this takes a long time)"
./build.sh --config Release --update --build --parallel --skip_tests \
  --build_shared_lib --build_nodejs \
  --use_cuda --cuda_home /usr/local/cuda --cudnn_home /usr/lib/aarch64-linux-gnu \
  --use_tensorrt --tensorrt_home /usr/lib/aarch64-linux-gnu \
  --cmake_extra_defines CMAKE_CUDA_ARCHITECTURES=87 onnxruntime_BUILD_UNIT_TESTS=OFF

say "installing the Node.js binding into $APP_DIR"
(cd "$APP_DIR" && npm install --no-save "$BUILD_DIR/js/node")
say "done. In /etc/patchline/patchline.yaml set model.executionProviders: [tensorrt, cuda, cpu]"
