// Frames kept as training images for teaching: the tiles exactly as the pipeline scores them,
// written as PNG into the store's teach/<time>/ folder, which stays (the taught bank's held-out
// images are recalibrated on again when good images are added later).
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Image8 } from '../core/image.js';
import { encodeImage } from '../imaging/encode.js';
import type { BankStore } from './bank-store.js';

/** A new folder under the store for one teach: teach/<UTC time>/. */
export function teachFolder(store: BankStore, kind: 'teach' | 'added' = 'teach'): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let dir = join(store.dir, kind, stamp);
  for (let i = 2; ; i++) {
    try {
      mkdirSync(dir, { recursive: false });
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') mkdirSync(join(store.dir, kind), { recursive: true });
      else if ((e as NodeJS.ErrnoException).code === 'EEXIST') dir = join(store.dir, kind, `${stamp}-${i}`);
      else throw e;
    }
  }
}

export class FrameCapture {
  private kept = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly dir: string,
    readonly wanted: number,
  ) {}

  get count(): number {
    return this.kept;
  }

  get full(): boolean {
    return this.kept >= this.wanted;
  }

  /** Keeps `image` unless enough are kept; writes one after another, off the caller's path. */
  keep(image: Image8): void {
    if (this.full) return;
    const file = join(this.dir, `${String(this.kept++).padStart(5, '0')}.png`);
    this.writing = this.writing.then(async () => writeFile(file, await encodeImage(image, '.png')));
  }

  /** Resolves when every kept image is on disk (rejects with the first write error). */
  flushed(): Promise<void> {
    return this.writing;
  }
}
