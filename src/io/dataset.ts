// Reading image folders: an MVTec AD layout category (train/good, test/<type>, ground_truth/
// <type>/<name>_mask.png) or a plain folder of good images. Orders follow the reference's
// MVTecDataset (defect types and files sorted by name).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { IMAGE_EXTENSIONS, isImageFile, listImages } from './image-files.js';

export class DatasetError extends Error {}

export interface TestSample {
  path: string;
  /** 'good' or the defect type (folder name). */
  defect: string;
  label: 0 | 1;
  /** Ground-truth mask; absent for good images, and for defect images labelled at image level only. */
  maskPath?: string;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Good training images: DIR/train/good of an MVTec category, else the images directly in DIR. */
export function trainingImages(dir: string): string[] {
  if (!isDir(dir)) throw new DatasetError(`${dir}: no such folder`);
  const folder = isDir(join(dir, 'train', 'good')) ? join(dir, 'train', 'good') : dir;
  const files = listImages(folder);
  if (files.length === 0) {
    throw new DatasetError(
      `${folder}: no images (${[...IMAGE_EXTENSIONS].join(', ')}); give an MVTec category (with train/good) or a folder of good images`,
    );
  }
  return files;
}

function findMask(gtDir: string, imagePath: string): string | undefined {
  const stem = basename(imagePath, extname(imagePath));
  if (!isDir(gtDir)) return undefined;
  const names = readdirSync(gtDir);
  for (const candidate of [`${stem}_mask`, stem]) {
    const hit = names.find((n) => isImageFile(n) && basename(n, extname(n)) === candidate);
    if (hit) return join(gtDir, hit);
  }
  return undefined;
}

/**
 * Labelled test images of an MVTec category DIR (DIR/test and DIR/ground_truth), or of a
 * folder laid out like DIR/test itself (ground truth then in its sibling ground_truth/). Defect
 * images without a mask are labelled at image level (reviewed detections, say): they count for
 * image metrics, not for pixel metrics.
 */
export function testSamples(dir: string): TestSample[] {
  if (!isDir(dir)) throw new DatasetError(`${dir}: no such folder`);
  const testDir = isDir(join(dir, 'test')) ? join(dir, 'test') : dir;
  const gtRoot = isDir(join(dir, 'test')) ? join(dir, 'ground_truth') : join(dir, '..', 'ground_truth');
  const types = sortedNames(testDir).filter((t) => isDir(join(testDir, t)));
  if (types.length === 0) throw new DatasetError(`${testDir}: no sub-folders; expected good/ and one folder per defect type`);
  const samples: TestSample[] = [];
  for (const defect of types) {
    const files = listImages(join(testDir, defect));
    if (files.length === 0) throw new DatasetError(`${join(testDir, defect)}: folder has no images`);
    for (const path of files) {
      if (defect === 'good') {
        samples.push({ path, defect, label: 0 });
        continue;
      }
      const maskPath = findMask(join(gtRoot, defect), path);
      samples.push({ path, defect, label: 1, ...(maskPath ? { maskPath } : {}) });
    }
  }
  if (!samples.some((s) => s.label === 0)) throw new DatasetError(`${testDir}: no good/ images; AUROC needs both good and defect images`);
  return samples;
}
