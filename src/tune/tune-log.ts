// The tune's memory on disk, so an interrupted search resumes: OUT/tune.json names what the
// results depend on (data, validation, backbone file, holdout, seed), OUT/candidates.jsonl holds
// one finished candidate per line, appended as soon as it is measured.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { CandidateResult } from './pareto.js';

/** What a candidate's measurements depend on: a resumed search must match on every field. */
export interface TuneIdentity {
  data: string;
  validation: string;
  backboneSha256: string;
  holdout: number;
  seed: number;
}

export class TuneLogError extends Error {}

export class TuneLog {
  private readonly byId = new Map<string, CandidateResult>();

  private constructor(
    readonly dir: string,
    /** Lines of candidates.jsonl that could not be read (a line cut off by a kill). */
    readonly skippedLines: number,
  ) {}

  get resultsPath(): string {
    return join(this.dir, 'candidates.jsonl');
  }

  /** Opens DIR for `identity`: resumes what is there, or starts afresh with `fresh`. */
  static open(dir: string, identity: TuneIdentity, opts: { fresh?: boolean } = {}): TuneLog {
    mkdirSync(dir, { recursive: true });
    const idPath = join(dir, 'tune.json');
    const results = join(dir, 'candidates.jsonl');
    if (opts.fresh) rmSync(results, { force: true });
    else if (existsSync(idPath) && existsSync(results)) {
      let before: Partial<TuneIdentity>;
      try {
        before = JSON.parse(readFileSync(idPath, 'utf8')) as Partial<TuneIdentity>;
      } catch (e) {
        throw new TuneLogError(`${idPath}: not valid JSON (${(e as Error).message}); use --fresh to start over`);
      }
      for (const key of Object.keys(identity) as (keyof TuneIdentity)[]) {
        if (before[key] !== identity[key])
          throw new TuneLogError(
            `${idPath}: the results in ${dir} were measured with ${key} ${JSON.stringify(before[key])}, not ${JSON.stringify(identity[key])}; ` +
              'use another --out, or --fresh to discard them',
          );
      }
    }
    writeFileAtomic(idPath, `${JSON.stringify(identity, null, 2)}\n`);
    const text = existsSync(results) ? readFileSync(results, 'utf8') : '';
    const lines = text.split('\n').filter(Boolean);
    const readable = lines.filter(isResultLine);
    // A line cut off by a kill would swallow the next one appended: keep only whole records.
    if (readable.length !== lines.length || (text && !text.endsWith('\n')))
      writeFileAtomic(results, readable.map((l) => `${l}\n`).join(''));
    return new TuneLog(dir, lines.length - readable.length).load(readable);
  }

  private load(lines: string[]): this {
    for (const l of lines) {
      const r = JSON.parse(l) as CandidateResult;
      this.byId.set(r.id, r);
    }
    return this;
  }

  get results(): CandidateResult[] {
    return [...this.byId.values()];
  }

  get(id: string): CandidateResult | undefined {
    return this.byId.get(id);
  }

  append(r: CandidateResult): void {
    appendFileSync(this.resultsPath, `${JSON.stringify(r)}\n`);
    this.byId.set(r.id, r);
  }
}

function isResultLine(line: string): boolean {
  try {
    const r = JSON.parse(line) as Partial<CandidateResult>;
    return typeof r.id === 'string' && typeof r.fps === 'number' && typeof r.accuracy?.image_auroc === 'number';
  } catch {
    return false;
  }
}
