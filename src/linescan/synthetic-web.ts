// A simulated line-scan camera over an endless textile web: woven stripes with slow shading
// and sensor noise, with defects (scratches, spots) injected at seeded, known positions. Any
// line renders the same whatever the chunking, so tests can place a defect across a tile seam.

export interface SyntheticDefect {
  kind: 'scratch' | 'spot';
  /** Centre, in web coordinates (line, x). */
  line: number;
  x: number;
  /** Half extents in pixels. */
  halfLength: number;
  halfWidth: number;
}

export interface SyntheticWebOptions {
  width: number;
  seed: number;
  /** Mean lines between defects; 0 = none. */
  defectEvery: number;
  /** Explicit defects (tests); added to the generated ones. */
  defects?: SyntheticDefect[];
}

/** Integer hash -> [0, 1): deterministic per (a, b, seed) on every machine. */
function hash(a: number, b: number, seed: number): number {
  let h = Math.imul(a, 0x27d4eb2d) ^ Math.imul(b, 0x165667b1) ^ Math.imul(seed, 0x9e3779b9);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Smooth value noise in [0, 1] on a lattice of `cell` pixels. */
function smoothNoise(line: number, x: number, cell: number, seed: number): number {
  const fy = line / cell;
  const fx = x / cell;
  const y0 = Math.floor(fy);
  const x0 = Math.floor(fx);
  const ty = fy - y0;
  const tx = fx - x0;
  const sy = ty * ty * (3 - 2 * ty);
  const sx = tx * tx * (3 - 2 * tx);
  const a = hash(y0, x0, seed) * (1 - sx) + hash(y0, x0 + 1, seed) * sx;
  const b = hash(y0 + 1, x0, seed) * (1 - sx) + hash(y0 + 1, x0 + 1, seed) * sx;
  return a * (1 - sy) + b * sy;
}

export class SyntheticWeb {
  private readonly generated: SyntheticDefect[] = [];
  private generatedUpTo = 0;

  constructor(readonly options: SyntheticWebOptions) {}

  /** Defects whose extent touches lines [first, last). */
  defectsIn(first: number, last: number): SyntheticDefect[] {
    this.generateUpTo(last + 200);
    return [...this.generated, ...(this.options.defects ?? [])].filter(
      (d) => d.line + d.halfLength >= first && d.line - d.halfLength < last,
    );
  }

  private generateUpTo(line: number): void {
    const every = this.options.defectEvery;
    if (every <= 0) return;
    while (this.generatedUpTo < line) {
      const k = this.generated.length;
      const r = (i: number) => hash(k, i, this.options.seed ^ 0x51ed);
      const gap = Math.max(64, Math.round(every * (0.5 + r(1))));
      const centre = this.generatedUpTo + gap;
      const kind = r(2) < 0.5 ? 'scratch' : 'spot';
      const margin = 24;
      this.generated.push({
        kind,
        line: centre,
        x: margin + Math.floor(r(3) * Math.max(1, this.options.width - 2 * margin)),
        halfLength: kind === 'scratch' ? 10 + Math.floor(r(4) * 20) : 4 + Math.floor(r(4) * 4),
        halfWidth: kind === 'scratch' ? 1 : 4 + Math.floor(r(5) * 4),
      });
      this.generatedUpTo = centre;
    }
  }

  /** RGB rows [first, first + count) of the web. */
  render(first: number, count: number): Uint8Array {
    const { width, seed } = this.options;
    const out = new Uint8Array(count * width * 3);
    const defects = this.defectsIn(first, first + count);
    for (let r = 0; r < count; r++) {
      const line = first + r;
      for (let x = 0; x < width; x++) {
        const weave = Math.sin(((x * 0.94 + line * 0.34) * 2 * Math.PI) / 14);
        const shade = (smoothNoise(line, x, 48, seed) - 0.5) * 24;
        const grain = (hash(line, x, seed + 7) - 0.5) * 18;
        let v = 128 + 28 * weave + shade + grain;
        for (const d of defects) {
          const dy = (line - d.line) / d.halfLength;
          const dx = (x - d.x) / d.halfWidth;
          if (dx * dx + dy * dy <= 1) v = d.kind === 'scratch' ? 40 : 215;
        }
        const i = (r * width + x) * 3;
        const c = Math.max(0, Math.min(255, Math.round(v)));
        out[i] = c;
        out[i + 1] = Math.max(0, Math.min(255, Math.round(c * 0.92 + 6)));
        out[i + 2] = Math.max(0, Math.min(255, Math.round(c * 0.8 + 14)));
      }
    }
    return out;
  }
}
