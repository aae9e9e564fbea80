// A recipe's bank store: one folder per product holding numbered bank versions (v0001.bank, ...),
// which one is active (active.json, with the activation history that rollback walks back), and
// the recipe's audit log. Every write is atomic: a version appears whole under its number or not
// at all (written to a temporary file, fsync'd, then hard-linked to a number nobody holds), and
// active.json is replaced by rename. A crash or a full disk leaves the active bank in use.
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../io/atomic-file.js';
import { readBankManifest, writeBank, type BankManifest, type BankOrigin } from '../patchcore/bank-file.js';

const VERSION_FILE = /^v(\d{4,})\.bank$/;
/** Left by a writer that died: `incoming-<pid>-<n>.bank` and writeBank's `<file>.<pid>.tmp`. */
const TEMP_FILE = /^(?:incoming-(\d+)-\d+\.bank(?:\.\d+\.tmp)?|.*\.(\d+)\.tmp)$/;
const HISTORY_LIMIT = 50;

export interface VersionInfo {
  version: number;
  /** `recipe@vN`: what results, status and metrics call it. */
  id: string;
  file: string;
  bytes: number;
  active: boolean;
  createdAt?: string;
  rows?: number;
  threshold?: number;
  calibration?: string;
  origin?: BankOrigin;
  images?: number;
  /** Why the version cannot be read (it is listed, never activated). */
  error?: string;
}

interface ActivePointer {
  version: number;
  /** Versions activated, oldest first; the last is the active one. */
  history: number[];
  at: string;
}

export class StoreError extends Error {}

export class BankStore {
  private incoming = 0;

  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly keep: number,
  ) {}

  /**
   * Opens a store (`create`: makes the folder). Temporary files of writers that are no longer
   * running are removed.
   */
  static open(dir: string, opts: { name?: string; keep?: number; create?: boolean } = {}): BankStore {
    const abs = resolve(dir);
    if (opts.create) mkdirSync(abs, { recursive: true });
    let isDir = false;
    try {
      isDir = statSync(abs).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir)
      throw new StoreError(`bank store ${abs} does not exist (or is not a folder); 'patchline bank import' or 'teach' creates it`);
    const store = new BankStore(abs, opts.name ?? basename(abs), opts.keep ?? 10);
    for (const f of readdirSync(abs)) {
      const m = TEMP_FILE.exec(f);
      const pid = Number(m?.[1] ?? m?.[2]);
      if (m && pid !== process.pid && !alive(pid)) rmSync(join(abs, f), { force: true });
    }
    return store;
  }

  get auditFile(): string {
    return join(this.dir, 'audit.jsonl');
  }

  idOf(version: number): string {
    return `${this.name}@v${version}`;
  }

  path(version: number): string {
    return join(this.dir, `v${String(version).padStart(4, '0')}.bank`);
  }

  /** Version numbers present, ascending. */
  numbers(): number[] {
    return readdirSync(this.dir)
      .map((f) => VERSION_FILE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private pointer(): ActivePointer | undefined {
    const file = join(this.dir, 'active.json');
    if (!existsSync(file)) return undefined;
    let p: ActivePointer;
    try {
      p = JSON.parse(readFileSync(file, 'utf8')) as ActivePointer;
    } catch (e) {
      throw new StoreError(`${file}: not readable JSON (${(e as Error).message}); activate a version with 'patchline bank activate'`);
    }
    if (!Number.isInteger(p.version) || !Array.isArray(p.history))
      throw new StoreError(`${file}: no version number; activate a version with 'patchline bank activate'`);
    return p;
  }

  /** The active version, undefined when none was activated yet. */
  activeVersion(): number | undefined {
    return this.pointer()?.version;
  }

  /** The active version's file; an error naming the store when there is none. */
  activePath(): string {
    const v = this.activeVersion();
    if (v === undefined)
      throw new StoreError(`bank store ${this.dir} has no active version; add one ('patchline bank import', 'teach') and activate it`);
    const p = this.path(v);
    if (!existsSync(p))
      throw new StoreError(
        `bank store ${this.dir}: active version v${v} is missing (${p}); activate another with 'patchline bank activate'`,
      );
    return p;
  }

  async versions(): Promise<VersionInfo[]> {
    const active = this.activeVersion();
    const out: VersionInfo[] = [];
    for (const version of this.numbers()) {
      const file = this.path(version);
      const info: VersionInfo = { version, id: this.idOf(version), file, bytes: statSync(file).size, active: version === active };
      try {
        const { manifest: m } = await readBankManifest(file);
        Object.assign(info, {
          createdAt: m.createdAt,
          rows: m.coreset.rows,
          threshold: m.calibration.threshold,
          calibration: m.calibration.method,
          images: m.training.bankImages,
          ...(m.origin ? { origin: m.origin } : {}),
        });
      } catch (e) {
        info.error = (e as Error).message;
      }
      out.push(info);
    }
    return out;
  }

  /** Writes a bank as the next version (not activated) and prunes old versions. */
  add(manifest: Omit<BankManifest, 'dataSha256' | 'format' | 'version'>, rows: Float32Array): { version: number; file: string } {
    const incoming = join(this.dir, `incoming-${process.pid}-${this.incoming++}.bank`);
    writeBank(incoming, manifest, rows);
    try {
      for (let version = (this.numbers().at(-1) ?? 0) + 1; ; version++) {
        const file = this.path(version);
        try {
          // link() never replaces: two writers cannot both take a number.
          linkSync(incoming, file);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw new StoreError(`${file}: cannot add the version: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        fsyncDir(this.dir);
        this.prune();
        return { version, file };
      }
    } finally {
      rmSync(incoming, { force: true });
    }
  }

  /** Makes `version` the active one (the service reloads it between two batches). */
  activate(version: number): { before?: number; after: number } {
    if (!existsSync(this.path(version))) {
      throw new StoreError(
        `bank store ${this.dir} has no version v${version} (versions: ${
          this.numbers()
            .map((n) => `v${n}`)
            .join(', ') || 'none'
        })`,
      );
    }
    const p = this.pointer();
    const history = [...(p?.history ?? []), version].slice(-HISTORY_LIMIT);
    this.writePointer({ version, history, at: new Date().toISOString() });
    return { ...(p ? { before: p.version } : {}), after: version };
  }

  /** Back to the version active before the current one (walking the activation history). */
  rollback(): { before: number; after: number } {
    const p = this.pointer();
    if (!p) throw new StoreError(`bank store ${this.dir} has no active version to roll back from`);
    const history = [...p.history];
    while (history.length > 0 && history.at(-1) === p.version) history.pop();
    while (history.length > 0 && !existsSync(this.path(history.at(-1)!))) history.pop();
    const to = history.at(-1);
    if (to === undefined)
      throw new StoreError(`bank store ${this.dir}: nothing to roll back to (v${p.version} is the first version activated)`);
    this.writePointer({ version: to, history, at: new Date().toISOString() });
    return { before: p.version, after: to };
  }

  /** Removes a version that is not active (a taught bank the operator discarded). */
  remove(version: number): void {
    if (version === this.activeVersion()) throw new StoreError(`v${version} is the active version of ${this.name}; activate another first`);
    if (!existsSync(this.path(version))) throw new StoreError(`bank store ${this.dir} has no version v${version}`);
    try {
      unlinkSync(this.path(version));
    } catch (e) {
      throw new StoreError(`${this.path(version)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** Deletes the oldest versions beyond `keep`, never the active one or the one rollback would go to. */
  private prune(): void {
    const p = this.pointer();
    const protectedVersions = new Set([p?.version, p?.history.filter((v) => v !== p.version).at(-1)]);
    let count = this.numbers().length;
    for (const v of this.numbers()) {
      if (count <= this.keep) break;
      if (protectedVersions.has(v)) continue;
      rmSync(this.path(v), { force: true });
      count--;
    }
  }

  private writePointer(p: ActivePointer): void {
    writeFileAtomic(join(this.dir, 'active.json'), `${JSON.stringify(p)}\n`);
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
