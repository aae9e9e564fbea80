// The defect gallery: the last anomalous frames (line-scan: defects) with what was seen and its
// heat map, kept on disk so they survive a restart, within a count and a size, and never when
// the disk runs low. Reviews copy an item's image into an MVTec-layout test folder
// (`reviewed/test/good/` for false alarms, `reviewed/test/<class>/` for defects) that
// `patchline eval` and `fit --validation` read as image-level labels.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, rename, rm, statfs, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GalleryItem, Label, Review, ReviewSummary } from './protocol.js';

export interface GalleryLimits {
  maxItems: number;
  maxMb: number;
  minFreeMb: number;
}

/** Item ids: time-ordered, and safe as file names (nothing from a client ever becomes a path). */
export const ITEM_ID = /^[0-9]{13}-[0-9]{1,6}$/;
/** Defect class names: folder names of the reviewed set. */
export const DEFECT_CLASS = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;

const FILES = { image: 'image.png', overlay: 'overlay.jpg' } as const;
export type ItemFile = keyof typeof FILES;

interface Stored {
  item: GalleryItem;
  bytes: number;
}

export class GalleryStore {
  private readonly items: Stored[] = [];
  private counter = 0;
  private readonly itemsDir: string;
  readonly reviewedDir: string;

  private constructor(
    readonly dir: string,
    private readonly limits: GalleryLimits,
  ) {
    this.itemsDir = join(dir, 'gallery');
    this.reviewedDir = join(dir, 'reviewed');
  }

  /** Opens (or creates) the store; items left half-written by a crash are removed. */
  static open(dir: string, limits: GalleryLimits, log: (s: string) => void): GalleryStore {
    const store = new GalleryStore(dir, limits);
    try {
      mkdirSync(store.itemsDir, { recursive: true });
    } catch (e) {
      throw new Error(`ui.dataDir: cannot create ${store.itemsDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const id of readdirSync(store.itemsDir).sort()) {
      const folder = join(store.itemsDir, id);
      try {
        const item = JSON.parse(readFileSync(join(folder, 'item.json'), 'utf8')) as GalleryItem;
        if (!ITEM_ID.test(item.id) || item.id !== id) throw new Error('foreign id');
        let bytes = 0;
        for (const f of Object.values(FILES)) bytes += readFileSync(join(folder, f)).length;
        store.items.push({ item, bytes });
      } catch {
        log(`ui: removing incomplete gallery item ${folder}`);
        void rm(folder, { recursive: true, force: true });
      }
    }
    return store;
  }

  /** Newest first. */
  list(): GalleryItem[] {
    return this.items.map((s) => s.item).reverse();
  }

  get(id: string): GalleryItem | undefined {
    return ITEM_ID.test(id) ? this.items.find((s) => s.item.id === id)?.item : undefined;
  }

  /** Path of an item's file, for a valid id only. */
  file(id: string, kind: ItemFile): string | undefined {
    return this.get(id) ? join(this.itemsDir, id, FILES[kind]) : undefined;
  }

  /**
   * Keeps an item (its image as PNG, its overlay as JPEG). Undefined when the disk has less
   * than `minFreeMb` free: nothing is written then.
   */
  async add(fields: Omit<GalleryItem, 'id'>, files: Record<ItemFile, Uint8Array>): Promise<GalleryItem | undefined> {
    const free = await statfs(this.itemsDir).then(
      (s) => s.bavail * s.bsize,
      () => Infinity,
    );
    if (free < this.limits.minFreeMb * 2 ** 20) return undefined;
    const id = `${Date.now()}-${this.counter++ % 1_000_000}`;
    const item: GalleryItem = { ...fields, id };
    const folder = join(this.itemsDir, id);
    const tmp = `${folder}.tmp`;
    mkdirSync(tmp, { recursive: true });
    let bytes = 0;
    for (const [kind, data] of Object.entries(files) as [ItemFile, Uint8Array][]) {
      await writeFile(join(tmp, FILES[kind]), data);
      bytes += data.length;
    }
    await writeFile(join(tmp, 'item.json'), JSON.stringify(item));
    await rename(tmp, folder);
    this.items.push({ item, bytes });
    await this.enforceLimits();
    return item;
  }

  private async enforceLimits(): Promise<void> {
    let total = this.items.reduce((a, s) => a + s.bytes, 0);
    while (this.items.length > this.limits.maxItems || (this.items.length > 1 && total > this.limits.maxMb * 2 ** 20)) {
      const old = this.items.shift()!;
      total -= old.bytes;
      await rm(join(this.itemsDir, old.item.id), { recursive: true, force: true });
    }
  }

  /** Labels an item: its image goes into the reviewed set (moved when relabelled). */
  async review(id: string, label: Label, defectClass?: string): Promise<GalleryItem> {
    const stored = this.items.find((s) => s.item.id === id);
    if (!stored || !ITEM_ID.test(id)) throw new Error(`no gallery item ${JSON.stringify(id)}`);
    if (label === 'defect' && defectClass !== undefined && !DEFECT_CLASS.test(defectClass)) {
      throw new Error(`defect class ${JSON.stringify(defectClass).slice(0, 60)}: use letters, digits, '_' and '-' (at most 40)`);
    }
    const folder = label === 'false-alarm' ? 'good' : (defectClass ?? 'defect');
    const previous = stored.item.review;
    if (previous) {
      const old = join(
        this.reviewedDir,
        'test',
        previous.label === 'false-alarm' ? 'good' : (previous.defectClass ?? 'defect'),
        `${id}.png`,
      );
      await unlink(old).catch(() => undefined);
    }
    const target = join(this.reviewedDir, 'test', folder);
    mkdirSync(target, { recursive: true });
    await copyFile(join(this.itemsDir, id, FILES.image), join(target, `${id}.png`));
    const review: Review = { label, ...(label === 'defect' ? { defectClass: folder } : {}), at: new Date().toISOString() };
    stored.item = { ...stored.item, review };
    const meta = join(this.itemsDir, id, 'item.json');
    await writeFile(`${meta}.tmp`, JSON.stringify(stored.item));
    await rename(`${meta}.tmp`, meta);
    return stored.item;
  }

  /** Reviewed items still in the gallery, for the what-if view. */
  reviews(threshold: number): ReviewSummary {
    const items = this.items
      .filter((s) => s.item.review)
      .map((s) => ({
        id: s.item.id,
        score: s.item.score,
        label: s.item.review!.label,
        ...(s.item.review!.defectClass ? { defectClass: s.item.review!.defectClass } : {}),
      }));
    return { items, threshold, folder: this.reviewedDir };
  }
}
