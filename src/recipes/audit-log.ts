// Who changed which bank, when: one JSON object per line in the recipe store's audit.jsonl,
// appended (never rewritten) by the service and by the command line alike. A line cut short by
// a crash is skipped when read.
import { appendFileSync, closeSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export type AuditAction = 'teach' | 'add' | 'threshold' | 'activate' | 'rollback' | 'select-recipe' | 'import' | 'discard';

export interface AuditEntry {
  at: string;
  /** Token name (page), `cli:<user>`, `mqtt` or `sparkplug`. */
  actor: string;
  action: AuditAction;
  recipe: string;
  /** Bank ids (`recipe@vN`) before and after. */
  before?: string;
  after?: string;
  images?: number;
  detail?: string;
}

/** The actor of a command-line change. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

export function appendAudit(file: string, entry: Omit<AuditEntry, 'at'>): AuditEntry {
  const full: AuditEntry = { at: new Date().toISOString(), ...entry };
  appendFileSync(file, `${JSON.stringify(full)}\n`);
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return full;
}

/** The last `limit` entries, oldest first (none when the log does not exist yet). */
export function readAudit(file: string, limit = 200): AuditEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: AuditEntry[] = [];
  for (const line of text.split('\n').slice(-limit - 1)) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as AuditEntry;
      if (typeof e.at === 'string' && typeof e.action === 'string') out.push(e);
    } catch {
      // a line cut short by a crash
    }
  }
  return out.slice(-limit);
}
