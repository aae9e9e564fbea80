// A bank from a URL (a plant's file server, an HTTPS object store, an S3 presigned URL) into a
// recipe's store: streamed to a temporary file beside the store, its sha256 checked against the
// pinned value and its size capped while it arrives, then imported as the next version (and
// activated) only when complete and verified, so a cut connection or a wrong file changes nothing.
import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_MAX_BANK_BYTES } from '../patchcore/bank-file.js';
import { importBank, type Actor, type NewVersion } from './bank-operations.js';
import type { BankStore } from './bank-store.js';

export class BankDownloadError extends Error {}

export interface DownloadOptions {
  /** Expected sha256 of the file, hex. */
  sha256: string;
  maxBytes?: number;
  timeoutMs?: number;
}

export async function importBankFromUrl(
  store: BankStore,
  url: string,
  opts: DownloadOptions,
  who: Actor & { activate?: boolean },
): Promise<NewVersion> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BankDownloadError(`${url}: not a URL`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw new BankDownloadError(`${url}: only http:// and https:// URLs are fetched`);
  const expected = opts.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) throw new BankDownloadError(`sha256 must be 64 hex digits, got '${opts.sha256}'`);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BANK_BYTES;
  const tmp = join(store.dir, `.download-${process.pid}-${Date.now()}.bank`);
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000) });
    } catch (e) {
      throw new BankDownloadError(
        `${url}: ${(e as Error).message}${(e as { cause?: Error }).cause ? ` (${(e as { cause: Error }).cause.message})` : ''}`,
      );
    }
    if (!res.ok || !res.body) throw new BankDownloadError(`${url}: HTTP ${res.status} ${res.statusText}`);
    const declared = Number(res.headers.get('content-length'));
    if (declared > maxBytes) throw new BankDownloadError(`${url}: ${declared} bytes, more than the ${maxBytes} bytes a bank may have`);
    const hash = createHash('sha256');
    let bytes = 0;
    const file = createWriteStream(tmp, { flags: 'wx' });
    try {
      for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
        bytes += (chunk as Buffer).length;
        if (bytes > maxBytes) throw new BankDownloadError(`${url}: more than the ${maxBytes} bytes a bank may have`);
        hash.update(chunk as Buffer);
        if (!file.write(chunk)) await new Promise<void>((r) => file.once('drain', () => r()));
      }
    } catch (e) {
      if (e instanceof BankDownloadError) throw e;
      throw new BankDownloadError(`${url}: download broke off after ${bytes} bytes (${(e as Error).message})`);
    } finally {
      file.end();
      await finished(file);
    }
    const got = hash.digest('hex');
    if (got !== expected) throw new BankDownloadError(`${url}: sha256 ${got} is not the pinned ${expected}; nothing imported`);
    return await importBank(store, tmp, { ...who, source: url });
  } finally {
    rmSync(tmp, { force: true });
  }
}
