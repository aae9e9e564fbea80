// Geometry and normalisation from a decoded image to the backbone's input tensor, with the
// reference's arithmetic (torchvision 0.14 Resize/CenterCrop/ToTensor/Normalize on PIL images).
import type { Image8 } from '../core/image.js';
import { resizeBilinearPillow } from './pillow-resize.js';

/**
 * How an image becomes the model's input size.
 * - `shorter-side`: the reference's MVTec transform: shorter side to `resize` (aspect kept),
 *   then a centre crop of `crop` (square) pixels. Defaults 256/224.
 * - `exact`: resize to exactly `width` x `height` (aspect not kept), no crop: keeps the whole
 *   part in view, which elongated parts need.
 */
export type ResizePolicy = { mode: 'shorter-side'; resize: number; crop: number } | { mode: 'exact'; width: number; height: number };

export const REFERENCE_RESIZE = { mode: 'shorter-side', resize: 256, crop: 224 } as const satisfies ResizePolicy;

export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

export const IMAGENET_NORMALIZATION: Normalization = {
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/** The model input size a policy produces (the same for every input image). */
export function outputSize(policy: ResizePolicy): { width: number; height: number } {
  return policy.mode === 'exact' ? { width: policy.width, height: policy.height } : { width: policy.crop, height: policy.crop };
}

/** torchvision's Resize(int) size rule: shorter side = size, longer = int(size * long / short). */
export function shorterSideSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round(): half to even. torchvision's CenterCrop uses it for the offsets. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function centerCrop(img: Image8, cropWidth: number, cropHeight: number): Image8 {
  if (cropWidth > img.width || cropHeight > img.height) {
    throw new RangeError(`crop ${cropWidth}x${cropHeight} is larger than the resized image ${img.width}x${img.height}`);
  }
  const top = roundHalfEven((img.height - cropHeight) / 2);
  const left = roundHalfEven((img.width - cropWidth) / 2);
  if (cropWidth === img.width && cropHeight === img.height) return img;
  return cropImage(img, left, top, cropWidth, cropHeight);
}

/** A sub-rectangle of an image (copy). */
export function cropImage(img: Image8, left: number, top: number, width: number, height: number): Image8 {
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height) {
    throw new RangeError(`crop ${width}x${height}+${left}+${top} is outside the ${img.width}x${img.height} image`);
  }
  const ch = img.channels;
  const data = new Uint8Array(width * height * ch);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * ch;
    data.set(img.data.subarray(from, from + width * ch), y * width * ch);
  }
  return { width, height, channels: ch, data };
}

/** Applies the geometric part of a policy (resize, crop); pixel values stay uint8. */
export function applyResizePolicy(img: Image8, policy: ResizePolicy): Image8 {
  if (policy.mode === 'exact') return resizeBilinearPillow(img, policy.width, policy.height);
  const size = shorterSideSize(img.width, img.height, policy.resize);
  return centerCrop(resizeBilinearPillow(img, size.width, size.height), policy.crop, policy.crop);
}

/**
 * Writes an RGB uint8 image into `out` (float32 CHW) as ToTensor + Normalize would:
 * float32(u8/255), then (x - mean) / std, each step rounded to float32.
 */
export function normalizeToCHW(img: Image8, norm: Normalization, out: Float32Array, offset = 0): void {
  if (img.channels !== 3) throw new RangeError(`expected an RGB image, got ${img.channels} channel(s)`);
  const plane = img.width * img.height;
  if (out.length - offset < 3 * plane) throw new RangeError('output tensor too small for the image');
  const f = Math.fround;
  for (let c = 0; c < 3; c++) {
    const lut = new Float32Array(256);
    const mean = f(norm.mean[c]!);
    const std = f(norm.std[c]!);
    for (let v = 0; v < 256; v++) lut[v] = f(f(f(v / 255) - mean) / std);
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = lut[img.data[i * 3 + c]!]!;
  }
}
