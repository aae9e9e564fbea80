// The PatchCore embedding head (reference: PatchCore._embed with PatchMaker, MeanMapper and
// Aggregator) as an ONNX graph, so it runs in the same runtime, and on the same device, as the
// backbone.
//
// Reference order per layer: unfold (ps x ps, zero padding) -> bilinear resize of every
// unfolded channel to the first layer's grid -> adaptive_avg_pool1d over the flattened
// (c, ky, kx) vector to `pretrainDim`. Resize and pooling are linear maps over different axes,
// so they commute: this graph pools first and resizes the pooled map, which is ps^2 * C / D
// times less resize work. Unfold + pooling is a sparse map (each output is the mean of a short,
// contiguous bin), built as a grouped convolution (see binPoolConv) instead of the dense unfold
// x matrix product (about 7 GFLOP per WRN50 frame). Results equal the reference to float32
// rounding.
import { DataType, GraphBuilder, valueInfo, type ModelProto } from '../model/onnx-graph.js';
import { bilinearMatrix } from './bilinear.js';

export interface LayerShape {
  /** Logical layer name; also the graph input name. */
  name: string;
  channels: number;
  height: number;
  width: number;
}

export interface HeadSpec {
  /** In reference order; the first layer sets the patch grid. */
  layers: LayerShape[];
  patchsize: number;
  pretrainDim: number;
  targetDim: number;
}

export const EMBEDDING_OUTPUT = 'embedding';

/** PatchMaker's grid size per axis for stride 1: s + 2*pad - (ps - 1). */
export function patchGridSize(size: number, patchsize: number): number {
  const pad = Math.floor((patchsize - 1) / 2);
  return size + 2 * pad - (patchsize - 1);
}

/** The patch grid [height, width] of a head spec (the first layer's grid). */
export function headGrid(spec: HeadSpec): { height: number; width: number } {
  const first = spec.layers[0];
  if (!first) throw new RangeError('the head needs at least one layer');
  return { height: patchGridSize(first.height, spec.patchsize), width: patchGridSize(first.width, spec.patchsize) };
}

export interface AdaptiveBins {
  /** Output length. */
  size: number;
  /** Longest bin. */
  maxLength: number;
  /** [size, maxLength] input index per slot; padding slots repeat the bin's start. */
  index: Int32Array;
  /** [size, maxLength] 1 for a real slot, 0 for padding. */
  mask: Float32Array;
  /** [size] bin lengths. */
  length: Float32Array;
}

/**
 * torch's adaptive_avg_pool1d bins: bin i covers [floor(i*L/D), ceil((i+1)*L/D)).
 * Bins overlap when D does not divide L and repeat inputs when D > L.
 */
export function adaptiveBins(inputLength: number, outputLength: number): AdaptiveBins {
  const starts = new Int32Array(outputLength);
  const ends = new Int32Array(outputLength);
  let maxLength = 0;
  for (let i = 0; i < outputLength; i++) {
    starts[i] = Math.floor((i * inputLength) / outputLength);
    ends[i] = Math.ceil(((i + 1) * inputLength) / outputLength);
    maxLength = Math.max(maxLength, ends[i]! - starts[i]!);
  }
  const index = new Int32Array(outputLength * maxLength);
  const mask = new Float32Array(outputLength * maxLength);
  const length = new Float32Array(outputLength);
  for (let i = 0; i < outputLength; i++) {
    const n = ends[i]! - starts[i]!;
    length[i] = n;
    for (let j = 0; j < maxLength; j++) {
      index[i * maxLength + j] = j < n ? starts[i]! + j : starts[i]!;
      mask[i * maxLength + j] = j < n ? 1 : 0;
    }
  }
  return { size: outputLength, maxLength, index, mask, length };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * MeanMapper(unfold(x)) for x = [B, C, h, w] as one grouped convolution -> [B, D, gh, gw].
 *
 * The unfolded vector of a position is ordered (c, ky, kx) and bin i of adaptive pooling covers
 * [floor(i*L/D), ceil((i+1)*L/D)). With G = gcd(C, D), output i*D/G starts exactly at input
 * i*L/G, a channel boundary, so no bin crosses from one group of C/G channels into the next:
 * the pooling is a Conv with `group = G`, weight 1 where (c, ky, kx) lies in bin d, zero
 * padding (ps-1)/2 as the reference's Unfold, followed by a division by the bin length (sum
 * first, then divide, as torch does). Cost: D * C/G * ps^2 MACs per position.
 * Also serves the Aggregator with ps = 1 over the stacked layers.
 */
function binPoolConv(g: GraphBuilder, x: string, channels: number, outDim: number, ps: number): string {
  const taps = ps * ps;
  const bins = adaptiveBins(channels * taps, outDim);
  const groups = gcd(channels, outDim);
  const perGroupIn = channels / groups;
  const perGroupOut = outDim / groups;
  const weight = new Float32Array(outDim * perGroupIn * taps);
  for (let d = 0; d < outDim; d++) {
    const group = Math.floor(d / perGroupOut);
    for (let j = 0; j < bins.maxLength; j++) {
      if (bins.mask[d * bins.maxLength + j] === 0) continue;
      const idx = bins.index[d * bins.maxLength + j]!;
      const c = Math.floor(idx / taps) - group * perGroupIn;
      if (c < 0 || c >= perGroupIn) throw new Error(`internal: bin ${d} leaves its channel group`);
      weight[(d * perGroupIn + c) * taps + (idx % taps)]! += 1;
    }
  }
  const pad = Math.floor((ps - 1) / 2);
  const w = g.floats('bin_weight', [outDim, perGroupIn, ps, ps], weight);
  const sums = g.op('Conv', [x, w], { group: groups, kernel_shape: [ps, ps], pads: [pad, pad, pad, pad], strides: [1, 1] });
  return g.op('Div', [sums, g.floats('bin_length', [outDim, 1, 1], bins.length)]);
}

export function validateHeadSpec(spec: HeadSpec): void {
  if (!Number.isInteger(spec.patchsize) || spec.patchsize < 1)
    throw new RangeError(`patchsize must be a positive integer, got ${spec.patchsize}`);
  for (const [k, v] of [
    ['pretrainDim', spec.pretrainDim],
    ['targetDim', spec.targetDim],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k} must be a positive integer, got ${v}`);
  }
  if (spec.layers.length === 0) throw new RangeError('the head needs at least one layer');
  for (const l of spec.layers) {
    if (patchGridSize(l.height, spec.patchsize) < 1 || patchGridSize(l.width, spec.patchsize) < 1) {
      throw new RangeError(`layer ${l.name}: feature map ${l.height}x${l.width} is smaller than patchsize ${spec.patchsize}`);
    }
  }
}

/** Builds the head graph: inputs named after the layers ([B, C, h, w]), output `embedding` [B*gh*gw, targetDim]. */
export function buildEmbeddingHead(spec: HeadSpec): ModelProto {
  validateHeadSpec(spec);
  const g = new GraphBuilder();
  const ps = spec.patchsize;
  const { height: gh, width: gw } = headGrid(spec);
  const pooled = spec.layers.map((layer) => {
    const lh = patchGridSize(layer.height, ps);
    const lw = patchGridSize(layer.width, ps);
    let p = binPoolConv(g, layer.name, layer.channels, spec.pretrainDim, ps);
    if (lw !== gw) p = g.op('MatMul', [p, g.floats('resize_w', [lw, gw], transpose(bilinearMatrix(lw, gw), gw, lw))]);
    if (lh !== gh) p = g.op('MatMul', [g.floats('resize_h', [gh, lh], bilinearMatrix(lh, gh)), p]);
    return p;
  });
  const stacked = pooled.length === 1 ? pooled[0]! : g.op('Concat', pooled, { axis: 1 });
  const total = spec.layers.length * spec.pretrainDim;
  const aggregated = total === spec.targetDim ? stacked : binPoolConv(g, stacked, total, spec.targetDim, 1);
  const nhwc = g.op('Transpose', [aggregated], { perm: [0, 2, 3, 1] });
  g.op('Reshape', [nhwc, g.int64s('shape', [-1, spec.targetDim])], {}, EMBEDDING_OUTPUT);
  return g.build({
    name: 'patchcore_embedding_head',
    docString: `PatchCore head: layers ${spec.layers.map((l) => l.name).join(',')}, patchsize ${ps}, pretrain ${spec.pretrainDim}, target ${spec.targetDim}`,
    inputs: spec.layers.map((l) => valueInfo(l.name, DataType.FLOAT, ['batch', l.channels, l.height, l.width])),
    outputs: [valueInfo(EMBEDDING_OUTPUT, DataType.FLOAT, ['patches', spec.targetDim])],
  });
}

/** [rows, cols] -> [cols, rows] */
function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}
