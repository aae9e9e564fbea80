// Teach and bank-add jobs started from the operator page. Teaching first keeps the next N
// scored frames (the tiles as the pipeline saw them), then fits in a child process
// (`patchline teach` / `patchline bank add`, niced) so the service keeps inspecting with the
// current bank; the child's JSON progress lines become the job's progress. A child killed midway
// writes no version: the store stays as it was. One job at a time.
import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Frame } from '../core/frame.js';
import { clip } from '../core/text.js';
import { FrameCapture } from '../recipes/teach-capture.js';
import type { JobResult, JobState } from '../ui/protocol.js';

/** The command line, from dist/service or src/service alike. */
const CLI = fileURLToPath(new URL('../../bin/patchline.js', import.meta.url));

export class JobError extends Error {}

export interface ChildCommand {
  /** `patchline` arguments; --json is added. */
  args: string[];
  /** What the result says besides the numbers. */
  describe(out: Record<string, unknown>): string;
}

export class BankJobs {
  private job?: JobState;
  private child?: ChildProcess;
  private capture?: { keeper: FrameCapture; then: ChildCommand };
  private ids = 0;
  private lastUpdate = 0;

  constructor(
    private readonly onUpdate: (job: JobState) => void,
    private readonly log: (s: string) => void,
  ) {}

  get state(): JobState | undefined {
    return this.job;
  }

  private begin(kind: JobState['kind'], recipe: string, phase: string, total: number, unit: string): JobState {
    if (this.job && !this.job.finished)
      throw new JobError(`a ${this.job.kind} job for ${this.job.recipe} is running (${this.job.phase}); wait for it to finish`);
    this.job = { id: ++this.ids, kind, recipe, startedAt: new Date().toISOString(), phase, done: 0, total, unit, finished: false };
    this.onUpdate(this.job);
    return this.job;
  }

  /** Keeps the next `frames` frames in `dir`, then runs `then` on them. */
  teach(recipe: string, dir: string, frames: number, then: ChildCommand): JobState {
    const job = this.begin('teach', recipe, 'capture', frames, 'frames');
    this.capture = { keeper: new FrameCapture(dir, frames), then };
    this.log(`teach ${recipe}: capturing ${frames} frames into ${dir}`);
    return job;
  }

  /** Every scored frame passes here; kept while a teach captures. */
  offer(frame: Frame): void {
    const c = this.capture;
    if (!c || !this.job) return;
    c.keeper.keep(frame.image);
    this.progress(c.keeper.count);
    if (!c.keeper.full) return;
    this.capture = undefined;
    c.keeper.flushed().then(
      () => this.runChild(c.then),
      (e: Error) => this.fail(`writing the captured frames: ${e.message}`),
    );
  }

  /** Runs `command` as this job's child process (bank add). */
  add(recipe: string, command: ChildCommand): JobState {
    const job = this.begin('add', recipe, 'starting', 1, 'steps');
    this.runChild(command);
    return job;
  }

  private runChild(command: ChildCommand): void {
    const job = this.job!;
    const child = spawn(process.execPath, [CLI, ...command.args, '--json'], {
      env: { ...process.env, PATCHLINE_PROGRESS: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    try {
      // Inspection first: the fit takes what the pipeline leaves.
      if (child.pid) setPriority(child.pid, 10);
    } catch {
      // not permitted: runs at normal priority
    }
    let stdout = '';
    let stderrTail: string[] = [];
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const p = JSON.parse(line) as { progress?: string; done?: number; total?: number; unit?: string };
          if (typeof p.progress === 'string') {
            Object.assign(job, { phase: p.progress, done: p.done ?? 0, total: p.total ?? 1, unit: p.unit ?? '' });
            this.progress(job.done);
            continue;
          }
        } catch {
          // a plain message
        }
        if (line.trim()) stderrTail = [...stderrTail.slice(-9), line];
      }
    });
    child.on('error', (e) => this.fail(`cannot start ${CLI}: ${e.message}`));
    child.on('close', (code, signal) => {
      this.child = undefined;
      if (job.finished) return;
      if (code !== 0) {
        this.fail(`${command.args[0]} ${signal ? `killed by ${signal}` : `exited with ${code}`}: ${clip(stderrTail.join(' | '), 600)}`);
        return;
      }
      try {
        const out = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
        const calibration = out.calibration as { threshold: number | null; method: string };
        const result: JobResult = {
          version: Number(out.version),
          id: String(out.id),
          rows: Number(out.rows),
          images: Number(out.images),
          threshold: calibration.threshold ?? NaN,
          calibration: calibration.method,
          scores: (out.scores as number[] | undefined) ?? [],
          detail: command.describe(out),
        };
        Object.assign(job, { phase: 'done', finished: true, result, done: job.total });
        this.log(`${job.kind} ${job.recipe}: wrote ${result.id} (${result.detail})`);
        this.onUpdate(job);
      } catch (e) {
        this.fail(`unreadable result from ${command.args[0]}: ${(e as Error).message}`);
      }
    });
  }

  private progress(done: number): void {
    if (!this.job) return;
    this.job.done = done;
    const now = Date.now();
    if (now - this.lastUpdate > 250 || done === this.job.total) {
      this.lastUpdate = now;
      this.onUpdate(this.job);
    }
  }

  private fail(error: string): void {
    if (!this.job || this.job.finished) return;
    Object.assign(this.job, { phase: 'failed', finished: true, error });
    this.capture = undefined;
    this.log(`${this.job.kind} ${this.job.recipe} failed: ${error}`);
    this.onUpdate(this.job);
  }

  /** Service stopping: a capture is abandoned, a child is stopped (it writes no version). */
  close(): void {
    this.fail('the service stopped');
    this.child?.kill('SIGTERM');
  }
}
