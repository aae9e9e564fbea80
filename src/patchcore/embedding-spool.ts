// Training embeddings on disk while the coreset is chosen: only the 128-dim projection has to
// stay in memory, and the few selected rows are read back. Keeps fitting on hundreds of images
// within a fraction of the raw embedding size in RAM.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class EmbeddingSpool {
  private readonly dir: string;
  private readonly fd: number;
  private rows = 0;

  constructor(
    readonly dim: number,
    workDir = tmpdir(),
  ) {
    this.dir = mkdtempSync(join(workDir, 'patchline-fit-'));
    this.fd = openSync(join(this.dir, 'embeddings.f32'), 'w+');
  }

  get length(): number {
    return this.rows;
  }

  append(rows: Float32Array): void {
    const bytes = Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.rows * this.dim * 4 + done);
    this.rows += rows.length / this.dim;
  }

  /** Rows at `indices`, in that order. */
  gather(indices: ArrayLike<number>): Float32Array {
    const out = new Float32Array(indices.length * this.dim);
    const view = Buffer.from(out.buffer);
    const rowBytes = this.dim * 4;
    for (let i = 0; i < indices.length; i++) {
      const r = indices[i]!;
      if (r < 0 || r >= this.rows) throw new RangeError(`row ${r} outside the ${this.rows} spooled rows`);
      readSync(this.fd, view, i * rowBytes, rowBytes, r * rowBytes);
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
