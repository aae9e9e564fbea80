// Finding image files: a folder (sorted by name, like the reference's dataset) or explicit files.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff']);

export function isImageFile(path: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(path).toLowerCase());
}

/** Image files of a folder, sorted by name (code-point order, as Python's sorted()). */
export function listImages(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => isImageFile(f))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((f) => join(dir, f));
}

/** Expands folders and checks files; errors name the path. */
export function expandImageArgs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    let st;
    try {
      st = statSync(a);
    } catch {
      throw new Error(`${a}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const found = listImages(a);
      if (found.length === 0) throw new Error(`${a}: folder has no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
      out.push(...found);
    } else {
      out.push(a);
    }
  }
  return out;
}
