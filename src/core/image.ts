/** An interleaved 8-bit image (RGB when channels = 3, gray when 1), rows top to bottom. */
export interface Image8 {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** A batch of images as float32 NCHW, ready for a backbone. */
export interface TensorNCHW {
  data: Float32Array;
  /** [N, C, H, W] */
  dims: [number, number, number, number];
}
