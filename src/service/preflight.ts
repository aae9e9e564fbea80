// Everything the service can check before it starts a worker, a port or a connection: each
// problem is reported naming the config key and the file, and nothing is left to clean up.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isLineScan, type Config } from '../config/schema.js';
import { validateGeometry } from '../linescan/web-tiler.js';
import { cameraLayout } from '../pipeline/camera-frames.js';
import type { BankManifest } from '../patchcore/bank-file.js';

export class StartupError extends Error {}

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
}

/** Reads the TLS files and checks they are what their keys say (PEM certificates, a private key). */
export function readTlsFiles(tls: Config['mqtt']['tls']): TlsFiles | undefined {
  if (!tls) return undefined;
  const read = (key: 'ca' | 'cert' | 'key', check: (pem: Buffer) => void): Buffer | undefined => {
    const file = tls[key];
    if (!file) return undefined;
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (e) {
      throw new StartupError(`mqtt.tls.${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      check(pem);
    } catch (e) {
      const what = key === 'key' ? 'a PEM private key' : 'a PEM certificate';
      throw new StartupError(`mqtt.tls.${key}: ${file} is not ${what} (${(e as Error).message.split('\n')[0]})`);
    }
    return pem;
  };
  const certificate = (pem: Buffer) => new X509Certificate(pem);
  return {
    ca: read('ca', certificate),
    cert: read('cert', certificate),
    key: read('key', (pem) => createPrivateKey(pem)),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

const MQTT_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ssl:', 'ws:', 'wss:'];

/** A broker URL mqtt.js can connect to. */
export function checkBrokerUrl(url: string | undefined): void {
  if (url === undefined) return;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StartupError(`mqtt.url: '${url}' is not a URL (e.g. mqtt://broker:1883)`);
  }
  if (!MQTT_SCHEMES.includes(parsed.protocol))
    throw new StartupError(`mqtt.url: '${url}' has scheme ${parsed.protocol}; use one of ${MQTT_SCHEMES.join(' ')}`);
}

/** The source and line-scan geometry against the bank's input size. */
export function checkSource(config: Config, manifest: BankManifest): void {
  const s = config.source;
  if (s.type === 'folder') {
    let isFolder = false;
    try {
      isFolder = statSync(s.path).isDirectory();
    } catch (e) {
      throw new StartupError(`source.path: cannot read folder ${s.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!isFolder) throw new StartupError(`source.path: ${s.path} is not a folder`);
  }
  if (config.cameras.length > 0) {
    checkCameras(config, manifest);
    return;
  }
  const lineScan = isLineScan(config);
  if (lineScan) {
    const { width, height } = manifest.input;
    try {
      validateGeometry({
        webWidth: s.type === 'synthetic-web' ? s.width : width,
        tileWidth: width,
        tileHeight: height,
        overlap: config.linescan.overlap,
      });
    } catch (e) {
      throw new StartupError(`${(e as Error).message} (the bank's tiles are ${width}x${height})`);
    }
  }
}

/** Several cameras: their places on the web, and each camera's width against the bank's tiles. */
function checkCameras(config: Config, manifest: BankManifest): void {
  try {
    cameraLayout(config);
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
  const { width, height } = manifest.input;
  config.cameras.forEach((c, i) => {
    try {
      validateGeometry({ webWidth: c.widthPx, tileWidth: width, tileHeight: height, overlap: config.linescan.overlap });
    } catch (e) {
      throw new StartupError(`cameras[${i}] ('${c.id}'): ${(e as Error).message} (the bank's tiles are ${width}x${height})`);
    }
  });
}
