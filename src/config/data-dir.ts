// Where patchline keeps what it writes while it runs (the operator page's gallery and reviews):
// $PATCHLINE_DATA_DIR (the systemd unit sets /var/lib/patchline), else ./patchline-data.
import { join, resolve } from 'node:path';

export function dataRoot(): string {
  return resolve(process.env.PATCHLINE_DATA_DIR ?? 'patchline-data');
}

/** `configured`, or the default under the data root. */
export function dataDir(configured: string | undefined, name: string): string {
  return resolve(configured ?? join(dataRoot(), name));
}
