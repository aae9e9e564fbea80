// Seeded procedural textures: test material that needs no files. Deterministic for a seed on
// every machine (integer PRNG, no Math.random).
import type { Image8 } from '../../src/core/image.js';
import { seededRandom } from '../../src/core/random.js';

export type TextureKind = 'stripes' | 'weave' | 'grain';

export interface TextureOptions {
  kind: TextureKind;
  width: number;
  height: number;
  seed: number;
  /** Stripe/weave period in pixels. */
  period?: number;
  /** Stripe angle in radians. */
  angle?: number;
  /** Pixel noise amplitude (0..255). */
  noise?: number;
  /** Base colour (RGB 0..255). */
  color?: [number, number, number];
  /** Pattern contrast (0..255). */
  contrast?: number;
}

/** Smooth value noise in [0,1] on a grid of `cell` pixels (bilinear between seeded lattice values). */
function valueNoise(width: number, height: number, cell: number, rand: () => number): Float32Array {
  const gw = Math.ceil(width / cell) + 2;
  const gh = Math.ceil(height / cell) + 2;
  const lattice = Float32Array.from({ length: gw * gh }, () => rand());
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = y / cell;
    const y0 = Math.floor(fy);
    const ty = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = x / cell;
      const x0 = Math.floor(fx);
      const tx = fx - x0;
      const a = lattice[y0 * gw + x0]! * (1 - tx) + lattice[y0 * gw + x0 + 1]! * tx;
      const b = lattice[(y0 + 1) * gw + x0]! * (1 - tx) + lattice[(y0 + 1) * gw + x0 + 1]! * tx;
      out[y * width + x] = a * (1 - ty) + b * ty;
    }
  }
  return out;
}

export function texture(opts: TextureOptions): Image8 {
  const { width, height, kind } = opts;
  const rand = seededRandom(opts.seed);
  const period = opts.period ?? 12;
  const angle = opts.angle ?? 0.35;
  const noise = opts.noise ?? 12;
  const contrast = opts.contrast ?? 60;
  const color = opts.color ?? [140, 130, 120];
  const smooth = valueNoise(width, height, 32, rand);
  const data = new Uint8Array(width * height * 3);
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let p: number;
      if (kind === 'stripes') {
        p = Math.sin(((x * ca + y * sa) * 2 * Math.PI) / period);
      } else if (kind === 'weave') {
        const u = Math.sin((x * 2 * Math.PI) / period);
        const v = Math.sin((y * 2 * Math.PI) / period);
        p = Math.floor(x / period + y / period) % 2 === 0 ? u : v;
      } else {
        p = 2 * smooth[y * width + x]! - 1;
      }
      const shade = (smooth[y * width + x]! - 0.5) * 30;
      for (let c = 0; c < 3; c++) {
        const v = color[c]! + contrast * 0.5 * p + shade + (rand() - 0.5) * 2 * noise;
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width, height, channels: 3, data };
}
