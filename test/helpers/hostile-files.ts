// Files a plant's watched folder can receive that must not hurt the service: images whose header
// declares far more pixels than they carry (decompression bombs).
import { deflateSync } from 'node:zlib';

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A valid-looking RGB PNG declaring width x height, with a little deflated data (a few rows of zeros). */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const rows = deflateSync(Buffer.alloc(4 * (1 + 3 * width)));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', rows),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A real JPEG whose start-of-frame marker is rewritten to declare width x height. */
export function jpegDeclaring(jpeg: Uint8Array, width: number, height: number): Buffer {
  const b = Buffer.from(jpeg);
  for (let i = 2; i + 9 < b.length;) {
    const marker = b[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xc2) {
      b.writeUInt16BE(height, i + 5);
      b.writeUInt16BE(width, i + 7);
      return b;
    }
    i += 2 + b.readUInt16BE(i + 2);
  }
  throw new Error('no start-of-frame marker');
}

/** A real little-endian TIFF whose first directory is rewritten to declare width x height (LONG values). */
export function tiffDeclaring(tiff: Uint8Array, width: number, height: number): Buffer {
  const b = Buffer.from(tiff);
  if (b[0] !== 0x49) throw new Error('expected a little-endian TIFF');
  const ifd = b.readUInt32LE(4);
  for (let e = 0; e < b.readUInt16LE(ifd); e++) {
    const at = ifd + 2 + e * 12;
    const tag = b.readUInt16LE(at);
    if (tag === 256 || tag === 257) {
      b.writeUInt16LE(4, at + 2);
      b.writeUInt32LE(tag === 256 ? width : height, at + 8);
    }
  }
  return b;
}
