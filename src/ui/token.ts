// The write tokens of the operator page: read from `ui.tokenFile`, sent by the page in the
// X-Patchline-Token header (never a cookie, so no cross-site request carries it), compared in
// constant time. The file holds one token (its holder is "operator"), or one `name token` pair
// a line so the audit log can say who changed a bank.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const TOKEN_HEADER = 'x-patchline-token';
const NAME = /^[A-Za-z0-9_.@-]{1,40}$/;

export class WriteToken {
  private readonly holders: { name: string; digest: Buffer }[] = [];

  /** `file` undefined: no token, every write is refused. */
  constructor(readonly file?: string) {
    if (!file) return;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`ui.tokenFile: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const pairs = lines.length === 1 && !/\s/.test(lines[0]!) ? [['operator', lines[0]!]] : lines.map((l) => l.split(/\s+/));
    pairs.forEach((p, i) => {
      const [name, token] = p;
      if (p.length !== 2 || !NAME.test(name!))
        throw new Error(
          `ui.tokenFile: ${file} line ${i + 1}: expected 'name token' (name: letters, digits, _ . @ -), or a single token alone`,
        );
      if (token!.length < 16)
        throw new Error(
          `ui.tokenFile: ${file}: the token of '${name}' has ${token!.length} characters; use at least 16 (e.g. openssl rand -hex 16)`,
        );
      this.holders.push({ name: name!, digest: createHash('sha256').update(token!).digest() });
    });
    if (this.holders.length === 0) throw new Error(`ui.tokenFile: ${file} holds no token`);
  }

  get configured(): boolean {
    return this.holders.length > 0;
  }

  /** The name of the holder of `presented`, or undefined (hashes compared in constant time, whatever their length). */
  holder(presented: string | string[] | undefined): string | undefined {
    if (typeof presented !== 'string' || presented.length === 0) return undefined;
    const digest = createHash('sha256').update(presented).digest();
    let found: string | undefined;
    for (const h of this.holders) if (timingSafeEqual(digest, h.digest)) found ??= h.name;
    return found;
  }
}
