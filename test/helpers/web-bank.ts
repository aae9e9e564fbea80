// The demo's bank (fitted on the defect-free synthetic web), for pipeline tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { resolveBackbone } from '../../src/model/backbone.js';
import { fitWebBank as fit } from '../../src/demo/web-bank.js';
import { Mosquitto } from './mosquitto.js';

/** `coreset`: share kept (different shares give different banks for reload tests). */
export async function fitWebBank(modelDir: string, coreset = 0.1): Promise<string> {
  const backbone = resolveBackbone('mobilenetv2', modelDir);
  const dir = mkdtempSync(join(tmpdir(), 'patchline-webbank-'));
  return (
    await fit({
      dir,
      backbone,
      backboneRef: 'mobilenetv2',
      layers: backbone.spec.defaultLayers,
      dim: 256,
      coreset,
      lines: 2240,
      threads: 2,
    })
  ).path;
}

/** The demo bank and a mosquitto for the tests of a describe block (call it inside the block). */
export function useWebBankAndBroker(modelDir: string): { bank: string; broker: Mosquitto } {
  const ctx = {} as { bank: string; broker: Mosquitto };
  before(async () => {
    ctx.bank = await fitWebBank(modelDir);
    ctx.broker = await Mosquitto.start();
  });
  after(() => ctx.broker.stop());
  return ctx;
}
