// Patch scores -> image scores and anomaly maps as an ONNX graph, for the fused whole-frame
// graph. Bilinear upsampling and the Gaussian blur (with scipy's 'reflect' border) are both
// linear maps along each axis, so per axis they fold into one [out, grid] matrix
// A = blur x upsample, and a map is A_h S A_w^T: two small products per image instead of a
// 33-tap convolution over every pixel. float32 products, so maps agree with the float64
// reference arithmetic (anomaly-map.ts) to rounding, not bit for bit.
import { DataType, GraphBuilder, valueInfo, type ModelProto } from '../model/onnx-graph.js';
import { gaussianKernel, reflect } from './anomaly-map.js';
import { bilinearMatrix } from './bilinear.js';
import { SCORER_OUTPUTS } from './scorer-graph.js';

export const MAP_OUTPUTS = { imageScores: 'image_scores', maps: 'anomaly_maps' } as const;

/** [out, grid] = Gaussian blur (reflect border; identity when sigma is 0) x bilinear upsampling, in float64. */
function axisMatrix(grid: number, out: number, sigma: number): Float64Array {
  const up = bilinearMatrix(grid, out);
  if (sigma <= 0) return Float64Array.from(up);
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const a = new Float64Array(out * grid);
  for (let i = 0; i < out; i++) {
    for (let t = -r; t <= r; t++) {
      const j = reflect(i + t, out);
      const w = k[t + r]!;
      for (let g = 0; g < grid; g++) a[i * grid + g]! += w * up[j * grid + g]!;
    }
  }
  return a;
}

export function buildMapGraph(
  grid: { height: number; width: number },
  input: { height: number; width: number },
  sigma: number,
): ModelProto {
  const g = new GraphBuilder();
  const { height: gh, width: gw } = grid;
  const s = g.op('Reshape', [SCORER_OUTPUTS.scores, g.int64s('shape', [-1, gh, gw])]);
  g.op('ReduceMax', [g.op('Reshape', [s, g.int64s('flat', [0, -1])])], { axes: [1], keepdims: 0 }, MAP_OUTPUTS.imageScores);
  const ah = Float32Array.from(axisMatrix(gh, input.height, sigma));
  const aw = axisMatrix(gw, input.width, sigma);
  const awT = new Float32Array(gw * input.width);
  for (let i = 0; i < input.width; i++) for (let j = 0; j < gw; j++) awT[j * input.width + i] = aw[i * gw + j]!;
  const rows = g.op('MatMul', [g.floats('map_rows', [input.height, gh], ah), s]);
  g.op('MatMul', [rows, g.floats('map_cols_t', [gw, input.width], awT)], {}, MAP_OUTPUTS.maps);
  return g.build({
    name: 'patchcore_anomaly_map',
    docString: `patch grid ${gh}x${gw} -> ${input.height}x${input.width}, Gaussian sigma ${sigma}`,
    inputs: [valueInfo(SCORER_OUTPUTS.scores, DataType.FLOAT, ['patches'])],
    outputs: [
      valueInfo(MAP_OUTPUTS.imageScores, DataType.FLOAT, ['batch']),
      valueInfo(MAP_OUTPUTS.maps, DataType.FLOAT, ['batch', input.height, input.width]),
    ],
  });
}
