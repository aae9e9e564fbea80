// Ground-truth masks through the same geometry as their images, with the reference's rule:
// after the bilinear resize only pixels that are exactly 1.0 (255) count as defective.
import { readImage } from '../preprocess/decode.js';
import type { Image8 } from '../core/image.js';
import { loadOpenCV } from '../preprocess/opencv.js';
import { applyResizePolicy, type ResizePolicy } from '../preprocess/transform.js';

/** Soft masks (anti-aliased edges, JPEG noise) are binarised at this level first: >= 128 is defect. */
export const MASK_BINARIZE_LEVEL = 128;

async function resizeNearest(mask: Image8, width: number, height: number): Promise<Image8> {
  const cv = await loadOpenCV();
  const m = new cv.Mat(Buffer.from(mask.data), mask.height, mask.width, cv.CV_8UC1).resize(height, width, 0, 0, cv.INTER_NEAREST);
  return { width, height, channels: 1, data: new Uint8Array(m.getData()) };
}

/**
 * Binary defect mask (1 = defect) at the model input size for the image `imageSize`.
 * A mask of another size than its image is first resized to the image (nearest neighbour).
 */
export async function loadMask(maskPath: string, imageSize: { width: number; height: number }, policy: ResizePolicy): Promise<Uint8Array> {
  let mask = await readImage(maskPath, 'gray');
  const bin = new Uint8Array(mask.data.length);
  for (let i = 0; i < bin.length; i++) bin[i] = mask.data[i]! >= MASK_BINARIZE_LEVEL ? 255 : 0;
  mask = { ...mask, data: bin };
  if (mask.width !== imageSize.width || mask.height !== imageSize.height)
    mask = await resizeNearest(mask, imageSize.width, imageSize.height);
  const t = applyResizePolicy(mask, policy);
  return Uint8Array.from(t.data, (v) => (v === 255 ? 1 : 0));
}
