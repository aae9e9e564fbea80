// Several cameras over one web: a defect in the strip two neighbours both see is found by both,
// at two camera-local positions. This merges the cameras' regions in web coordinates (mm) so each
// defect is reported once. A region near another camera's view waits until that camera has
// reported everything that could touch it (or is down); regions of different cameras whose boxes
// touch (within a tolerance: the two maps blur a defect differently) become one defect.
import type { DefectRegion } from '../core/frame.js';
import { camerasSeeing, ownerAt, type CameraPlacement, type WebLayout } from './camera-layout.js';

/** A box on the web in mm: `along` from the web's first line, `across` from the reference edge. */
interface WebBox {
  alongMm: number;
  acrossMm: number;
  lengthMm: number;
  widthMm: number;
  peak: { alongMm: number; acrossMm: number; score: number };
  continues?: boolean;
}

/** A region one camera found. */
export interface CameraRegion extends WebBox {
  camera: string;
  /** The camera's own region (its pixels and lines). */
  region?: DefectRegion;
}

export interface WebDefect extends WebBox {
  /**
   * The camera answering for the defect: the one owning its position (overlap strips split at
   * their midpoints) when that camera saw it, else the first that did.
   */
  camera: string;
  /** Every camera that saw it, left to right. */
  seenBy: string[];
  /** The regions of each camera that make up the defect. */
  members: CameraRegion[];
}

/** A camera's region (web lines and camera pixels) in web mm. */
export function cameraRegion(camera: CameraPlacement, region: DefectRegion, mmPerLine: number): CameraRegion {
  const { box, peak } = region;
  return {
    camera: camera.id,
    alongMm: box.y * mmPerLine,
    acrossMm: camera.offsetMm + box.x * camera.mmPerPixel,
    lengthMm: box.height * mmPerLine,
    widthMm: box.width * camera.mmPerPixel,
    peak: { alongMm: peak.y * mmPerLine, acrossMm: camera.offsetMm + peak.x * camera.mmPerPixel, score: peak.score },
    ...(region.continues ? { continues: true } : {}),
    region,
  };
}

export class OverlapMerger {
  private pending: CameraRegion[] = [];
  /** Per camera: every region starting before this position along the web has been added. */
  private readonly reportedBefore = new Map<string, number>();
  private readonly down = new Set<string>();

  constructor(
    private readonly layout: WebLayout,
    /** Boxes of two cameras closer than this (mm, both directions) are one defect. */
    private readonly toleranceMm: number,
  ) {
    for (const c of layout.cameras) this.reportedBefore.set(c.id, -Infinity);
  }

  /**
   * A camera's regions that became final, and how far along the web it has reported every region
   * (its map merger's search front, in mm). Returns the defects that are now settled.
   */
  add(camera: string, regions: CameraRegion[], reportedBeforeMm: number): WebDefect[] {
    if (!this.reportedBefore.has(camera)) throw new RangeError(`overlap merge: unknown camera '${camera}'`);
    for (const r of regions) if (r.camera !== camera) throw new RangeError(`overlap merge: a region of '${r.camera}' added as '${camera}'`);
    this.reportedBefore.set(camera, Math.max(this.reportedBefore.get(camera)!, reportedBeforeMm));
    this.pending.push(...regions);
    return this.settle(false);
  }

  /** A camera that is down is not waited for; one that comes back is again. */
  setDown(camera: string, isDown: boolean): WebDefect[] {
    if (!this.reportedBefore.has(camera)) throw new RangeError(`overlap merge: unknown camera '${camera}'`);
    if (isDown) this.down.add(camera);
    else this.down.delete(camera);
    return this.settle(false);
  }

  /** The end of the web: everything still waiting goes out. */
  flush(): WebDefect[] {
    return this.settle(true);
  }

  /** Regions waiting for a neighbour. */
  get waiting(): number {
    return this.pending.length;
  }

  private ready(r: CameraRegion): boolean {
    const t = this.toleranceMm;
    const end = r.alongMm + r.lengthMm + t;
    return camerasSeeing(this.layout, r.acrossMm - t, r.acrossMm + r.widthMm + t).every(
      (n) => n.id === r.camera || this.down.has(n.id) || this.reportedBefore.get(n.id)! > end,
    );
  }

  private touch(a: CameraRegion, b: CameraRegion): boolean {
    const t = this.toleranceMm;
    return (
      a.camera !== b.camera &&
      a.alongMm <= b.alongMm + b.lengthMm + t &&
      b.alongMm <= a.alongMm + a.lengthMm + t &&
      a.acrossMm <= b.acrossMm + b.widthMm + t &&
      b.acrossMm <= a.acrossMm + a.widthMm + t
    );
  }

  private settle(all: boolean): WebDefect[] {
    const n = this.pending.length;
    // Groups of touching regions (union-find); a group goes out once every member is settled.
    const parent = Array.from({ length: n }, (_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) if (this.touch(this.pending[i]!, this.pending[j]!)) parent[find(i)] = find(j);
    const groups = new Map<number, CameraRegion[]>();
    const settled = new Map<number, boolean>();
    this.pending.forEach((r, i) => {
      const g = find(i);
      groups.set(g, [...(groups.get(g) ?? []), r]);
      settled.set(g, (settled.get(g) ?? true) && (all || this.ready(r)));
    });
    const out: WebDefect[] = [];
    const keep: CameraRegion[] = [];
    for (const [g, members] of groups) {
      if (settled.get(g)) out.push(this.merge(members));
      else keep.push(...members);
    }
    this.pending = keep;
    return out.sort((a, b) => a.alongMm - b.alongMm || a.acrossMm - b.acrossMm);
  }

  private merge(members: CameraRegion[]): WebDefect {
    const along = Math.min(...members.map((m) => m.alongMm));
    const across = Math.min(...members.map((m) => m.acrossMm));
    const alongEnd = Math.max(...members.map((m) => m.alongMm + m.lengthMm));
    const acrossEnd = Math.max(...members.map((m) => m.acrossMm + m.widthMm));
    const top = members.reduce((a, b) => (b.peak.score > a.peak.score ? b : a));
    const order = this.layout.cameras.map((c) => c.id);
    const seenBy = [...new Set(members.map((m) => m.camera))].sort((a, b) => order.indexOf(a) - order.indexOf(b));
    const owner = ownerAt(this.layout, (across + acrossEnd) / 2).id;
    return {
      camera: seenBy.includes(owner) ? owner : seenBy[0]!,
      seenBy,
      alongMm: along,
      acrossMm: across,
      lengthMm: alongEnd - along,
      widthMm: acrossEnd - across,
      peak: top.peak,
      ...(members.some((m) => m.continues) ? { continues: true } : {}),
      members,
    };
  }
}
