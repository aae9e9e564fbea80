// What the operator page and the service say to each other: JSON messages and binary frames
// ([4-byte big-endian header length][JSON header][JPEG]) on the /live WebSocket, and the JSON of
// the HTTP API. Shared by the server and the page's code, so both read the same types.
import type { DefectRegion, FramePosition } from '../core/frame.js';

export interface StatusMessage {
  type: 'status';
  at: number;
  source: { up: boolean; detail: string };
  framesPerSecond: number;
  framesOut: number;
  anomalies: number;
  queueDepth: number;
  bank: string;
  /** The recipe running (recipes configured). */
  recipe?: string;
  threshold: number;
  providers: string[];
  mqttConnected: boolean;
  lineScan: boolean;
  /** Line-scan scale from the config (0: unknown). */
  mmPerLine: number;
  mmPerPixel: number;
  /** Live updates not sent to this page because it was too slow or over its rate. */
  dropped: number;
}

/** Score timeline points since the last message: [time ms, image score, anomalous 0/1]. */
export interface TimelineMessage {
  type: 'timeline';
  points: [number, number, number][];
  threshold: number;
}

/** Header of a binary frame: the latest tile with its heat map (JPEG follows). */
export interface TileHeader {
  type: 'tile';
  seq: number;
  at: number;
  score: number;
  normalizedScore: number;
  isAnomaly: boolean;
  threshold: number;
  position: FramePosition;
  width: number;
  height: number;
}

/** Header of a binary frame: the line-scan web strip (JPEG follows), lines [firstLine, firstLine + lines). */
export interface StripHeader {
  type: 'strip';
  firstLine: number;
  lines: number;
  webWidth: number;
  /** The strip image is `scale` times smaller than the web. */
  scale: number;
  /** Defects reported in these lines, in web coordinates. */
  regions: DefectRegion[];
}

export type Label = 'defect' | 'false-alarm';

export interface Review {
  label: Label;
  /** Defect class (folder name in the reviewed set), for label 'defect'. */
  defectClass?: string;
  at: string;
}

export interface GalleryItem {
  id: string;
  seq: number;
  /** Capture time, ISO. */
  at: string;
  score: number;
  threshold: number;
  bank: string;
  position: FramePosition;
  /** The defect, in frame pixels or (line-scan) web coordinates. */
  region?: DefectRegion;
  /** The image files of the item: what was seen, and with its heat map. */
  width: number;
  height: number;
  review?: Review;
}

export interface GalleryMessage {
  type: 'gallery';
  item: GalleryItem;
}

/** A bank version of a recipe, as the page lists it. */
export interface RecipeVersion {
  version: number;
  id: string;
  active: boolean;
  createdAt?: string;
  rows?: number;
  threshold?: number;
  calibration?: string;
  images?: number;
  origin?: { action: string; parent?: string; note?: string };
  error?: string;
}

export interface RecipeInfo {
  name: string;
  store: string;
  /** Id of the store's active version (what selecting the recipe runs). */
  active?: string;
  versions: RecipeVersion[];
  error?: string;
}

/** A teach or bank-add job: capture (teach), then a fit or an update in a child process. */
export interface JobState {
  id: number;
  kind: 'teach' | 'add';
  recipe: string;
  startedAt: string;
  /** capture, embed, coreset, calibrate, done, failed. */
  phase: string;
  done: number;
  total: number;
  unit: string;
  finished: boolean;
  error?: string;
  result?: JobResult;
}

export interface JobResult {
  version: number;
  id: string;
  rows: number;
  images: number;
  threshold: number;
  calibration: string;
  /** Image scores the threshold came from (held-out good frames). */
  scores: number[];
  detail: string;
}

export interface RecipesView {
  /** Recipes are configured (else the service runs model.bank and the panel says so). */
  enabled: boolean;
  current?: string;
  /** Bank id scoring now. */
  running: string;
  recipes: RecipeInfo[];
  job?: JobState;
  /** Reviewed false alarms of the current recipe not yet added to its bank. */
  falseAlarmsToAdd: number;
}

export interface AuditRecord {
  at: string;
  actor: string;
  action: string;
  recipe: string;
  before?: string;
  after?: string;
  images?: number;
  detail?: string;
}

export interface JobMessage {
  type: 'job';
  job: JobState;
}

/** Recipes, versions or the audit log changed: the page fetches them again. */
export interface RecipesChangedMessage {
  type: 'recipes';
}

export type LiveMessage = StatusMessage | TimelineMessage | GalleryMessage | JobMessage | RecipesChangedMessage;
export type BinaryHeader = TileHeader | StripHeader;

/** Reviewed items for the what-if view: score and label. */
export interface ReviewSummary {
  items: { id: string; score: number; label: Label; defectClass?: string }[];
  threshold: number;
  folder: string;
}

/** [4-byte big-endian header length][JSON header][payload]. */
export function packBinary(header: BinaryHeader, payload: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + payload.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(payload, 4 + json.length);
  return out;
}

export function unpackBinary(data: ArrayBuffer): { header: BinaryHeader; payload: Uint8Array } {
  const len = new DataView(data).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(data, 4, len))) as BinaryHeader;
  return { header, payload: new Uint8Array(data, 4 + len) };
}
