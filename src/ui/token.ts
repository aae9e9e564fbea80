// The write token of the operator page: read from `ui.tokenFile`, sent by the page in the
// X-Patchline-Token header (never a cookie, so no cross-site request carries it), compared in
// constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const TOKEN_HEADER = 'x-patchline-token';

export class WriteToken {
  private readonly digest?: Buffer;

  /** `file` undefined: no token, every write is refused. */
  constructor(readonly file?: string) {
    if (!file) return;
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw new Error(`ui.tokenFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (text.length < 16)
      throw new Error(`ui.tokenFile: ${file} holds a token of ${text.length} characters; use at least 16 (e.g. openssl rand -hex 16)`);
    this.digest = createHash('sha256').update(text).digest();
  }

  get configured(): boolean {
    return this.digest !== undefined;
  }

  /** Whether `presented` is the token (hashes compared in constant time, whatever their length). */
  accepts(presented: string | string[] | undefined): boolean {
    if (!this.digest || typeof presented !== 'string' || presented.length === 0) return false;
    return timingSafeEqual(createHash('sha256').update(presented).digest(), this.digest);
  }
}
