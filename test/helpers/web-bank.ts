// The demo's bank (fitted on the defect-free synthetic web), for pipeline tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBackbone } from '../../src/model/backbone.js';
import { fitWebBank as fit } from '../../src/demo/web-bank.js';

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
