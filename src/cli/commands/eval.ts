// `patchline eval`: metrics of a bank on a labelled folder, as JSON and a Markdown report.
import { writeFileSync } from 'node:fs';
import { testSamples } from '../../io/dataset.js';
import { InferenceRuntime } from '../../model/inference-runtime.js';
import { readBank } from '../../patchcore/bank-file.js';
import { bankBackbone, PatchCore } from '../../patchcore/patchcore.js';
import { computeMetrics, scoreSamples, type EvalReport } from '../../eval/evaluate.js';
import { maskNote, writeMarkdownReport } from '../../eval/report.js';
import { intOption, optionalString, parseCommand, requireString, UsageError, type CommandSpec } from '../args.js';
import { MODEL_DIR_OPTION } from '../common-options.js';
import { progress } from '../progress.js';

export const evalCommand: CommandSpec = {
  name: 'eval',
  summary: 'image AUROC, pixel AUROC, AUPRO and F1 of a bank on a labelled (MVTec-layout) folder',
  usage: ['patchline eval --bank BANK --data DIR --json REPORT.json [--markdown REPORT.md]'],
  options: {
    bank: { type: 'string', value: 'BANK', help: "bank file from 'patchline fit'" },
    data: { type: 'string', value: 'DIR', help: 'MVTec-layout category (test/ and ground_truth/) or a test folder' },
    json: { type: 'string', value: 'REPORT.json', help: 'metrics as JSON' },
    markdown: { type: 'string', value: 'REPORT.md', help: 'Markdown report with overlays of the worst misses (default: beside the JSON)' },
    misses: { type: 'string', value: 'N', default: '8', help: 'worst misses shown in the report' },
    batch: { type: 'string', value: 'N', default: '8', help: 'images per backbone run' },
    backbone: {
      type: 'string',
      value: 'SPEC_OR_ONNX',
      help: "backbone to use instead of the bank's (must be the same file: sha256 is checked)",
    },
    'model-dir': MODEL_DIR_OPTION,
    threads: { type: 'string', value: 'N', help: 'onnxruntime threads per operator (default: all cores)' },
  },
  notes: 'Pixels count as defective where the transformed mask is exactly 1 (as the reference); soft masks are first binarised at >= 128.',
};

export async function runEval(argv: string[]): Promise<void> {
  const cmd = evalCommand;
  const v = parseCommand(cmd, argv);
  if (!v) return;
  const bankPath = requireString(cmd, v, 'bank');
  const data = requireString(cmd, v, 'data');
  const json = requireString(cmd, v, 'json');
  const markdown = optionalString(v, 'markdown') ?? json.replace(/\.json$/i, '') + '.md';
  let samples;
  try {
    samples = testSamples(data);
  } catch (e) {
    throw new UsageError(`patchline eval: --data: ${(e as Error).message}`);
  }
  let bank;
  try {
    bank = await readBank(bankPath);
  } catch (e) {
    throw new UsageError(`patchline eval: --bank: ${(e as Error).message}`);
  }
  const m = bank.manifest;
  const backbone = bankBackbone(m, { backbone: optionalString(v, 'backbone'), modelDir: optionalString(v, 'model-dir') });
  const threads = v.threads !== undefined ? intOption(cmd, v, 'threads') : undefined;
  const runtime = new InferenceRuntime(threads ? { intraOpThreads: threads } : {});
  try {
    const model = await PatchCore.load(runtime, bank, backbone);
    const t0 = performance.now();
    const bar = progress('eval', samples.length, 'images');
    const scored = await scoreSamples(model, samples, m.input.resize, intOption(cmd, v, 'batch'), (n) => bar.tick(n));
    bar.stop();
    const seconds = (performance.now() - t0) / 1000;
    const threshold = Number.isFinite(m.calibration.threshold) ? m.calibration.threshold : null;
    const report: EvalReport = {
      ...computeMetrics(scored, threshold, m.input.width),
      bank: {
        path: bankPath,
        backbone: m.backbone.name,
        layers: m.backbone.layers.map((l) => l.name),
        rows: m.coreset.rows,
        k: m.scorer.k,
      },
      timing: { seconds, ms_per_image: (1000 * seconds) / samples.length },
    };
    writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    await writeMarkdownReport(markdown, report, scored, m.input.resize, data, intOption(cmd, v, 'misses', 0));
    const f = (x: number | null) => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(4));
    const pixels =
      report.pixel_auroc === null
        ? 'pixel AUROC n/a: no masks'
        : `pixel AUROC ${f(report.pixel_auroc)}  (defective only ${f(report.pixel_auroc_anomalous)})  AUPRO ${f(report.aupro)}`;
    const note = maskNote(report);
    process.stdout.write(
      `image AUROC ${f(report.image_auroc)}  ${pixels}  F1 ${f(report.f1)} at threshold ${f(threshold)}\n${note ? `${note}\n` : ''}` +
        `wrote ${json} and ${markdown}\n`,
    );
    if (report.counts.masks_empty_after_transform > 0) {
      process.stderr.write(
        `warning: ${report.counts.masks_empty_after_transform} defect image(s) have no defect pixel left after the resize/crop policy (the crop cuts the defect off?)\n`,
      );
    }
  } finally {
    await runtime.close();
  }
}
