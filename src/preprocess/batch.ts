// Files -> one normalised NCHW batch, the reference's MVTecDataset transform per image.
import { readImage } from './decode.js';
import type { Image8, TensorNCHW } from '../core/image.js';
import { applyResizePolicy, normalizeToCHW, outputSize, type Normalization, type ResizePolicy } from './transform.js';

export function imagesToBatch(images: Image8[], policy: ResizePolicy, norm: Normalization): TensorNCHW {
  const { width, height } = outputSize(policy);
  const plane = 3 * width * height;
  const data = new Float32Array(images.length * plane);
  images.forEach((img, i) => normalizeToCHW(applyResizePolicy(img, policy), norm, data, i * plane));
  return { data, dims: [images.length, 3, height, width] };
}

export async function loadBatch(paths: string[], policy: ResizePolicy, norm: Normalization): Promise<TensorNCHW> {
  const images = await Promise.all(paths.map((p) => readImage(p, 'rgb')));
  return imagesToBatch(images, policy, norm);
}
