#!/usr/bin/env bash
# Removes the patchline service and application. Keeps /etc/patchline and /var/lib/patchline
# (config, banks, models) unless --purge is given.
set -euo pipefail
purge=0
[ "${1:-}" = "--purge" ] && purge=1
if [ "$(id -u)" -ne 0 ]; then
  echo "uninstall.sh: run as root (sudo $0 [--purge])" >&2
  exit 1
fi
if systemctl list-unit-files patchline.service >/dev/null 2>&1; then
  systemctl disable --now patchline.service || true
fi
# Instances of the template (patchline@NAME), if any run.
for unit in $(systemctl list-units --all --plain --no-legend 'patchline@*.service' 2>/dev/null | awk '{print $1}'); do
  systemctl disable --now "$unit" || true
done
rm -f /etc/systemd/system/patchline.service /etc/systemd/system/patchline@.service
systemctl daemon-reload
rm -rf /opt/patchline /var/cache/patchline
if [ "$purge" -eq 1 ]; then
  rm -rf /etc/patchline /var/lib/patchline
  if id patchline >/dev/null 2>&1; then userdel patchline; fi
  echo "uninstall: removed the service, the application, config, data and the patchline user"
else
  echo "uninstall: removed the service and the application; kept /etc/patchline and /var/lib/patchline (use --purge to remove them)"
fi
