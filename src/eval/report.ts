// The human side of `patchline eval`: a Markdown report with the metrics, the per-defect table
// and heat-map overlays of the worst misses, so an engineer sees what the model gets wrong.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { readImage } from '../preprocess/decode.js';
import { loadOpenCV } from '../preprocess/opencv.js';
import { applyResizePolicy, type ResizePolicy } from '../preprocess/transform.js';
import { overlay } from '../imaging/overlay.js';
import type { EvalReport, ScoredSample } from './evaluate.js';

async function writeOverlay(path: string, sample: ScoredSample, policy: ResizePolicy, threshold: number): Promise<void> {
  const cv = await loadOpenCV();
  const img = applyResizePolicy(await readImage(sample.path, 'rgb'), policy);
  const o = await overlay(img, sample.map, threshold, sample.mask);
  cv.imwrite(path, o.resize(img.height * 2, img.width * 2, 0, 0, cv.INTER_NEAREST));
}

function fmt(v: number | null | undefined, digits = 4): string {
  return v === null || v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(digits);
}

/** How many defect images the pixel metrics cover. */
export function maskNote(report: Pick<EvalReport, 'counts'>): string {
  const { defective, defective_with_masks: masked } = report.counts;
  if (defective === 0 || masked === defective) return '';
  return masked === 0
    ? 'No defect image has a ground-truth mask (labelled at image level): pixel metrics are n/a.'
    : `Pixel metrics cover the good images and the ${masked} of ${defective} defect images that have a mask; the other ${defective - masked} are labelled at image level.`;
}

/** Pixel metrics: 'n/a: no masks' when no defect image has a ground-truth mask. */
function pixel(v: number | null): string {
  return v === null ? 'n/a: no masks' : fmt(v);
}

/** Worst misses: defects scored lowest and good images scored highest (relative to the threshold when known). */
export function worstMisses(scored: ScoredSample[], threshold: number | null, count: number): ScoredSample[] {
  const defects = scored.filter((s) => s.label === 1 && (threshold === null || s.score < threshold)).sort((a, b) => a.score - b.score);
  const goods = scored.filter((s) => s.label === 0 && (threshold === null || s.score >= threshold)).sort((a, b) => b.score - a.score);
  const out: ScoredSample[] = [];
  for (let i = 0; out.length < count && (i < defects.length || i < goods.length); i++) {
    if (defects[i]) out.push(defects[i]!);
    if (goods[i] && out.length < count) out.push(goods[i]!);
  }
  return out;
}

export async function writeMarkdownReport(
  mdPath: string,
  report: EvalReport,
  scored: ScoredSample[],
  policy: ResizePolicy,
  dataDir: string,
  misses = 8,
): Promise<void> {
  const overlayDir = join(dirname(mdPath), `${basename(mdPath, '.md')}-overlays`);
  mkdirSync(overlayDir, { recursive: true });
  const worst = worstMisses(scored, report.threshold, misses);
  const lines = [
    `# patchline evaluation: ${dataDir}`,
    '',
    `Bank: \`${report.bank.path}\` (${report.bank.backbone}, layers ${report.bank.layers.join(', ')}, ${report.bank.rows} rows, k=${report.bank.k}).`,
    `${report.counts.images} images (${report.counts.good} good, ${report.counts.defective} defective), ${report.timing.ms_per_image.toFixed(1)} ms per image.`,
    maskNote(report),
    '',
    '| metric | value |',
    '|---|---|',
    `| image AUROC | ${fmt(report.image_auroc)} |`,
    `| pixel AUROC (all images) | ${pixel(report.pixel_auroc)} |`,
    `| pixel AUROC (defective images only) | ${pixel(report.pixel_auroc_anomalous)} |`,
    `| AUPRO (FPR ≤ ${report.aupro_fpr_limit}) | ${pixel(report.aupro)} |`,
    `| threshold | ${fmt(report.threshold, 3)} |`,
    `| F1 / precision / recall at the threshold | ${fmt(report.f1, 3)} / ${fmt(report.precision, 3)} / ${fmt(report.recall, 3)} |`,
    '',
    '## Per defect type',
    '',
    '| defect | images | image AUROC | pixel AUROC | detected at threshold |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(report.per_defect).map(
      ([d, b]) =>
        `| ${d} | ${b.images} | ${fmt(b.image_auroc)} | ${pixel(b.pixel_auroc)} | ${b.detected === null || b.recall === null ? 'n/a' : `${b.detected} (${(100 * b.recall).toFixed(0)} %)`} |`,
    ),
    '',
    `## Worst misses`,
    '',
    report.threshold === null
      ? 'No threshold in the bank: lowest-scored defects and highest-scored good images.'
      : 'Defects scored below the threshold and good images scored above it. Colour: the anomaly map (green-yellow at the threshold, red above); white outline: ground truth.',
    '',
  ];
  for (const [i, s] of worst.entries()) {
    const file = join(overlayDir, `${String(i).padStart(2, '0')}-${s.defect}-${basename(s.path).replace(/\.[^.]+$/, '')}.png`);
    await writeOverlay(file, s, policy, report.threshold ?? NaN);
    const kind =
      report.threshold === null
        ? s.label
          ? 'lowest-scored defect'
          : 'highest-scored good image'
        : s.label
          ? 'missed defect'
          : 'false alarm';
    lines.push(
      `### ${kind}: ${relative(dataDir, s.path)} (score ${s.score.toFixed(3)})`,
      '',
      `![${basename(s.path)}](${relative(dirname(mdPath), file)})`,
      '',
    );
  }
  if (worst.length === 0) lines.push('None: every image is on the right side of the threshold.');
  writeFileSync(mdPath, `${lines.join('\n')}\n`);
}
