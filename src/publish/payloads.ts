// MQTT topics and payloads (docs/mqtt.md has their JSON Schemas and examples). The payload
// types are the schemas' own (payload-schema.ts), so code, docs and validation cannot drift.
import type { ScoredFrame } from '../core/frame.js';
import type { ResultPayload } from './payload-schema.js';

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
    regions: f.regions.map(({ web, ...r }) => ({
      ...r,
      peak: { ...r.peak, score: round(r.peak.score) },
      ...(web
        ? {
            web: {
              along_mm: round(web.alongMm),
              across_mm: round(web.acrossMm),
              length_mm: round(web.lengthMm),
              width_mm: round(web.widthMm),
              seen_by: web.seenBy,
            },
          }
        : {}),
    })),
  };
}
