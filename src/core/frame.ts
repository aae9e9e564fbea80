// What travels down the pipeline: frames from cameras or tiles cut from a line-scan web, then
// the same frames with their scores and maps.
import type { Image8 } from './image.js';

export interface FramePosition {
  /** Frame index within its source (area cameras, folders, videos). */
  index?: number;
  /** Source file, for folder sources. */
  file?: string;
  /** Line-scan: web line of the tile's top row, and its left pixel across the web. */
  line?: number;
  x?: number;
  /** Line-scan: tile row and column in the tiling. */
  tileRow?: number;
  tileCol?: number;
}

export interface Frame {
  /** Monotonic per pipeline run (per camera with several), assigned at the source. */
  seq: number;
  /** Several cameras over one web: the camera it comes from (config `cameras`). */
  camera?: string;
  /** Capture time, ms since the epoch. */
  timestamp: number;
  image: Image8;
  position: FramePosition;
  /** Line-scan: the last tile of its web row (batchSize 'row' cuts batches after it). */
  endsRow?: boolean;
  /** Stage name -> milliseconds spent. */
  latency: Record<string, number>;
}

/** A chunk of lines from a line-scan camera: `lines` rows of `width` RGB pixels. */
export interface LineChunk {
  seq: number;
  timestamp: number;
  /** Web line index of the first row. */
  firstLine: number;
  lines: number;
  width: number;
  /** Interleaved RGB, row-major. */
  data: Uint8Array;
}

export interface DefectRegion {
  /** Bounding box in frame pixels, or in web coordinates (line, x) for line-scan. */
  box: { x: number; y: number; width: number; height: number };
  area: number;
  peak: { x: number; y: number; score: number };
  /** Line-scan: position of the box's top along the web in mm (when a scale is configured). */
  mm?: { along: number; across: number };
  /** Line-scan: the defect goes on below this box (a long streak reported in segments). */
  continues?: boolean;
  /**
   * Several cameras over one web: the defect's box on the web in mm (what every camera that saw it
   * saw, merged) and those cameras; `box` is then the answering camera's own region.
   */
  web?: { alongMm: number; acrossMm: number; lengthMm: number; widthMm: number; seenBy: string[] };
}

export interface ScoredFrame extends Frame {
  /** The frame as the model saw it (after the resize policy), the pixels under `map()`. */
  view: Image8;
  score: number;
  normalizedScore: number;
  isAnomaly: boolean;
  threshold: number;
  /**
   * Anomaly map at the model input size, computed on first call (then kept): frames that need
   * no regions, heat map or web merge never pay for one.
   */
  map: () => Float32Array;
  regions: DefectRegion[];
  bankId: string;
}
