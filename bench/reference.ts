// Side-by-side runs of amazon-science/patchcore-inspection (`npm run bench -- --reference DIR`):
// writes a job for bench/reference/run_reference.py, runs it with Debian's Python, reads back
// its timings, coreset indices and image scores. The job pins the reference's random draws
// (coreset projection, start points) to patchline's so both sides do identical work.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, readNpyFloat32, writeNpy } from '../src/io/npy.js';
import { PROJECTION_DIM, randomProjection, randomStartIndices } from '../src/patchcore/coreset.js';

const REFERENCE_PYTHON = '/usr/bin/python3';
const DRIVER = new URL('./reference/run_reference.py', import.meta.url).pathname;

export interface ReferenceJob {
  repo: string;
  torchvisionArch: string;
  backboneSeed: number;
  layers: string[];
  size: number;
  patchsize: number;
  pretrainDim: number;
  targetDim: number;
  k: number;
  percentage: number;
  coresetSeed: number;
  train: string[];
  test: string[];
  batch: number;
  threads: number;
  loaderWorkers: number;
  /** Time the reference's coreset on its first this many picks only (its bank is patchline's rows anyway). */
  coresetPicks?: number;
}

export interface ReferenceResult {
  fitSeconds: number;
  embedSeconds: number;
  coresetSeconds: number;
  bankRows: number;
  coresetIndices: Int32Array;
  /** [N, 128] the projected features the reference's greedy loop ran on, and its start points. */
  coresetPoints: Float32Array;
  startIndices: number[];
  /** Per test image, in job order. */
  scores: number[];
  /** Seconds from the start of prediction to each image's batch being done. */
  doneAt: number[];
}

/** Why the reference cannot run here, or undefined when it can. */
export function referenceUnavailable(dir: string): string | undefined {
  if (!existsSync(join(dir, 'src', 'patchcore', 'patchcore.py')))
    return `${dir} is not a checkout of amazon-science/patchcore-inspection (no src/patchcore/patchcore.py)`;
  const probe = spawnSync(REFERENCE_PYTHON, ['-c', 'import torch, torchvision, faiss, sklearn, scipy, tqdm, PIL'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return `${REFERENCE_PYTHON} lacks the reference's dependencies (${probe.stderr.trim().split('\n').at(-1)}): run \`bash scripts/setup.sh --bench\``;
  return undefined;
}

/**
 * `inputRows`: patches the coreset starts from (patchline's fit manifest), for the start points;
 * `bankIndices`: patchline's coreset, which the reference's bank is made of (its own selection is
 * still run, timed and returned).
 */
export function runReference(job: ReferenceJob, inputRows: number, bankIndices: Int32Array): ReferenceResult {
  const dir = mkdtempSync(join(tmpdir(), 'patchline-reference-'));
  const projection = join(dir, 'projection.npy');
  writeNpy(projection, {
    dtype: 'float32',
    shape: [PROJECTION_DIM, job.targetDim],
    data: randomProjection(job.targetDim, job.coresetSeed),
  });
  const bank = join(dir, 'bank_indices.npy');
  writeNpy(bank, { dtype: 'int64', shape: [bankIndices.length], data: BigInt64Array.from(bankIndices, BigInt) });
  const jobPath = join(dir, 'job.json');
  const startIndices = randomStartIndices(inputRows, 10, job.coresetSeed);
  writeFileSync(jobPath, JSON.stringify({ ...job, projection, startIndices, bankIndices: bank }));
  // Its progress bars would bury the tables; its stderr is shown when it fails.
  const run = spawnSync(REFERENCE_PYTHON, [DRIVER, jobPath, dir], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (run.status !== 0)
    throw new Error(
      `${REFERENCE_PYTHON} ${DRIVER} ${jobPath} failed (exit ${run.status}):\n${run.stderr.split('\n').slice(-15).join('\n')}`,
    );
  const r = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as Omit<
    ReferenceResult,
    'coresetIndices' | 'coresetPoints' | 'startIndices'
  >;
  const idx = readNpy(join(dir, 'coreset_indices.npy')).data as BigInt64Array;
  const coresetPoints = readNpyFloat32(join(dir, 'coreset_points.npy')).data;
  rmSync(dir, { recursive: true, force: true });
  return { ...r, coresetIndices: Int32Array.from(idx, Number), coresetPoints, startIndices };
}
