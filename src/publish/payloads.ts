// MQTT topics and payloads (docs/mqtt.md has their JSON Schemas and examples).
import type { ScoredFrame } from '../pipeline/frame.js';

export interface Topics {
  result: string;
  heatmap: string;
  status: string;
  command: string;
}

export function topics(prefix: string, line: string, camera: string): Topics {
  const base = `${prefix}/${line}/${camera}`;
  return { result: `${base}/result`, heatmap: `${base}/heatmap`, status: `${base}/status`, command: `${base}/command` };
}

export interface ResultPayload {
  seq: number;
  line: string;
  camera: string;
  captured_at: string;
  published_at: string;
  position: ScoredFrame['position'];
  score: number;
  normalized_score: number;
  is_anomaly: boolean;
  threshold: number;
  bank: string;
  latency_ms: Record<string, number>;
  regions: ScoredFrame['regions'];
}

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export function resultPayload(f: ScoredFrame, line: string, camera: string, now = Date.now()): ResultPayload {
  return {
    seq: f.seq,
    line,
    camera,
    captured_at: new Date(f.timestamp).toISOString(),
    published_at: new Date(now).toISOString(),
    position: f.position,
    score: round(f.score),
    normalized_score: round(f.normalizedScore),
    is_anomaly: f.isAnomaly,
    threshold: round(f.threshold),
    bank: f.bankId,
    latency_ms: Object.fromEntries(Object.entries({ ...f.latency, total: now - f.timestamp }).map(([k, v]) => [k, round(v, 2)])),
    regions: f.regions.map((r) => ({ ...r, peak: { ...r.peak, score: round(r.peak.score) } })),
  };
}

export interface StatusPayload {
  state: 'online' | 'offline';
  since: string;
  bank?: string;
  backbone?: string;
  version?: string;
  /** Size and format of heat maps on the heatmap topic (for MQTT 3.1.1 clients, which get no user properties). */
  heatmap?: { width: number; height: number; format: string };
}

/** IEEE 754 half precision, little-endian, round to nearest even. */
export function toFloat16(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i]!;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    let exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    let h: number;
    if (((x >>> 23) & 0xff) === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else if (exp >= 31) h = sign | 0x7c00;
    else if (exp <= 0) {
      if (exp < -10) h = sign;
      else {
        mant |= 0x800000;
        const shift = 14 - exp;
        let m = mant >>> shift;
        const rem = mant & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        if (rem > half || (rem === half && m & 1)) m++;
        h = sign | m;
      }
    } else {
      let m = mant >>> 13;
      const rem = mant & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && m & 1)) {
        m++;
        if (m === 0x400) {
          m = 0;
          exp++;
        }
      }
      h = exp >= 31 ? sign | 0x7c00 : sign | (exp << 10) | m;
    }
    out[i * 2] = h & 0xff;
    out[i * 2 + 1] = h >>> 8;
  }
  return out;
}
