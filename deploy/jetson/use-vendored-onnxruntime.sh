#!/usr/bin/env bash
# Puts the GPU onnxruntime-node packed by build-onnxruntime.sh over patchline's CPU-only one: the
# JS and native parts of one onnxruntime version, from tarballs (not a link into a build folder,
# which PrivateTmp and tmp cleaners hide). install.sh calls it after every `npm ci`, which would
# put the npm package back. Then checks which providers load.
#   use-vendored-onnxruntime.sh [APP_DIR] [VENDOR_DIR]
set -euo pipefail
APP_DIR=${1:-/opt/patchline}
VENDOR_DIR=${2:-/opt/patchline-vendor}
say() { printf 'vendored onnxruntime: %s\n' "$*"; }

shopt -s nullglob
common=("$VENDOR_DIR"/onnxruntime-common-*.tgz)
node=("$VENDOR_DIR"/onnxruntime-node-*.tgz)
if [ ${#node[@]} -eq 0 ]; then
  say "none in $VENDOR_DIR (the npm package's CPU providers stay)"
  exit 0
fi
say "installing ${common[*]} ${node[*]} into $APP_DIR"
# --ignore-scripts: the package's postinstall would download x86-64 CUDA libraries.
(cd "$APP_DIR" && npm install --no-save --no-audit --no-fund --ignore-scripts "${common[@]}" "${node[@]}")
(cd "$APP_DIR" && node -e "require('@u4/opencv4nodejs')" >/dev/null 2>&1) || {
  say "the OpenCV binding no longer loads after the install; run deploy/jetson/install.sh again" >&2
  exit 1
}
(cd "$APP_DIR" && node bin/patchline.js model providers --providers tensorrt,cuda,cpu)
