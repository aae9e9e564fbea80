// Several ONNX models run one after another, made into one: each part's outputs feed the later
// parts' inputs of the same name, every other tensor and node name gets the part's prefix so
// parts cannot collide. One graph lets an accelerator (TensorRT) run a whole frame without
// handing tensors back between sessions.
import { decodeModel, onnx, type ModelProto } from './onnx-graph.js';

export interface ModelPart {
  /** Prefix for the part's internal names, e.g. 'backbone/'. */
  prefix: string;
  model: ModelProto | Uint8Array;
}

export class ModelMergeError extends Error {}

/** Default-domain opsets whose operators keep their meaning up to opset 17. */
const MIN_OPSET = 11;
const MAX_OPSET = 17;
/** Operators whose inputs or semantics changed at opset 13 (axes and splits as inputs, softmax axis). */
const CHANGED_AT_13 = new Set(['Squeeze', 'Unsqueeze', 'ReduceSum', 'Split', 'Softmax', 'LogSoftmax', 'Hardmax']);

type Graph = NonNullable<ModelProto['graph']>;

/**
 * Chains `parts` in order. The merged graph's inputs are the first part's; its outputs are
 * `outputs`, each produced by some part. Parts must use default-domain opsets 11-17, and
 * those below 13 none of the operators that changed form at 13, so that every node keeps its
 * meaning under the merged (highest) opset.
 */
export function mergeModels(parts: ModelPart[], outputs: string[], name: string): ModelProto {
  const models = parts.map((p) => (p.model instanceof Uint8Array ? decodeModel(p.model) : p.model));
  const opsets = new Map<string, number>();
  models.forEach((m, i) => {
    for (const o of m.opsetImport ?? []) {
      const domain = o.domain ?? '';
      const version = Number(o.version);
      const changed =
        version < 13 ? (m.graph?.node ?? []).find((n) => (n.domain ?? '') === '' && CHANGED_AT_13.has(n.opType ?? '')) : undefined;
      if (domain === '' && (version < MIN_OPSET || version > MAX_OPSET || changed)) {
        const why = changed ? ` with a ${changed.opType} node, whose form changed at opset 13` : '';
        throw new ModelMergeError(
          `part '${parts[i]!.prefix}' uses ONNX opset ${version}${why}; one graph needs opset ${MIN_OPSET}-${MAX_OPSET} (re-export the backbone, e.g. tools/export_backbone.py --opset 17)`,
        );
      }
      opsets.set(domain, Math.max(opsets.get(domain) ?? 0, version));
    }
  });

  const nodes: Graph['node'] = [];
  const initializers: Graph['initializer'] = [];
  const valueInfos = new Map<string, NonNullable<Graph['output']>[number]>();
  // Tensors visible between parts: produced so far, by their public names.
  const visible = new Set<string>();
  const first = models[0]!.graph!;
  const firstInits = new Set((first.initializer ?? []).map((t) => t.name));
  const inputs = (first.input ?? []).filter((i) => !firstInits.has(i.name));
  for (const i of inputs) visible.add(i.name!);

  models.forEach((m, p) => {
    const g = m.graph;
    if (!g) throw new ModelMergeError(`part '${parts[p]!.prefix}' has no graph`);
    const prefix = parts[p]!.prefix;
    const inits = new Set((g.initializer ?? []).map((t) => t.name!));
    const publicInputs = new Set((g.input ?? []).map((i) => i.name!).filter((n) => !inits.has(n)));
    for (const n of publicInputs) {
      if (!visible.has(n))
        throw new ModelMergeError(`part '${prefix}' needs input '${n}', which no earlier part produces (have: ${[...visible].join(', ')})`);
    }
    const publicOutputs = new Set((g.output ?? []).map((o) => o.name!));
    const rename = (t: string) => (t === '' || publicInputs.has(t) || publicOutputs.has(t) ? t : prefix + t);
    for (const t of g.initializer ?? []) initializers.push(onnx.TensorProto.create({ ...t, name: rename(t.name!) }));
    for (const n of g.node ?? []) {
      if ((n.attribute ?? []).some((a) => a.g || (a.graphs ?? []).length > 0))
        throw new ModelMergeError(`part '${prefix}': node '${n.name}' (${n.opType}) has a subgraph; merging those is not supported`);
      nodes.push(
        onnx.NodeProto.create({
          ...n,
          name: prefix + (n.name || n.output?.[0] || n.opType),
          input: (n.input ?? []).map(rename),
          output: (n.output ?? []).map(rename),
        }),
      );
    }
    for (const o of g.output ?? []) {
      visible.add(o.name!);
      valueInfos.set(o.name!, o);
    }
  });

  for (const o of outputs)
    if (!valueInfos.has(o))
      throw new ModelMergeError(`no part produces output '${o}' (parts' outputs: ${[...valueInfos.keys()].join(', ')})`);
  return onnx.ModelProto.create({
    irVersion: Math.max(...models.map((m) => Number(m.irVersion ?? 8))),
    producerName: 'patchline',
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    graph: { name, node: nodes, initializer: initializers, input: inputs, output: outputs.map((o) => valueInfos.get(o)!) },
  });
}
