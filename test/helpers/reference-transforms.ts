// Test-side pieces of the reference's data pipeline: the mask transform (parity of masks) and a
// flow that never holds a source back.
import type { Image8 } from '../../src/core/image.js';
import type { Flow } from '../../src/core/flow.js';

export const FREE_FLOW: Flow = { room: () => Promise.resolve() };

/** Mask transform of the reference: same geometry, then u8/255 without normalisation. */
export function maskToFloat(mask: Image8): Float32Array {
  if (mask.channels !== 1) throw new RangeError(`expected a single-channel mask, got ${mask.channels} channels`);
  const out = new Float32Array(mask.width * mask.height);
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(mask.data[i]! / 255);
  return out;
}
