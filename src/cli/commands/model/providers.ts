// `patchline model providers`: which execution providers this onnxruntime has and which of them
// load here, tried on a one-node graph: the check after building onnxruntime for a Jetson.
import { InferenceRuntime } from '../../../model/inference-runtime.js';
import { DataType, encodeModel, GraphBuilder, valueInfo } from '../../../model/onnx-graph.js';
import { bindingInfo, providerConfigs, type ProviderName } from '../../../model/providers.js';
import { parseCommand, UsageError, type CommandSpec } from '../../args.js';

export const modelProvidersCommand: CommandSpec = {
  name: 'model providers',
  summary: 'list the execution providers of this onnxruntime and try each on a tiny graph',
  usage: ['patchline model providers [--providers tensorrt,cuda,cpu]'],
  options: {
    providers: { type: 'string', value: 'LIST', default: 'tensorrt,cuda,cpu', help: 'providers to try, in order of preference' },
  },
  notes: 'Exit 1 when none of the listed accelerators (tensorrt, cuda) loads.',
};

const KNOWN: ProviderName[] = ['tensorrt', 'cuda', 'cpu'];

export async function runModelProviders(argv: string[]): Promise<void> {
  const v = parseCommand(modelProvidersCommand, argv);
  if (!v) return;
  const wanted = String(v.providers)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = wanted.filter((p) => !KNOWN.includes(p as ProviderName));
  if (unknown.length > 0 || wanted.length === 0)
    throw new UsageError(`patchline model providers: --providers takes ${KNOWN.join(', ')}; got '${String(v.providers)}'`);
  const binding = bindingInfo();
  process.stdout.write(
    `onnxruntime-node ${binding.version}; TensorRT options passed to TensorRT: ${binding.tensorrtOptionsForwarded ? 'yes' : 'no (stock binding: fp32, no engine cache)'}\n`,
  );
  const g = new GraphBuilder();
  g.op('Relu', ['x'], {}, 'y');
  const graph = encodeModel(
    g.build({ name: 'probe', inputs: [valueInfo('x', DataType.FLOAT, [4])], outputs: [valueInfo('y', DataType.FLOAT, [4])] }),
  );
  let accelerators = 0;
  for (const p of wanted as ProviderName[]) {
    const runtime = new InferenceRuntime({ intraOpThreads: 1, executionProviders: providerConfigs([p], { fp16: false, workspaceMb: 64 }) });
    try {
      const loaded = await runtime.load('probe', graph.slice());
      const ok = loaded.providers.includes(p);
      if (ok && p !== 'cpu') accelerators++;
      const why = loaded.fallbacks.find((f) => f.provider === p)?.reason;
      process.stdout.write(`  ${p.padEnd(9)} ${ok ? 'loads' : `does not load: ${why ?? 'dropped'}`}\n`);
    } finally {
      await runtime.close();
    }
  }
  if (wanted.some((p) => p !== 'cpu') && accelerators === 0) throw new Error('no accelerator loads: the service would run on the CPU');
}
