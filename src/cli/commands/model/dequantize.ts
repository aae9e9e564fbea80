// `patchline model dequantize`: the float rebuild of an int8 backbone (e.g. the zoo MobileNetV2),
// so it can be measured against, or quantized again by `model quantize` for another target.
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../../io/atomic-file.js';
import { derivedSpec, preparedBackbonePath, sha256 } from '../../../model/backbone.js';
import { dequantizeGraph } from '../../../model/dequantize-graph.js';
import { QuantizationError } from '../../../model/quantize-graph.js';
import { optionalString, parseCommand, UsageError, type CommandSpec } from '../../args.js';
import { backboneArg, listOption, MODEL_DIR_OPTION, onnxOutOption } from '../../common-options.js';

export const modelDequantizeCommand: CommandSpec = {
  name: 'model dequantize',
  summary: 'rebuild an int8 backbone in float32 (dequantized weights, output ranges kept as Clip), with its spec',
  usage: ['patchline model dequantize SPEC_OR_ONNX --out OUT.onnx [--layers a,b] [--model-dir DIR]'],
  positional: 'model',
  options: {
    out: { type: 'string', value: 'OUT.onnx', help: 'float graph to write; its backbone spec is written beside it as OUT.json' },
    layers: { type: 'string', value: 'a,b', help: "layers the rebuild provides (default: every layer of the backbone's spec)" },
    'model-dir': MODEL_DIR_OPTION,
  },
  notes: 'The rebuild computes what the int8 graph computes, without its rounding.',
};

export async function runModelDequantize(argv: string[]): Promise<void> {
  const cmd = modelDequantizeCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const model = optionalString(v, 'model');
  if (!model) throw new UsageError('patchline model dequantize: SPEC_OR_ONNX is required');
  const out = onnxOutOption(cmd, v);
  const backbone = backboneArg(cmd, v, model);
  const layers = listOption(v, 'layers') ?? Object.keys(backbone.spec.layers);
  if (layers.length === 0)
    throw new UsageError('patchline model dequantize: --layers is required for a bare .onnx backbone (graph tensor names)');
  let bytes: Uint8Array;
  try {
    bytes = dequantizeGraph(readFileSync(preparedBackbonePath(backbone, layers).path));
  } catch (e) {
    if (e instanceof QuantizationError) throw new UsageError(`patchline model dequantize: ${backbone.onnxPath}: ${e.message}`);
    throw e;
  }
  writeFileAtomic(out, [bytes]);
  const specPath = join(dirname(out), `${basename(out, '.onnx')}.json`);
  const spec = derivedSpec(backbone, layers, {
    suffix: 'fp32',
    onnxFile: basename(out),
    sha256: sha256(bytes),
    about: { rebuild: 'patchline model dequantize' },
  });
  spec.defaultLayers = backbone.spec.defaultLayers.filter((l) => layers.includes(l));
  if (spec.defaultLayers.length === 0) spec.defaultLayers = layers;
  writeFileAtomic(specPath, `${JSON.stringify(spec, null, 2)}\n`);
  process.stdout.write(`wrote ${out} (${(bytes.length / 2 ** 20).toFixed(1)} MB, float32, layers ${layers.join(', ')}) and ${specPath}\n`);
}
