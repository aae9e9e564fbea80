#!/usr/bin/env bash
# Builds onnxruntime with the CUDA and TensorRT execution providers on a Jetson and installs its
# Node.js binding into patchline (the npm onnxruntime-node for arm64 is CPU-only).
#
# Tested pair, pinned here: JetPack 6.1 or 6.2 (L4T R36.4: CUDA 12.6, cuDNN 9.3, TensorRT 10.3)
# with onnxruntime v1.20.1 and Node.js 20. onnxruntime 1.20's TensorRT provider is built against
# TensorRT 10: on JetPack 6.0 (TensorRT 8.6) flash JetPack 6.2 first. Not run on a device by
# patchline's developers (they have no Jetson): see docs/deploy-jetson.md.
#
# What it does, and why:
#  - CMake >= 3.26 (onnxruntime 1.19+ needs it; Ubuntu 22.04's apt has 3.22) from pip, in a venv;
#  - nvcc on PATH (CUDACXX), as onnxruntime's Jetson build docs ask;
#  - --allow_running_as_root (build.py refuses root otherwise); 8 GB boards: fewer jobs, one nvcc
#    thread, so the build does not run out of memory;
#  - patches the Node binding to pass TensorRT provider options (fp16, engine and timing caches,
#    workspace, optimisation profiles): the stock binding passes only the device, and onnxruntime
#    then ignores the ORT_TENSORRT_* environment variables;
#  - copies libonnxruntime_providers_{shared,cuda,tensorrt}.so beside the binding (its CMake copies
#    only libonnxruntime.so, and the providers would fail to load);
#  - packs JS and native parts of this one onnxruntime version into tarballs kept in a permanent
#    place (/opt/patchline-vendor), installs them over patchline's onnxruntime-node, and
#    deploy/jetson/install.sh puts them back after every `npm ci`;
#  - checks the result with `patchline model providers`.
#
# Takes 1-3 hours on an Orin; needs ~30 GB free disk. Run as root:
#   sudo deploy/jetson/build-onnxruntime.sh [--app /opt/patchline] [--build-dir DIR] [--force]
set -euo pipefail

ORT_VERSION=v1.20.1
APP_DIR=/opt/patchline
BUILD_DIR=/var/tmp/onnxruntime-build
VENDOR_DIR=/opt/patchline-vendor
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --app) APP_DIR="$2"; shift 2 ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    *) echo "build-onnxruntime.sh: unknown argument '$1' (accepted: --app DIR, --build-dir DIR, --force)" >&2; exit 2 ;;
  esac
done

say() { printf 'build-onnxruntime: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
[ "$(uname -m)" = "aarch64" ] || die "this script is for a Jetson (aarch64); on x86-64 use the npm package's CUDA providers"
[ -x /usr/local/cuda/bin/nvcc ] || die "nvcc not found in /usr/local/cuda/bin: install JetPack (apt-get install nvidia-jetpack)"

# The pinned pair: L4T R36.4 (JetPack 6.1/6.2) with TensorRT 10.
l4t=$(head -n 1 /etc/nv_tegra_release 2>/dev/null || true)
trt=$(dpkg-query -W -f='${Version}' libnvinfer-dev 2>/dev/null || true)
say "found: ${l4t:-no /etc/nv_tegra_release}; TensorRT ${trt:-not installed}"
if [ -z "$trt" ]; then die "TensorRT not found: apt-get install nvidia-jetpack"; fi
if [ "${trt%%.*}" != "10" ] || ! printf '%s' "$l4t" | grep -q 'R36.*REVISION: 4'; then
  msg="onnxruntime $ORT_VERSION needs TensorRT 10 (JetPack 6.1/6.2, L4T R36.4); this box has TensorRT ${trt} (${l4t:-unknown L4T})"
  if [ "$FORCE" -eq 1 ]; then say "warning: $msg; building anyway (--force)"; else die "$msg. Flash JetPack 6.2, or pass --force to try anyway."; fi
fi
[ -d "$APP_DIR/node_modules" ] || die "$APP_DIR has no node_modules: run deploy/jetson/install.sh first"

free_gb=$(df -Pk "$(dirname "$BUILD_DIR")" | awk 'NR == 2 { print int($4 / 1048576) }')
[ "$free_gb" -ge 30 ] || die "only ${free_gb} GB free under $(dirname "$BUILD_DIR"); the build needs about 30 GB (use --build-dir on a larger disk)"
mem_gb=$(awk '/MemTotal/ { print int($2 / 1048576) }' /proc/meminfo)
if [ "$mem_gb" -le 8 ]; then JOBS=4; NVCC_THREADS=1; else JOBS=$(nproc); NVCC_THREADS=2; fi
say "${mem_gb} GB of memory: $JOBS parallel jobs, $NVCC_THREADS nvcc thread(s)"

say "build dependencies"
apt-get install -y -q --no-install-recommends git build-essential python3 python3-pip python3-venv python3-dev
python3 -m venv /var/tmp/patchline-cmake-venv
/var/tmp/patchline-cmake-venv/bin/pip install -q 'cmake>=3.26,<4'
export PATH="/var/tmp/patchline-cmake-venv/bin:/usr/local/cuda/bin:$PATH"
export CUDACXX=/usr/local/cuda/bin/nvcc
say "cmake $(cmake --version | head -n 1 | awk '{ print $3 }'), nvcc $(nvcc --version | awk '/release/ { print $6 }')"

if [ ! -d "$BUILD_DIR/.git" ]; then
  git clone --recursive --branch "$ORT_VERSION" --depth 1 https://github.com/microsoft/onnxruntime "$BUILD_DIR"
fi
cd "$BUILD_DIR"

say "patching the Node binding to pass TensorRT provider options"
python3 - js/node/src/session_options_helper.cc <<'PY'
import sys
path = sys.argv[1]
src = open(path).read()
marker = 'patchline: TensorRT provider options'
if marker in src:
    sys.exit(0)
anchor = 'Ort::ThrowOnError(Ort::GetApi().CreateTensorRTProviderOptions(&options));\n      options->device_id = deviceId;\n'
if src.count(anchor) != 1:
    sys.exit('session_options_helper.cc does not look as expected for this onnxruntime version: TensorRT options not patched')
forward = '''      // patchline: TensorRT provider options. Every string property of the provider object but
      // name and deviceId is passed through (trt_fp16_enable, trt_engine_cache_path, ...).
      if (epValue.IsObject()) {
        auto trtObject = epValue.As<Napi::Object>();
        std::vector<std::string> trtKeys{"device_id"};
        std::vector<std::string> trtValues{std::to_string(deviceId)};
        auto trtNames = trtObject.GetPropertyNames();
        for (uint32_t k = 0; k < trtNames.Length(); k++) {
          std::string key = trtNames.Get(k).As<Napi::String>().Utf8Value();
          if (key == "name" || key == "deviceId") continue;
          Napi::Value value = trtObject.Get(key);
          ORT_NAPI_THROW_TYPEERROR_IF(!value.IsString(), epList.Env(), "Invalid argument: TensorRT option '", key,
                                      "' must be a string.");
          trtKeys.push_back(key);
          trtValues.push_back(value.As<Napi::String>().Utf8Value());
        }
        std::vector<const char*> keyPointers;
        std::vector<const char*> valuePointers;
        for (size_t k = 0; k < trtKeys.size(); k++) {
          keyPointers.push_back(trtKeys[k].c_str());
          valuePointers.push_back(trtValues[k].c_str());
        }
        Ort::ThrowOnError(Ort::GetApi().UpdateTensorRTProviderOptions(options, keyPointers.data(), valuePointers.data(),
                                                                      keyPointers.size()));
      }
'''
src = src.replace(anchor, anchor + forward)
if '#include <vector>' not in src:
    src = src.replace('#include <unordered_map>', '#include <unordered_map>\n#include <vector>\n#include <string>', 1)
open(path, 'w').write(src)
PY

say "building onnxruntime $ORT_VERSION with CUDA + TensorRT (this takes a long time)"
./build.sh --allow_running_as_root --config Release --update --build --parallel "$JOBS" --nvcc_threads "$NVCC_THREADS" --skip_tests \
  --build_shared_lib --build_nodejs \
  --use_cuda --cuda_home /usr/local/cuda --cudnn_home /usr/lib/aarch64-linux-gnu \
  --use_tensorrt --tensorrt_home /usr/lib/aarch64-linux-gnu \
  --cmake_extra_defines CMAKE_CUDA_ARCHITECTURES=87 onnxruntime_BUILD_UNIT_TESTS=OFF

binding=$(find js/node/bin -name onnxruntime_binding.node -print -quit)
[ -n "$binding" ] || die "the build produced no js/node/bin/**/onnxruntime_binding.node"
say "provider libraries beside the binding ($(dirname "$binding"))"
for lib in shared cuda tensorrt; do
  cp "build/Linux/Release/libonnxruntime_providers_${lib}.so" "$(dirname "$binding")/"
done
printf '{"tensorrtProviderOptions": true, "onnxruntime": "%s", "l4t": "%s", "tensorrt": "%s"}\n' "$ORT_VERSION" "$l4t" "$trt" > js/node/patchline-binding.json

say "packing the binding into $VENDOR_DIR"
install -d -m 0755 "$VENDOR_DIR"
rm -f "$VENDOR_DIR"/onnxruntime-*.tgz
(cd js/common && npm pack --pack-destination "$VENDOR_DIR" >/dev/null)
(cd js/node && npm pack --pack-destination "$VENDOR_DIR" >/dev/null)
ls -l "$VENDOR_DIR"

"$(dirname "$0")/use-vendored-onnxruntime.sh" "$APP_DIR" "$VENDOR_DIR"
say "done. In /etc/patchline/patchline.yaml set model.executionProviders: [tensorrt, cuda, cpu], then systemctl restart patchline"
