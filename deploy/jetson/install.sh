#!/usr/bin/env bash
# Installs patchline as a systemd service on an NVIDIA Jetson (JetPack 5/6, Ubuntu arm64) or any
# Debian/Ubuntu box. Run from a patchline checkout as root: sudo deploy/jetson/install.sh
# Safe to run again: every step checks what is already there. Step by step in docs/deploy-jetson.md.
set -euo pipefail

APP_DIR=/opt/patchline
CONF_DIR=/etc/patchline
DATA_DIR=/var/lib/patchline
CACHE_DIR=/var/cache/patchline
SERVICE_USER=patchline
NODE_MAJOR=20
SRC_DIR="$(cd "$(dirname "$0")/../.." && pwd)"

say() { printf 'install: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo $0)" >&2
  exit 1
fi

# 1. System packages: OpenCV for the image binding, build tools for it, systemd-notify.
say "apt packages"
apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates curl gnupg build-essential python3 libopencv-dev systemd

# 2. Node.js 20 (NodeSource) unless a Node 20+ is already installed.
current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$current_major" -lt "$NODE_MAJOR" ]; then
  say "Node.js $NODE_MAJOR from NodeSource"
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_$NODE_MAJOR.x nodistro main" > /etc/apt/sources.list.d/nodesource.list
  apt-get update -q
  apt-get install -y -q nodejs
fi

# 3. A system user without a login, allowed to open cameras.
if ! id "$SERVICE_USER" >/dev/null 2>&1; then
  say "system user $SERVICE_USER"
  useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$SERVICE_USER"
fi
usermod -a -G video "$SERVICE_USER"

# 4. Directories: code (root-owned, read-only to the service), config, data, cache.
install -d -m 0755 "$APP_DIR" "$CONF_DIR"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$DATA_DIR" "$DATA_DIR/models" "$DATA_DIR/banks" "$DATA_DIR/recipes" "$DATA_DIR/heatmaps" "$CACHE_DIR"

# 5. The application: copy the checkout, install production dependencies, build.
say "application in $APP_DIR"
tar -C "$SRC_DIR" --exclude=node_modules --exclude=.git --exclude=patchline-demo --exclude=.cache -cf - . | tar -C "$APP_DIR" -xf -
(cd "$APP_DIR" && OPENCV4NODEJS_DISABLE_AUTOBUILD=1 ONNXRUNTIME_NODE_INSTALL=skip JOBS=max npm ci --no-audit --no-fund && npm run build --silent)
# npm ci put the npm onnxruntime-node (CPU-only on arm64) back: re-apply the GPU build that
# build-onnxruntime.sh packed, if there is one.
"$APP_DIR/deploy/jetson/use-vendored-onnxruntime.sh" "$APP_DIR" /opt/patchline-vendor

# 6. Config and environment: installed once, never overwritten (they are the plant's).
[ -f "$CONF_DIR/patchline.yaml" ] || install -m 0644 "$APP_DIR/config/patchline.yaml" "$CONF_DIR/patchline.yaml"
[ -f "$CONF_DIR/patchline.env" ] || install -m 0644 "$APP_DIR/deploy/jetson/patchline.env" "$CONF_DIR/patchline.env"
# A setting added to patchline.env after a box was installed is appended, the plant's edits kept.
grep -q '^MALLOC_ARENA_MAX=' "$CONF_DIR/patchline.env" ||
  printf '%s\n' '# Added by install.sh: keeps memory flat across bank reloads (docs/RELIABILITY.md).' 'MALLOC_ARENA_MAX=2' >>"$CONF_DIR/patchline.env"

# 7. The default backbone (verified by sha256), unless already there.
sudo -u "$SERVICE_USER" env PATCHLINE_MODEL_DIR="$DATA_DIR/models" node "$APP_DIR/bin/patchline.js" model fetch mobilenetv2 || say "backbone not downloaded: place mobilenetv2-12-int8.onnx in $DATA_DIR/models (see the message above)"

# 8. The service.
install -m 0644 "$APP_DIR/deploy/jetson/patchline.service" /etc/systemd/system/patchline.service
# The template for one process per camera group (patchline@NAME runs /etc/patchline/NAME.yaml); not enabled.
install -m 0644 "$APP_DIR/deploy/jetson/patchline@.service" /etc/systemd/system/patchline@.service
systemctl daemon-reload
systemctl enable patchline.service
say "done. Edit $CONF_DIR/patchline.yaml (source, model.bank, mqtt.url), then: systemctl restart patchline; journalctl -u patchline -f"
