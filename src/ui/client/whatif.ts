// What if the threshold were elsewhere? Precision and recall on the reviewed items at a
// threshold chosen with a slider, and the F1-best one; either can be applied to the running
// recipe as a new bank version (token needed).
import type { ReviewSummary } from '../protocol.js';
import { recipeAction, storedToken } from './api.js';
import { byId, clear, h } from './dom.js';

function counts(items: ReviewSummary['items'], t: number) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (const i of items) {
    const flagged = i.score >= t;
    if (i.label === 'defect') flagged ? tp++ : fn++;
    else flagged ? fp++ : tn++;
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : NaN;
  const recall = tp + fn > 0 ? tp / (tp + fn) : NaN;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { tp, fp, fn, tn, precision, recall, f1 };
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : 'n/a');

/** `onApplied` after a threshold became a new active version. */
export function showWhatIf(summary: ReviewSummary, recipes: boolean, onApplied: () => void): void {
  const root = byId('whatif');
  clear(root);
  const { items } = summary;
  const defects = items.filter((i) => i.label === 'defect').length;
  root.append(
    h('h3', {}, 'What if: threshold on the reviewed items'),
    h(
      'p',
      { class: 'hint' },
      `${items.length} reviewed (${defects} defect, ${items.length - defects} false alarm), saved as a labelled folder: ${summary.folder}`,
    ),
  );
  if (items.length === 0) {
    root.append(h('p', { class: 'hint' }, 'Review gallery items to see precision and recall at other thresholds.'));
    return;
  }
  const scores = items.map((i) => i.score);
  const lo = Math.min(summary.threshold, ...scores) * 0.9;
  const hi = Math.max(summary.threshold, ...scores) * 1.1;
  const slider = h('input', {
    type: 'range',
    min: String(lo),
    max: String(hi),
    step: String((hi - lo) / 200),
    value: String(summary.threshold),
    'aria-label': 'threshold',
  });
  const out = h('output', {});
  const best = [...new Set(scores)].map((t) => ({ t, ...counts(items, t) })).sort((a, b) => b.f1 - a.f1 || a.t - b.t)[0]!;
  const update = () => {
    const t = Number(slider.value);
    const c = counts(items, t);
    out.textContent = `threshold ${t.toFixed(2)}: precision ${pct(c.precision)}, recall ${pct(c.recall)} (flagged: ${c.tp} defects, ${c.fp} false alarms; missed: ${c.fn} defects)`;
  };
  slider.addEventListener('input', update);
  update();
  root.append(
    h('label', {}, 'threshold ', slider),
    out,
    h(
      'p',
      { class: 'hint' },
      `running bank: ${summary.threshold.toFixed(2)}; best F1 on these items: ${best.t.toFixed(2)} (precision ${pct(best.precision)}, recall ${pct(best.recall)})`,
    ),
  );
  if (!recipes) return;
  const message = h('span', { class: 'message', role: 'status' });
  const canWrite = storedToken() !== undefined;
  const apply = (label: string, threshold: () => number, note: () => string, attr: string) => {
    const b = h('button', { type: 'button', disabled: !canWrite, title: canWrite ? '' : 'enter the token', [attr]: '' }, label);
    b.addEventListener('click', async () => {
      message.textContent = 'writing a new bank version…';
      try {
        const r = await recipeAction({ action: 'threshold', threshold: threshold(), note: note() });
        message.textContent = 'bank' in r ? `running ${r.bank}` : 'done';
        onApplied();
      } catch (e) {
        message.textContent = (e as Error).message;
      }
    });
    return b;
  };
  root.append(
    h(
      'div',
      { class: 'recipe-tools' },
      apply(
        `Apply F1-best (${best.t.toFixed(2)})`,
        () => best.t,
        () => `F1-best on ${items.length} reviewed items (F1 ${best.f1.toFixed(2)})`,
        'data-apply-best',
      ),
      apply(
        'Apply slider value',
        () => Number(slider.value),
        () => `slider on ${items.length} reviewed items`,
        'data-apply-slider',
      ),
      message,
    ),
  );
}
